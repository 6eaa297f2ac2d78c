"""The content-addressed cache under ``$ZKML_HOME`` (default ``~/.cache/zkml``).

An entry is a directory ``<home>/<kind>/<key>``. It is built in ``<home>/tmp`` and renamed
into place, so an entry is complete or absent. A file lock per entry makes concurrent
builders of the same entry wait for the first one instead of building twice.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ._util import need, publish_dir, store_error


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
        return p if p.is_dir() else None

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
            return publish_dir(tmp, self.path(kind, key)), True
