"""``prove-model cache``: list and prune the cache under ZKML_HOME."""

from __future__ import annotations

import time

import click

from .common import _emit, _json_opt


@click.group("cache")
def cache_group() -> None:
    """The cache under ZKML_HOME: circuits, keys (proving keys can be gigabytes), SRS files, contracts.

    ZKML_CACHE_MAX (e.g. 20G) caps its size: after each new entry, the least recently used entries go first."""


@cache_group.command("list")
@_json_opt
def cache_list(as_json: bool) -> None:
    """Every cache entry: its model's name, kind, size and last use (least recently used first)."""
    from ..support.store import Store

    store = Store()
    entries = store.entries()
    total = sum(e.size for e in entries)
    info = {"root": str(store.root), "bytes": total, "entries": [e.to_json() for e in entries]}
    width = max([len(_name(e)) for e in entries] + [5])
    _emit(
        as_json,
        info,
        [
            f"{store.root}: {len(entries)} entries, {_size(total)}",
            *(
                [f"  {'model':<{width}}  {'kind':<10} {'size':>9}  {'last use':<24} {'what':<36} key"]
                if entries
                else []
            ),
            *[
                f"  {_name(e):<{width}}  {e.kind:<10} {_size(e.size):>9}  {_age(e.last_used):<24} "
                f"{e.detail or '':<36} {e.key[:12]}"
                for e in entries
            ],
        ],
    )


def _name(e) -> str:
    return e.name or "-"


@cache_group.command("prune")
@click.option("--older-than", help="Remove entries not used for this long (e.g. 30d, 12h).")
@click.option("--max-size", help="Then remove the least recently used entries until the cache fits (e.g. 10G, 500M).")
@_json_opt
def cache_prune(older_than: str | None, max_size: str | None, as_json: bool) -> None:
    """Remove cache entries; entries in use by another process are left alone."""
    from ..support.store import Store, parse_age, parse_size

    if not older_than and not max_size:
        raise click.UsageError("give --older-than, --max-size or both")
    removed = Store().prune(
        older_than=parse_age(older_than) if older_than else None, max_bytes=parse_size(max_size) if max_size else None
    )
    info = {"removed": [e.to_json() for e in removed], "bytes_freed": sum(e.size for e in removed)}
    _emit(
        as_json,
        info,
        [
            f"removed {len(removed)} entries, {_size(info['bytes_freed'])} freed",
            *[f"  {e.kind:<10} {e.key[:24]}" for e in removed],
        ],
    )


def _size(n: float) -> str:
    """Bytes in decimal units (kB = 10^3, MB = 10^6, GB = 10^9), as every zkml message counts them."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _age(t: float) -> str:
    days = (time.time() - t) / 86400
    return f"used {days:.1f} days ago" if days >= 1 else f"used {days * 24:.1f} hours ago"
