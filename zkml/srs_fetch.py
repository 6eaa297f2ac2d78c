"""The download behind ``zkml.srs.fetch``: a Perpetual Powers of Tau SRS file (ezkl's raw format), kept only if its
sha256 is the one expected (``zkml.srs.fetch`` takes it from ``srs_ceremonies.json``, copied from ezkl's
``PUBLIC_SRS_SHA256_HASHES``). Imports go one way: ``zkml.srs`` -> this module -> ``zkml.srs_format``.

The file is streamed into a private temp file beside its destination and renamed into place only once its
digest matches; otherwise it is deleted and ``SRSError`` says so. Nothing half-downloaded is ever left behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import SRSError
from .srs_format import _G1, _G2, DEV_MARKER, SRS_FILE, SRSInfo, srs_logrows
from .support.files import store_error
from .support.store import Store

# ezkl's PUBLIC_SRS_URL (src/pfsys/srs.rs) is this base + "perpetual-powers-of-tau-raw-" + k
DEFAULT_BASE_URL = "https://trusted-setup-halo2kzg.s3.eu-central-1.amazonaws.com"
CHUNK = 1 << 20


def srs_url(logrows: int, url: str | None = None) -> str:
    """Where the ceremony file for ``logrows`` is downloaded from: ``url`` or ``$ZKML_SRS_URL`` (a base URL, the file
    name is appended; or a pattern with ``{k}`` / ``{name}``), default the public location ezkl uses."""
    base = url or os.environ.get("ZKML_SRS_URL") or DEFAULT_BASE_URL
    name = f"perpetual-powers-of-tau-raw-{logrows}"
    if "{k}" in base or "{name}" in base:
        return base.format(k=logrows, name=name)
    return base.rstrip("/") + "/" + name


def download(
    logrows: int,
    path: str | os.PathLike | None,
    url: str | None,
    name: str,
    want: str,
    progress: Callable[[int, int | None], None],
):
    """Download ``name`` from ``srs_url(logrows, url)`` to ``path`` (a file or a directory; default the SRS cache),
    kept only if its sha256 is ``want``: the ``SRSInfo`` of the file."""
    src = srs_url(logrows, url)
    if path is None:
        store = Store()

        def build(d: Path) -> None:
            _download(src, d / SRS_FILE, want, logrows, name, progress)
            (d / "kzg.sha256").write_text(want)

        entry, _ = store.get_or_build("srs", f"user-{want[:40]}", build)  # the key ceremony_srs() uses for this file
        dest = entry / SRS_FILE
    else:
        dest = Path(path)
        if dest.is_dir():
            dest = dest / name
        _download(src, dest, want, logrows, name, progress)
    return SRSInfo(path=dest, sha256=want, logrows=logrows, dev=False, pinned=True)


def _download(
    src: str, dest: Path, want: str, logrows: int, name: str, progress: Callable[[int, int | None], None] | None
) -> None:
    size = 4 + 2 * (1 << logrows) * _G1 + 2 * _G2  # the raw format's exact length: more is refused mid-stream
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)  # 0600
    except OSError as err:
        raise store_error(err, dest, stage="srs") from err
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            try:
                req = urllib.request.Request(src, headers={"User-Agent": "zkml"})
                with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (http(s) URL chosen by the user)
                    total = resp.headers.get("Content-Length")
                    total = int(total) if total and total.isdigit() else None
                    if progress is not None:
                        progress(0, total)
                    while True:
                        chunk = resp.read(CHUNK)
                        if not chunk:
                            break
                        done += len(chunk)
                        if done > size:
                            raise SRSError(
                                f"the download of {name} is over the {size} bytes of a 2^{logrows} SRS: it was deleted",
                                where=src,
                                hint="check ZKML_SRS_URL: it serves another file",
                            )
                        digest.update(chunk)
                        out.write(chunk)
                        if progress is not None:
                            progress(done, total)
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise SRSError(
                    f"cannot download {name}: {getattr(err, 'reason', None) or err}",
                    where=src,
                    hint="check the network, or set ZKML_SRS_URL to a mirror (or download the file "
                    "yourself and pass it with --srs and its published --srs-sha256)",
                ) from err
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != want:
            raise SRSError(
                f"the downloaded {name} has sha256 {got}, not its published {want}: it was deleted",
                where=src,
                hint="the server or the network altered the file; try again or another mirror (ZKML_SRS_URL)",
            )
        if srs_logrows(tmp) != logrows:
            raise SRSError(
                f"the downloaded {name} is not a 2^{logrows} SRS: it was deleted",
                where=src,
                hint="the digest table and the file disagree: reinstall zkml",
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        Path(str(dest) + DEV_MARKER).unlink()  # a ceremony file now: a dev marker left from an older file is stale
