"""The content-addressed cache under ``$ZKML_HOME`` (default ``~/.cache/zkml``).

An entry is a directory ``<home>/<kind>/<key>``. It is built in ``<home>/tmp`` and renamed
into place, so an entry is complete or absent. A file lock per entry makes concurrent
builders of the same entry wait for the first one instead of building twice.

Entries can be listed and pruned (``prove-model cache``); ``$ZKML_CACHE_MAX`` (e.g. ``20G``) caps the
cache: after each new entry, the least recently used others go until it fits. An entry's last use is
its directory's mtime, touched on every hit. ``cache list`` says what each entry is: the model's name (the file
name it was loaded under, kept in ``<home>/names`` by its sha256; a zoo model's folder name), its kind and size.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import StoreError
from .deps import need
from .files import atomic_write_text, publish_dir, store_error


def zkml_home() -> Path:
    env = os.environ.get("ZKML_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zkml"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """One cache root. ``Store()`` uses ``$ZKML_HOME`` as it is when called."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else zkml_home()

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def get(self, kind: str, key: str) -> Path | None:
        p = self.path(kind, key)
        if not p.is_dir():
            return None
        with contextlib.suppress(OSError):  # last use, for pruning; a read-only cache still serves
            os.utime(p)
        self._lease(kind, key, p)
        return p

    def _lease(self, kind: str, key: str, entry: Path) -> None:
        """Mark ``entry`` as in use by this process: pruning (here or in another process) leaves it alone
        while this process lives."""
        if entry in _IN_USE:
            return
        _IN_USE.add(entry)
        with contextlib.suppress(OSError):  # a read-only cache cannot be pruned by us either
            (self.root / "leases").mkdir(parents=True, exist_ok=True)
            (self.root / "leases" / f"{kind}-{key}.{os.getpid()}").touch()

    def _leased(self, kind: str, key: str) -> bool:
        """Whether a live process holds ``kind/key`` (leases of dead processes are removed on the way)."""
        held = False
        for lease in (self.root / "leases").glob(f"{kind}-{key}.*") if (self.root / "leases").is_dir() else ():
            try:
                pid = int(lease.suffix[1:])
            except ValueError:
                continue
            if pid != os.getpid() and _pid_alive(pid):
                held = True
            elif pid != os.getpid():
                with contextlib.suppress(OSError):
                    lease.unlink()
        return held

    def _mkdirs(self) -> None:
        for sub in ("tmp", "locks"):
            try:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise store_error(err, self.root) from err

    def _sweep_tmp(self) -> None:
        """Remove build dirs left by processes that died (e.g. SIGKILL mid-compile)."""
        tmp = self.root / "tmp"
        for d in tmp.iterdir() if tmp.is_dir() else ():
            try:
                pid = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)

    def get_or_build(self, kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return ``(entry_dir, built)``; ``build(tmpdir)`` fills a fresh dir when the entry is absent."""
        found = self.get(kind, key)
        if found is not None:
            return found, False
        self._mkdirs()
        filelock = need("filelock")
        with filelock.FileLock(str(self.root / "locks" / f"{kind}-{key}.lock")):
            found = self.get(kind, key)  # someone else built it while we waited
            if found is not None:
                return found, False
            self._sweep_tmp()
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=self.root / "tmp"))
            except OSError as err:
                raise store_error(err, self.root / "tmp") from err
            try:
                build(tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o755)
            entry = publish_dir(tmp, self.path(kind, key))
        self._lease(kind, key, entry)
        cap = os.environ.get("ZKML_CACHE_MAX")
        if cap:  # never what this process is using (its circuit, keys and SRS): least recently used others first
            self.prune(max_bytes=parse_size(cap), keep=set(_IN_USE))
        return entry, True

    # listing and pruning
    def entries(self) -> list["Entry"]:
        """Every entry, least recently used first."""
        out = []
        for kind in KINDS:
            d = self.root / kind
            for e in d.iterdir() if d.is_dir() else ():
                if e.is_dir():
                    with contextlib.suppress(OSError):
                        out.append(Entry(kind, e.name, e, _du(e), e.stat().st_mtime, *self._describe(kind, e)))
        return sorted(out, key=lambda e: e.last_used)

    # what an entry is, for `cache list` (names and sizes only: nothing of any input)
    def remember_model_name(self, sha256: str, name: str) -> None:
        """Record the name a model (by its ONNX sha256) was loaded under. Best effort: a read-only cache only
        loses the name in ``cache list``."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not name:
            return
        target = self.root / "names" / sha256
        with contextlib.suppress(OSError, StoreError):
            if not target.is_file() or target.read_text() != name:
                atomic_write_text(target, name[:200])

    def model_name(self, sha256: str | None) -> str | None:
        if not sha256 or not re.fullmatch(r"[0-9a-f]{64}", sha256):
            return None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return (self.root / "names" / sha256).read_text().strip() or None
        return None

    def _describe(self, kind: str, entry: Path) -> tuple[str | None, str | None]:
        """(model name, what the entry holds) from the entry's own files; (None, None) when it says nothing."""

        def meta(path: Path) -> dict:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}

        def model_of(circuit_dir: Path) -> tuple[str | None, str]:
            model = meta(circuit_dir / "circuit.json").get("model") or {}
            source = model.get("source") if isinstance(model, dict) else None
            name = self.model_name(model.get("sha256") if isinstance(model, dict) else None)
            logrows = (meta(circuit_dir / "settings.json").get("run_args") or {}).get("logrows")
            return name or (source if source and source != "onnx" else None), f"2^{logrows} rows" if logrows else ""

        if kind == "circuits":
            name, rows = model_of(entry)
            return name, " ".join(x for x in ("circuit", rows) if x)
        if kind == "keys":
            name, rows = model_of(entry / "circuit")
            return name, " ".join(x for x in ("proving + verifying key", rows) if x)
        if kind == "models":
            return self.model_name(meta(entry / "parsed.json").get("sha256")), "parsed ONNX model"
        if kind == "srs":
            m = re.fullmatch(r"dev-k(\d+)", entry.name)
            return None, f"dev SRS (INSECURE), 2^{m.group(1)}" if m else "SRS"
        return None, {
            "tune": "settings search",
            "contracts": "verifier contract",
            "bundles": "bundle",
            "page-script": "verifier page script",
        }.get(kind)

    def prune(
        self, *, older_than: float | None = None, max_bytes: int | None = None, keep: set | None = None
    ) -> list["Entry"]:
        """Remove entries unused for ``older_than`` seconds, then the least recently used until the cache holds
        at most ``max_bytes``. Each removal holds the entry's build lock and renames it away first, so a reader
        sees a complete entry or none; ``keep`` entries stay."""
        keep = keep or set()
        entries = [e for e in self.entries() if e.path not in keep]
        total = sum(e.size for e in self.entries())
        removed = []
        now = time.time()
        for e in entries:
            old = older_than is not None and now - e.last_used > older_than
            over = max_bytes is not None and total > max_bytes
            if not (old or over) or self._leased(e.kind, e.key):  # in use by a live process: left alone
                continue
            if self._remove(e):
                removed.append(e)
                total -= e.size
        return removed

    def _remove(self, e: "Entry") -> bool:
        self._mkdirs()
        filelock = need("filelock")
        try:
            with filelock.FileLock(str(self.root / "locks" / f"{e.kind}-{e.key}.lock"), timeout=0):
                gone = Path(tempfile.mkdtemp(prefix=f"pruned-{os.getpid()}-", dir=self.root / "tmp"))
                os.rename(e.path, gone / e.key)
                shutil.rmtree(gone, ignore_errors=True)
                return True
        except filelock.Timeout:  # being built or pruned by another process right now
            return False
        except OSError as err:
            raise store_error(err, e.path) from err


KINDS = ("models", "circuits", "tune", "srs", "keys", "contracts", "bundles", "page-script", "breakdown")
_IN_USE: set[Path] = set()  # entries this process got or built: the automatic cap leaves them alone


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    path: Path
    size: int
    last_used: float
    name: str | None = None  # the model's name, when known
    detail: str | None = None  # what the entry holds (circuit 2^k rows, keys, dev SRS 2^k, ...)

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.key,
            "path": str(self.path),
            "bytes": self.size,
            "last_used": self.last_used,
            "name": self.name,
            "detail": self.detail,
        }


def _du(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_size(text: str) -> int:
    """``500M``, ``20G``, ``1.5T`` or a byte count."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([BKMGT]?)(?:I?B)?\s*", str(text).upper())
    if not m:
        raise StoreError(
            f"cannot read the size {text!r}",
            where="ZKML_CACHE_MAX / --max-size",
            hint="write a number with an optional unit: 500M, 20G",
        )
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m`` or seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text).lower())
    if not m:
        raise StoreError(
            f"cannot read the age {text!r}", where="--older-than", hint="write a number with a unit: 30d, 12h"
        )
    return float(m.group(1)) * _AGES[m.group(2) or "s"]
