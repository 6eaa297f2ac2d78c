"""Structured reference strings: a cached dev SRS (insecure) or a user's ceremony SRS (checked).

ezkl writes halo2's ``ParamsKZG`` in raw form: ``k`` (u32 LE), ``2^k`` G1 points in monomial
form, ``2^k`` in Lagrange form, then ``[1]_2`` and ``[tau]_2``. Field elements are 32-byte
little-endian Montgomery limbs; a G1 point is (x, y), a G2 point (x.c0, x.c1, y.c0, y.c1).
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from ._store import Store
from ._util import need, sha256_file
from .errors import SRSError

_G1 = 64
_G2 = 128
_P = 21888242871839275222246405745257275088696311157297823662689037894645226208583
_RINV = pow(pow(2, 256, _P), -1, _P)
SRS_FILE = "kzg.srs"
MAX_LOGROWS = 26


@dataclass(frozen=True)
class SRSInfo:
    """Which SRS a key was made with. ``dev=True`` means generated here: INSECURE."""

    path: Path
    sha256: str
    logrows: int
    dev: bool

    def describe(self) -> str:
        kind = "INSECURE dev SRS (generated locally)" if self.dev else "ceremony SRS"
        return f"{kind}, 2^{self.logrows}, sha256 {self.sha256[:16]}"

    def to_json(self) -> dict:
        return {"sha256": self.sha256, "logrows": self.logrows, "dev": self.dev}


def srs_logrows(path: Path) -> int:
    """Read and sanity-check the header and size of an SRS file; return its k."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4)
    except FileNotFoundError as err:
        raise SRSError("SRS file not found", where=path, hint="pass the path of a ceremony SRS file, or omit srs= for a dev SRS") from err
    except OSError as err:
        raise SRSError(f"cannot read SRS file: {err}", where=path, hint="check the file's permissions") from err
    if len(head) < 4:
        raise SRSError("SRS file is empty or truncated", where=path, hint="download or copy the SRS file again")
    (k,) = struct.unpack("<I", head)
    if not 1 <= k <= MAX_LOGROWS:
        raise SRSError(f"SRS header says 2^{k} points, which is not a valid KZG SRS", where=path,
                       hint="this is not an ezkl/halo2 KZG SRS file (raw format)")
    expected = 4 + 2 * (1 << k) * _G1 + 2 * _G2
    if size != expected:
        raise SRSError(f"SRS file has {size} bytes but 2^{k} points need {expected}: it is truncated or corrupt",
                       where=path, hint="copy the SRS file again and check its hash against the ceremony's")
    return k


def _fq(b: bytes) -> int:
    v = int.from_bytes(b, "little")
    if v >= _P:
        raise ValueError("field element out of range")
    return v * _RINV % _P


def _read_g1(f, index_offset: int):
    ob = need("py_ecc.optimized_bn128")
    f.seek(index_offset)
    raw = f.read(_G1)
    x, y = _fq(raw[:32]), _fq(raw[32:])
    pt = (ob.FQ(x), ob.FQ(y), ob.FQ.one())
    if not ob.is_on_curve(pt, ob.b):
        raise ValueError(f"G1 point at byte {index_offset} is not on BN254")
    return pt


def _read_g2(f, offset: int):
    ob = need("py_ecc.optimized_bn128")
    f.seek(offset)
    raw = f.read(_G2)
    c = [_fq(raw[i : i + 32]) for i in range(0, 128, 32)]
    pt = (ob.FQ2([c[0], c[1]]), ob.FQ2([c[2], c[3]]), ob.FQ2.one())
    if not ob.is_on_curve(pt, ob.b2):
        raise ValueError(f"G2 point at byte {offset} is not on the BN254 twist")
    return pt


def check_srs(path: str | os.PathLike, min_logrows: int = 1, samples: int = 8) -> int:
    """Check an SRS with py_ecc pairings on sampled powers; return its k.

    For sampled i, e([tau^i]_1, [tau]_2) = e([tau^(i+1)]_1, [1]_2). The samples are folded into
    one random linear combination, so the check costs two pairings whatever ``samples`` is.
    """
    path = Path(path)
    k = srs_logrows(path)
    if k < min_logrows:
        raise SRSError(f"SRS has 2^{k} points but the circuit needs 2^{min_logrows}", where=path,
                       hint=f"use an SRS with logrows >= {min_logrows} (e.g. a larger ceremony file)")
    ob = need("py_ecc.optimized_bn128")
    n = 1 << k
    g2_off = 4 + 2 * n * _G1
    try:
        with open(path, "rb") as f:
            g0 = _read_g1(f, 4)
            if not ob.eq(g0, ob.G1):
                raise ValueError("the first G1 point is not the generator")
            g2 = _read_g2(f, g2_off)
            s_g2 = _read_g2(f, g2_off + _G2)
            if not ob.eq(g2, ob.G2):
                raise ValueError("[1]_2 is not the G2 generator")
            idx = sorted({0, n - 2, *(secrets.randbelow(n - 1) for _ in range(samples))})
            lhs, rhs = ob.Z1, ob.Z1
            for i in idx:
                r = secrets.randbelow(ob.curve_order - 1) + 1
                lhs = ob.add(lhs, ob.multiply(_read_g1(f, 4 + i * _G1), r))
                rhs = ob.add(rhs, ob.multiply(_read_g1(f, 4 + (i + 1) * _G1), r))
                _read_g1(f, 4 + (n + i) * _G1)  # Lagrange-basis points must be on the curve too
    except ValueError as err:
        raise SRSError(f"SRS is corrupt: {err}", where=path, hint="copy the SRS file again and check its hash") from err
    if ob.final_exponentiate(ob.pairing(s_g2, lhs, final_exponentiate=False)) != ob.final_exponentiate(
        ob.pairing(g2, rhs, final_exponentiate=False)
    ):
        raise SRSError("SRS fails the pairing check e([t^i]1,[t]2) = e([t^(i+1)]1,[1]2): powers are inconsistent",
                       where=path, hint="the file is corrupt or not a KZG SRS; use the ceremony's original file")
    return k


def dev_srs(logrows: int, store: Store | None = None) -> SRSInfo:
    """A locally generated (INSECURE) SRS for ``logrows``, generated once and cached."""
    store = store or Store()

    def build(d: Path) -> None:
        ezkl = need("ezkl")
        try:
            ezkl.gen_srs(str(d / SRS_FILE), logrows)
        except Exception as err:
            raise SRSError(f"ezkl.gen_srs failed: {err}", where=d / SRS_FILE, hint="check disk space") from err
        (d / "kzg.sha256").write_text(sha256_file(d / SRS_FILE))

    entry, _ = store.get_or_build("srs", f"dev-k{logrows}", build)
    p = entry / SRS_FILE
    return SRSInfo(path=p, sha256=(entry / "kzg.sha256").read_text().strip(), logrows=logrows, dev=True)


def ceremony_srs(path: str | os.PathLike, min_logrows: int, store: Store | None = None) -> SRSInfo:
    """Check a user-supplied SRS and import it into the cache (by content hash)."""
    store = store or Store()
    src = Path(path)
    k = check_srs(src, min_logrows)
    digest = sha256_file(src)

    def build(d: Path) -> None:
        shutil.copyfile(src, d / SRS_FILE)
        (d / "kzg.sha256").write_text(digest)

    entry, _ = store.get_or_build("srs", f"ceremony-{digest[:40]}", build)
    return SRSInfo(path=entry / SRS_FILE, sha256=digest, logrows=k, dev=False)
