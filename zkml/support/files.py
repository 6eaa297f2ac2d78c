"""Files: atomic writes, whole-directory publishing, private temp dirs, JSON reading."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import StoreError

ZKML_FORMAT = 3  # bump when the layout of saved artifacts changes (3: keys carry an identity, proofs decode from it, circuit files hashed)


def store_error(err: OSError, path: str | os.PathLike, stage: str = "store") -> StoreError:
    """Turn an OSError from writing into a StoreError that says what to do."""
    if err.errno == errno.ENOSPC:
        hint = "free disk space or point ZKML_HOME (or the output path) at a larger disk"
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "make the directory writable, or point ZKML_HOME (or the output path) at a writable one"
    else:
        hint = "check that the path (ZKML_HOME or the output path) is a writable directory with free space"
    return StoreError(f"cannot write: {err.strerror or err}", stage=stage, where=path, hint=hint)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to a temp file beside ``path`` and rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise store_error(err, path) from err
    return path


def atomic_write_text(path: str | os.PathLike, text: str, mode: int = 0o644) -> Path:
    return atomic_write_bytes(path, text.encode(), mode)


def publish_dir(build: Path, dest: Path) -> Path:
    """Move a fully built directory into place atomically.

    If ``dest`` already exists, the existing complete entry wins (another process built
    the same content) and ``build`` is removed.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(build, dest)
    except OSError as err:
        if dest.exists() and err.errno in (errno.EEXIST, errno.ENOTEMPTY):
            shutil.rmtree(build, ignore_errors=True)
            return dest
        shutil.rmtree(build, ignore_errors=True)
        raise store_error(err, dest) from err
    return dest


def save_dir(src: Path, dest: str | os.PathLike, names: list[str] | None = None) -> Path:
    """Copy an artifact directory to ``dest`` without ever leaving a half-written one.

    The copy is built in a sibling temp dir and renamed in; an existing ``dest`` is only
    replaced once the new copy is complete.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            for name in names if names is not None else sorted(os.listdir(src)):
                s = src / name
                if s.is_dir():
                    shutil.copytree(s, tmp / name)
                else:
                    shutil.copy2(s, tmp / name)
            os.chmod(tmp, 0o755)
            if dest.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
                os.rename(dest, old / "x")
                os.rename(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as err:
        raise store_error(err, dest) from err
    return dest


PRIVATE_PREFIX = "zkml-private-"


def _sweep_private_dirs() -> None:
    """Remove private temp dirs of processes that died without cleaning up (SIGKILL, OOM)."""
    base = Path(tempfile.gettempdir())
    for d in base.glob(PRIVATE_PREFIX + "*"):
        try:
            pid = int(d.name[len(PRIVATE_PREFIX) :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """A 0700 temp directory for files that hold private data; removed on exit, also on error.

    Its name carries the PID, so a later call removes what a killed process left behind.
    """
    _sweep_private_dirs()
    d = Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-"))
    os.chmod(d, 0o700)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def write_private_json(path: Path, obj: Any) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
    return path


def read_json(path: str | os.PathLike, *, error_cls: type, stage: str, hint: str) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError as err:
        raise error_cls("file not found", stage=stage, where=path, hint=hint) from err
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise error_cls(f"not a readable JSON file ({err})", stage=stage, where=path, hint=hint) from err
