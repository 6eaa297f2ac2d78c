"""The SRS file format: what ``zkml.srs`` and ``zkml.srs_fetch`` both need.

ezkl writes halo2's ``ParamsKZG`` in raw form: ``k`` (u32 LE), ``2^k`` G1 points in monomial form, ``2^k`` in
Lagrange form, then ``[1]_2`` and ``[tau]_2``. This module sits below both users, so that imports go one way:
``zkml.srs`` -> ``zkml.srs_fetch`` -> ``zkml.srs_format``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from .errors import SRSError

_G1 = 64
_G2 = 128

SRS_FILE = "kzg.srs"
MAX_LOGROWS = 26

DEV_MARKER = ".zkml-dev"


@dataclass(frozen=True)
class SRSInfo:
    """Which SRS a key was made with. ``dev=True``: generated here, INSECURE. ``pinned``: a ceremony
    SRS whose digest the user pinned or zkml lists; only that kind is accepted for production."""

    path: Path
    sha256: str
    logrows: int
    dev: bool
    pinned: bool = False

    @property
    def kind(self) -> str:
        return "dev" if self.dev else ("ceremony" if self.pinned else "unpinned")

    def describe(self) -> str:
        kind = {
            "dev": "INSECURE dev SRS (generated locally)",
            "ceremony": "ceremony SRS (digest pinned)",
            "unpinned": "user-supplied SRS (digest not pinned: not accepted for production)",
        }[self.kind]
        return f"{kind}, 2^{self.logrows}, sha256 {self.sha256[:16]}"

    def to_json(self) -> dict:
        return {"sha256": self.sha256, "logrows": self.logrows, "dev": self.dev, "pinned": self.pinned}


def srs_logrows(path: Path) -> int:
    """Read and sanity-check the header and size of an SRS file; return its k."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError as err:
        raise SRSError(
            "SRS file not found", where=path, hint="pass the path of a ceremony SRS file, or omit srs= for a dev SRS"
        ) from err
    except OSError as err:
        raise SRSError(f"cannot read SRS file: {err}", where=path, hint="check the file's permissions") from err
    if len(head) < 4:
        raise SRSError("SRS file is empty or truncated", where=path, hint="download or copy the SRS file again")
    (k,) = struct.unpack("<I", head)
    if not 1 <= k <= MAX_LOGROWS:
        raise SRSError(
            f"SRS header says 2^{k} points, which is not a valid KZG SRS",
            where=path,
            hint="this is not an ezkl/halo2 KZG SRS file (raw format)",
        )
    expected = 4 + 2 * (1 << k) * _G1 + 2 * _G2
    if size != expected:
        raise SRSError(
            f"SRS file has {size} bytes but 2^{k} points need {expected}: it is truncated or corrupt",
            where=path,
            hint="copy the SRS file again and check its hash against the ceremony's",
        )
    return k
