"""Content addressing (IPLD): raw blocks of at most 1 MiB and DAG-CBOR nodes, with CIDv1 sha2-256.

A *core* node maps file names to their chunks and carries metadata; its CID identifies the verification
material. ``multiformats`` and ``dag-cbor`` do the encoding.
"""

from __future__ import annotations

from typing import Any, Mapping

from .deps import need

CHUNK = 1 << 20


def cid_str(cid) -> str:
    return cid.encode("base32")


def make_cid(codec: str, data: bytes):
    mf = need("multiformats")
    return mf.CID("base32", 1, codec, mf.multihash.digest(data, "sha2-256"))


def cborable(obj: Any) -> Any:
    """JSON-ish values for DAG-CBOR (no tuples)."""
    if isinstance(obj, Mapping):
        return {str(k): cborable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [cborable(v) for v in obj]
    return obj


class Blocks:
    """Blocks collected while building a DAG: ``put`` returns the CID."""

    def __init__(self):
        self.blocks: dict[str, bytes] = {}

    def put(self, codec: str, data: bytes):
        c = make_cid(codec, data)
        self.blocks[cid_str(c)] = data
        return c

    def files(self, files: Mapping[str, bytes]) -> dict:
        out = {}
        for name in sorted(files):
            data = files[name]
            chunks = [self.put("raw", data[i : i + CHUNK]) for i in range(0, len(data), CHUNK)] or [
                self.put("raw", b"")
            ]
            out[name] = {"size": len(data), "chunks": chunks}
        return out

    def core(self, files: Mapping[str, bytes], meta: Mapping):
        cbor = need("dag_cbor")
        return self.put("dag-cbor", cbor.encode({"files": self.files(files), "metadata": cborable(meta)}))


def core_cid(files: Mapping[str, bytes], meta: Mapping) -> str:
    """The CID of the core node over ``files`` and ``meta``."""
    return cid_str(Blocks().core(files, meta))
