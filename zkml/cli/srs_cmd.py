"""``prove-model srs fetch``: download a ceremony SRS (Perpetual Powers of Tau, ezkl's raw format) checked
against the sha256 zkml ships for it."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator

import click

from .common import _emit, _json_opt


@click.group("srs")
def srs_group() -> None:
    """Ceremony SRS files: download one, checked against the digest zkml ships (ezkl's table, k = 1..26)."""


@contextlib.contextmanager
def _bar(st, name: str) -> Iterator:
    """A progress bar on a terminal's stderr (nothing when quiet, piped, or --json)."""
    if st is None or st.quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _shows_progress(st) -> bool:
    """The CLI's own progress display already renders fetch's byte events on a terminal: no second bar then."""
    return bool(st is not None and getattr(st, "display", None))


@srs_group.command("fetch")
@click.option(
    "-k",
    "--logrows",
    required=True,
    type=click.IntRange(1, 26),
    help="log2 of the SRS's points (the circuit's logrows or more).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Where to write the file (a directory: the ceremony's file name in it) "
    "[default: the zkml SRS cache under ZKML_HOME].",
)
@_json_opt
@click.pass_obj
def srs_fetch(st, logrows: int, output: str | None, as_json: bool) -> None:
    """Download the Perpetual Powers of Tau SRS for 2^LOGROWS points from ezkl's public location ($ZKML_SRS_URL
    overrides the base URL); it is kept only if its sha256 is the published one."""
    from .. import srs

    name = srs.ceremony_files().get(logrows, (f"perpetual-powers-of-tau-raw-{logrows}", None))[0]
    url = srs.srs_url(logrows)
    t0 = time.perf_counter()
    with _bar(None if as_json or _shows_progress(st) else st, name) as progress:
        info = srs.fetch(logrows, output, progress=progress)
    out = {
        "ok": True,
        "path": str(info.path),
        "name": name,
        "logrows": info.logrows,
        "sha256": info.sha256,
        "url": url,
        "srs_status": "ceremony",
        "timings": {"fetch": round(time.perf_counter() - t0, 4)},
    }
    _emit(
        as_json,
        out,
        [
            f"wrote {info.path}: {name}, 2^{info.logrows} points",
            f"  sha256    {info.sha256} (the published digest: checked)",
            f"  use it    prove-model setup CIRCUIT --srs {info.path} --production -o keys/",
        ],
    )
