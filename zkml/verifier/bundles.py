"""Content-addressed model bundles: everything a verifier needs, nothing private, as a CAR file.

Layout (IPLD): every file is split into raw blocks of at most 1 MiB (CIDv1, raw, sha2-256). A
DAG-CBOR *core* node maps file names to their chunks and carries the metadata; the DAG-CBOR *root*
node links the core and, optionally, a contract node. Proofs record the core CID: it identifies the
verification material (model hash, settings, circuit, vk, SRS) whatever contract travels with it.
CIDs, multihashes and varints come from the ``multiformats`` package, DAG-CBOR from ``dag-cbor``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ArtifactError
from ..keys.keys import CORE_FILES, Keys, VerifyingKey, bundle_meta
from ..keys.split import SplitVerifyingKey, split_id
from ..srs import SRS_FILE
from ..support.deps import need
from ..support.files import ZKML_FORMAT, atomic_write_bytes
from ..support.ipld import Blocks, cborable, core_cid
from ..support.ipld import cid_str as _s
from ..support.ipld import make_cid as _cid
from ..support.store import Store
from .verification import as_vk

MAX_CAR_BYTES = 4 << 30


@dataclass(frozen=True, eq=False)
class Bundle:
    """A model's public verification material, addressed by content. ``root`` and ``core`` are CID strings."""

    root: str
    core: str
    files: Mapping[str, bytes] = field(repr=False)
    metadata: Mapping[str, Any] = field(repr=False)
    contract: Mapping[str, Any] | None = field(default=None, repr=False)
    blocks: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    weights_commitment: str | None = None  # committed weights: the published fingerprint this bundle vouches for

    @property
    def dev_srs(self) -> bool:
        return bool(self.metadata["srs"]["dev"])

    def save(self, path: str | os.PathLike) -> Path:
        """Write a CAR v1 file whose single root is ``self.root``."""
        mf, cbor = need("multiformats"), need("dag_cbor")
        root = mf.CID.decode(self.root)
        header = cbor.encode({"roots": [root], "version": 1})
        out = [mf.varint.encode(len(header)), header]
        for cid_s, data in self.blocks.items():
            cid = bytes(mf.CID.decode(cid_s))
            out += [mf.varint.encode(len(cid) + len(data)), cid, data]
        return atomic_write_bytes(path, b"".join(out))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Bundle":
        return _load_car(Path(path))

    @property
    def model_id(self) -> str:
        return str(self.metadata.get("model_id", ""))

    def verifying_key(self) -> VerifyingKey | SplitVerifyingKey:
        """The bundle's verifying key, materialised (once) under $ZKML_HOME/bundles/<core CID> and authenticated."""
        if SRS_FILE not in self.files:
            raise ArtifactError("the bundle carries no SRS file", stage="verify", where=self.root,
                                hint="make the bundle with include_srs=True, or verify with the verifying-key directory")
        if self.metadata.get("kind") == "split":
            return self._split_verifying_key()

        def build(d: Path) -> None:
            for name in (*CORE_FILES, SRS_FILE):
                (d / name).write_bytes(self.files[name])
            (d / "core.cid").write_text(self.core)

        entry, _ = Store().get_or_build("bundles", self.core, build)
        vk = VerifyingKey.load(entry, id=self.model_id or None)
        if bundle_meta(vk.meta) != dict(self.metadata):
            raise ArtifactError("the bundle's metadata disagrees with its verifying key", stage="verify", where=self.root,
                                hint="get the bundle again from its publisher")
        return vk

    def _split_verifying_key(self) -> SplitVerifyingKey:
        segments = list(self.metadata.get("segments") or [])

        def build(d: Path) -> None:
            for i, seg_meta in enumerate(segments):
                sd = d / f"seg{i:03d}"
                sd.mkdir()
                files = {name: self.files[f"seg{i:03d}/{name}"] for name in CORE_FILES}
                for name, data in files.items():
                    (sd / name).write_bytes(data)
                (sd / SRS_FILE).write_bytes(self.files[SRS_FILE])
                (sd / "core.cid").write_text(core_cid(files, seg_meta))
            ids = [m["model_id"] for m in segments]
            (d / "split.json").write_text(json.dumps({"format": ZKML_FORMAT, "kind": "split_verifying_key",
                                                      "segments": ids, "id": split_id(ids)}))

        entry, _ = Store().get_or_build("bundles", self.core, build)
        vk = SplitVerifyingKey.load(entry, id=self.model_id or None)
        if [bundle_meta(v.meta) for v in vk.segments] != segments:
            raise ArtifactError("the bundle's metadata disagrees with its verifying keys", stage="verify", where=self.root,
                                hint="get the bundle again from its publisher")
        return vk


def _split_groups(vk: SplitVerifyingKey, include_srs: bool) -> tuple[dict, dict]:
    """A split model's bundle: every segment's core files (``segNNN/...``) in one core, one SRS for all."""
    digests = {v.meta["srs"]["sha256"] for v in vk.segments}
    if len(digests) != 1:
        raise ArtifactError("the segments were set up on different SRS files", stage="bundle", where=vk.path,
                            hint="set the split circuit up again (every segment on one SRS)")
    core = {f"seg{i:03d}/{name}": (v.path / name).read_bytes() for i, v in enumerate(vk.segments) for name in CORE_FILES}
    groups = {"core": core, **({"srs": {SRS_FILE: vk.segments[0].srs.path.read_bytes()}} if include_srs else {})}
    meta = {"zkml_bundle": ZKML_FORMAT, "kind": "split", "model_id": vk.id, "srs": dict(vk.segments[0].meta["srs"]),
            "segments": [bundle_meta(v.meta) for v in vk.segments]}
    return groups, meta


def bundle(keys, contract=None, *, include_srs: bool = True, weights_commitment: str | None = None) -> Bundle:
    """Bundle ``keys`` (a Keys, VerifyingKey or directory) and, optionally, a VerifierContract.

    The core (vk, settings, metadata) is the same whatever else is included; the SRS file, the
    model (ONNX + compiled circuit, only when the weights are not private) and the contract hang
    off the root as separate nodes.
    """
    k = keys if isinstance(keys, Keys) else None
    vk = as_vk(keys)
    if isinstance(vk, SplitVerifyingKey):
        if contract is not None or weights_commitment is not None:
            raise ArtifactError("a split model's bundle carries its keys only (no contract or fingerprint yet)",
                                stage="bundle", where="contract / weights_commitment",
                                hint="deploy with zkml.evm.deploy_split_verifier; publish the fingerprint beside the bundle")
        groups, meta = _split_groups(vk, include_srs)
        return _build(groups, meta, None)
    groups: dict[str, dict[str, bytes]] = {"core": {name: (vk.path / name).read_bytes() for name in CORE_FILES}}
    if include_srs:
        groups["srs"] = {SRS_FILE: vk.srs.path.read_bytes()}
    if k is not None and vk.meta["visibility"]["params"] == "fixed":  # otherwise the weights are private
        groups["model"] = {name: (k.circuit.path / name).read_bytes() for name in ("network.onnx", "network.compiled")}
    meta = bundle_meta(vk.meta)
    con = None
    if contract is not None:
        con = {"name": contract.name, "reusable": contract.reusable, "source": contract.source,
               "abi": json.dumps(contract.abi), "bytecode": contract.bytecode, "evm_version": contract.meta.get("evm_version")}
    if weights_commitment is not None:
        from ..proof.proof import normalize_commitment

        if not (vk.meta.get("commitments") or {}).get("params"):
            raise ArtifactError("a weights commitment only goes with keys whose weights are committed", stage="bundle",
                                where="weights_commitment", hint="compile with visibility params=committed")
        try:
            weights_commitment = normalize_commitment(weights_commitment)
        except ValueError as err:
            raise ArtifactError(f"cannot read the weights commitment: {err}", stage="bundle", where="weights_commitment",
                                hint="pass the fingerprint printed by zkml.commit") from None
    return _build(groups, meta, con, weights_commitment)


def _build(groups: Mapping[str, Mapping[str, bytes]], meta: Mapping, contract: Mapping | None,
           weights: str | None = None) -> Bundle:
    cbor = need("dag_cbor")
    b = Blocks()
    core = b.core(groups["core"], meta)
    root_node = {"core": core}
    for name in ("srs", "model"):
        if name in groups:
            root_node[name] = b.put("dag-cbor", cbor.encode({"files": b.files(groups[name])}))
    if contract is not None:
        root_node["contract"] = b.put("dag-cbor", cbor.encode(cborable(contract)))
    if weights is not None:  # beside the core: the key serves every set of weights, the root names one
        root_node["weights_commitment"] = weights
    root = b.put("dag-cbor", cbor.encode(root_node))
    files = {n: d for g in groups.values() for n, d in g.items()}
    return Bundle(_s(root), _s(core), files, dict(meta), contract, b.blocks, weights)


def _load_car(path: Path) -> Bundle:
    mf, cbor = need("multiformats"), need("dag_cbor")
    hint = "get the bundle again from its publisher; a CAR must match its CIDs"
    try:
        size = path.stat().st_size
    except FileNotFoundError as err:
        raise ArtifactError("bundle file not found", stage="load", where=path, hint="check the path") from err
    if size > MAX_CAR_BYTES:
        raise ArtifactError(f"bundle is {size} bytes, over the 4 GiB limit", stage="load", where=path, hint=hint)
    data = path.read_bytes()
    blocks: dict[str, bytes] = {}
    try:
        n, k, _ = mf.varint.decode_raw(data)
        header = cbor.decode(data[k : k + n])
        pos = k + n
        roots = header["roots"]
        if header.get("version") != 1 or len(roots) != 1:
            raise ValueError("not a CAR v1 file with one root")
        while pos < len(data):
            n, k, _ = mf.varint.decode_raw(data[pos : pos + 10])
            body = data[pos + k : pos + k + n]
            if len(body) != n:
                raise ValueError("truncated block")
            cid, rest = _split_cid(mf, body)
            if cid.hashfun.name != "sha2-256" or bytes(cid) != bytes(_cid(cid.codec.name, rest)):
                raise ArtifactError(f"block {cid} does not match its content", stage="load", where=path, hint=hint)
            blocks[_s(cid)] = rest
            pos += k + n
        root = roots[0]
        root_node = cbor.decode(blocks[_s(root)])
        core = root_node["core"]
        core_node = cbor.decode(blocks[_s(core)])
        listing = dict(core_node["files"])
        if any(not _core_name(n) for n in listing):
            raise ValueError(f"the core node lists files outside {list(CORE_FILES)} (or segNNN/ of them)")
        for name, allowed in (("srs", {SRS_FILE}), ("model", {"network.onnx", "network.compiled"})):
            if name in root_node:
                extra = dict(cbor.decode(blocks[_s(root_node[name])])["files"])
                if set(extra) - allowed:  # a node may not replace the core's files (or anything else)
                    raise ValueError(f"the {name} node lists files outside {sorted(allowed)}")
                listing.update(extra)
        files = {name: b"".join(blocks[_s(c)] for c in e["chunks"]) for name, e in listing.items()}
        for name, e in listing.items():
            if len(files[name]) != e["size"]:
                raise ValueError(f"{name} has {len(files[name])} bytes, the bundle says {e['size']}")
        contract = cbor.decode(blocks[_s(root_node["contract"])]) if "contract" in root_node else None
    except ArtifactError:
        raise
    except KeyError as err:
        raise ArtifactError(f"the bundle is missing block {err}", stage="load", where=path, hint=hint) from err
    except Exception as err:
        raise ArtifactError(f"not a valid zkml bundle (CAR): {err}", stage="load", where=path, hint=hint) from err
    return Bundle(_s(root), _s(core), files, dict(core_node["metadata"]), contract, blocks, root_node.get("weights_commitment"))


def _split_cid(mf, body: bytes):
    """Read one binary CIDv1 from the front of ``body``: version, codec, multihash code, digest length."""
    pos = 0
    for _ in range(3):
        _, k, _ = mf.varint.decode_raw(body[pos : pos + 10])
        pos += k
    length, k, _ = mf.varint.decode_raw(body[pos : pos + 10])
    pos += k + length
    return mf.CID.decode(body[:pos]), body[pos:]


def _core_name(name: str) -> bool:
    """A core file: vk.key, settings.json, vk.json, or the same under a split segment's segNNN/."""
    seg, _, base = name.rpartition("/")
    return base in CORE_FILES and (not seg or (len(seg) == 6 and seg.startswith("seg") and seg[3:].isdigit()))
