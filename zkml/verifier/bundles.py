"""Content-addressed model bundles: everything a verifier needs, nothing private, as a CAR file.

Layout (IPLD): every file is split into raw blocks of at most 1 MiB (CIDv1, raw, sha2-256). A
DAG-CBOR *core* node maps file names to their chunks and carries the metadata; the DAG-CBOR *root*
node links the core and, optionally, the SRS, the model and a contract node. The core is the verifying
statement: the key(s) and, when the weights are committed and a fingerprint is pinned, that fingerprint
(``model_id`` = the statement id, ``key_id`` = the bare key's). Nothing outside the core is trusted: a
bundle is materialised in the cache only once its files authenticate against the core (SRS included),
keyed by the core CID and the SRS file's digest; the model node's files are the ones the core names by
digest (``model_sha256`` for the ONNX, ``compiled_sha256`` for the compiled circuit), or the bundle is
refused at load. The core CID (``Bundle.core``) is what a verifier pins (``verifying_key(cid=...)``,
``prove-model verify --bundle B --cid``). Proofs record the bare key's core CID (``VerifyingKey.core_cid``):
the bundle's core for a bare key; a bundle that pins a fingerprint or carries the model has its own.
CIDs, multihashes and varints come from the ``multiformats`` package, DAG-CBOR from ``dag-cbor``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ArtifactError, VerifyError
from ..keys.keys import CORE_FILES, Keys, VerifyingKey, bundle_meta
from ..keys.split import SplitVerifyingKey, split_id
from ..srs import SRS_FILE
from ..support.deps import need
from ..support.files import ZKML_FORMAT, atomic_write_bytes
from ..support.hashing import sha256_bytes
from ..support.ipld import Blocks, cborable, core_cid
from ..support.ipld import cid_str as _s
from ..support.ipld import make_cid as _cid
from ..support.store import Store
from .verification import as_vk

MAX_CAR_BYTES = 4 << 30
AGAIN = "get the bundle again from its publisher"


@dataclass(frozen=True, eq=False)
class Bundle:
    """A model's public verification material, addressed by content. ``root`` and ``core`` are CID strings."""

    root: str
    core: str
    files: Mapping[str, bytes] = field(repr=False)
    metadata: Mapping[str, Any] = field(repr=False)
    # the publisher's contract: not covered by the core CID; zkml never verifies with it (deploy your own from the
    # verifying key: prove-model contract), and refuses one whose weights pin disagrees with the core
    contract: Mapping[str, Any] | None = field(default=None, repr=False)
    blocks: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def dev_srs(self) -> bool:
        return bool(self.metadata["srs"]["dev"])

    @property
    def model_id(self) -> str:
        """The statement id (what a verifier pins): the key's id, or with committed weights the key and fingerprint."""
        return str(self.metadata.get("model_id", ""))

    @property
    def key_id(self) -> str:
        """The bare key's (or chain's) own id: the model id unless the core pins a weights fingerprint."""
        return str(self.metadata.get("key_id") or self.model_id)

    @property
    def weights_commitment(self) -> str | None:
        """The weights fingerprint the core's statement pins (committed weights), covered by the core CID."""
        return self.metadata.get("weights_commitment")

    @property
    def segments(self) -> int:
        return len(self.metadata.get("segments") or []) or 1

    @property
    def split(self) -> bool:
        return self.metadata.get("kind") == "split"

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
    def compiled_sha256(self) -> str | None:
        """The digest of the compiled circuit (the model node's ``network.compiled``) the core binds, if any."""
        return self.metadata.get("compiled_sha256")

    def check_cid(self, cid: str) -> None:
        """Refuse this bundle unless ``cid`` is its core CID (what a verifier pins) or its root CID (which links
        the core by CID, so it pins the core too). Any multibase spelling of the CID is accepted."""
        want = _parse_cid(cid)
        if want is not None and want in (_parse_cid(self.core), _parse_cid(self.root)):
            return
        raise ArtifactError(
            f"the bundle's core CID is {self.core}, not the pinned {cid}"
            if want is not None
            else f"the pinned bundle CID {cid!r} is not a CID",
            stage="verify",
            where=self.root,
            hint="you were given another bundle than the one you pinned (another model, other weights, or an "
            "edited one): get the bundle whose core CID you trust (prove-model bundle / inspect prints it)",
        )

    def verifying_key(self, *, id: str | None = None, cid: str | None = None) -> VerifyingKey | SplitVerifyingKey:
        """The statement this bundle's core names: its verifying key(s), pinned to the core's weights fingerprint
        if there is one, authenticated against the core before anything is cached. ``id`` is the model id you
        trust (the statement id; the bare key id pins the architecture only and leaves the weights unpinned);
        ``cid`` the bundle's core CID you trust (``check_cid``): either refuses another bundle.

        Materialised once under $ZKML_HOME/bundles/<core CID>-<SRS sha256>: built and checked in the store's
        temporary directory, so an invalid bundle leaves nothing and cannot block a valid one."""
        if SRS_FILE not in self.files:
            raise ArtifactError(
                "the bundle carries no SRS file",
                stage="verify",
                where=self.root,
                hint="make the bundle with include_srs=True, or verify with the verifying-key directory",
            )

        if cid is not None:
            self.check_cid(cid)

        def build(d: Path) -> None:
            self._materialise(d)
            self._authenticated(d)  # raises: the store removes the build directory, nothing is cached

        key = f"{self.core}-{sha256_bytes(self.files[SRS_FILE])}"
        entry, _ = Store().get_or_build("bundles", key, build)
        vk = self._authenticated(entry)
        if id is None:
            return vk
        want = id.lower().removeprefix("0x")
        if want == vk.id:
            return vk
        if want == vk.key_id:  # the verifier pinned the architecture, not the weights
            return vk.pin_weights(None)
        raise ArtifactError(
            f"the bundle's model id is {vk.id}, not the expected {id}",
            stage="verify",
            where=self.root,
            hint="you were given another model's bundle, or one that pins other weights: get the bundle "
            "whose model id you trust",
        )

    def _materialise(self, d: Path) -> None:
        """The core's files (and the SRS) as verifying-key directories: one, or split.json + segNNN/."""
        if not self.split:
            _write_vk_dir(d, {name: self.files[name] for name in CORE_FILES}, self.files[SRS_FILE], self.root)
            return
        segments = list(self.metadata.get("segments") or [])
        for i in range(len(segments)):
            files = {name: self.files[f"seg{i:03d}/{name}"] for name in CORE_FILES}
            _write_vk_dir(d / f"seg{i:03d}", files, self.files[SRS_FILE], self.root)
        ids = [str(m.get("model_id")) for m in segments]
        (d / "split.json").write_text(
            json.dumps({"format": ZKML_FORMAT, "kind": "split_verifying_key", "segments": ids, "id": split_id(ids)})
        )

    def _authenticated(self, d: Path) -> VerifyingKey | SplitVerifyingKey:
        """The verifying key(s) in ``d``, pinned as the core says, refused unless the core's metadata is exactly
        what those keys and that pin produce."""
        vk = SplitVerifyingKey.load(d) if self.split else VerifyingKey.load(d)
        fp = self.weights_commitment
        if fp is not None:
            try:
                vk = vk.pin_weights(fp)
            except VerifyError as err:
                raise ArtifactError(
                    f"the bundle pins a weights fingerprint it cannot: {err.message}",
                    stage="verify",
                    where=self.root,
                    hint=AGAIN,
                ) from None
        # the core's metadata is exactly what these keys and that pin produce, plus (when the bundle was made with
        # the model) the compiled circuit's digest, which _check_model compared with the model node at load
        said = {k: v for k, v in self.metadata.items() if k != "compiled_sha256"}
        compiled = self.metadata.get("compiled_sha256")
        if cborable(core_metadata(vk)) != said or not (compiled is None or _is_sha256(compiled)):
            raise ArtifactError(
                "the bundle's metadata disagrees with its verifying key" + ("s" if self.split else ""),
                stage="verify",
                where=self.root,
                hint=AGAIN,
            )
        return vk


def _write_vk_dir(d: Path, files: Mapping[str, bytes], srs: bytes, where: str) -> None:
    d.mkdir(exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / SRS_FILE).write_bytes(srs)
    try:  # the bare key's core CID (what VerifyingKey.core_cid checks); the statement is checked by the caller
        bare = core_cid(files, bundle_meta(json.loads(files["vk.json"])))
    except (ValueError, KeyError, TypeError) as err:
        raise ArtifactError(
            f"the bundle's vk.json is not a zkml verifying key: {err}", stage="verify", where=where, hint=AGAIN
        ) from None
    (d / "core.cid").write_text(bare)


def core_metadata(vk: VerifyingKey | SplitVerifyingKey) -> dict:
    """What a bundle's core says of ``vk``: its key metadata (each segment's for a split key) and, when ``vk`` pins a
    weights fingerprint, the statement (``model_id`` = the statement id, ``key_id``, ``weights_commitment``)."""
    if isinstance(vk, SplitVerifyingKey):
        digests = {v.meta["srs"]["sha256"] for v in vk.segments}
        if len(digests) != 1:
            raise ArtifactError(
                "the segments were set up on different SRS files",
                stage="bundle",
                where=vk.path,
                hint="set the split circuit up again (every segment on one SRS)",
            )
        meta = {
            "zkml_bundle": ZKML_FORMAT,
            "kind": "split",
            "model_id": vk.key_id,
            "srs": dict(vk.segments[0].meta["srs"]),
            "segments": [bundle_meta(v.meta) for v in vk.segments],
        }
    else:
        meta = bundle_meta(vk.meta)
    if vk.weights_commitment is not None:
        meta.update(model_id=vk.id, key_id=vk.key_id, weights_commitment=vk.weights_commitment)
    return meta


def bundle(keys, contract=None, *, include_srs: bool = True, weights_commitment: str | None = None) -> Bundle:
    """Bundle ``keys`` (Keys, SplitKeys, a VerifyingKey / SplitVerifyingKey or a directory) and, optionally, a
    contract (a VerifierContract, or for a split model its SplitVerifier: anything with name, abi and bytecode).

    The core is the verifying statement: the key(s) and, for committed weights, the fingerprint pinned by the
    key (``vk.pin_weights``) or given as ``weights_commitment`` (both: they must agree). The SRS file, the model
    (ONNX + compiled circuit, single models with fixed weights only: otherwise the weights are private) and the
    contract hang off the root as separate nodes.
    """
    vk = as_vk(keys)
    if weights_commitment is not None:
        try:
            pinned = vk.pin_weights(weights_commitment)
        except VerifyError as err:
            raise ArtifactError(err.message, stage="bundle", where="weights_commitment", hint=err.hint) from None
        if vk.weights_commitment is not None and vk.weights_commitment != pinned.weights_commitment:
            raise ArtifactError(
                "the verifying key pins another weights fingerprint than weights_commitment",
                stage="bundle",
                where="weights_commitment",
                hint="pass the key unpinned (vk.pin_weights(None)) or the fingerprint it pins",
            )
        vk = pinned
    meta = core_metadata(vk)
    if isinstance(vk, SplitVerifyingKey):
        core = {
            f"seg{i:03d}/{name}": (v.path / name).read_bytes() for i, v in enumerate(vk.segments) for name in CORE_FILES
        }
        srs_path = vk.segments[0].srs.path
    else:
        core = {name: (vk.path / name).read_bytes() for name in CORE_FILES}
        srs_path = vk.srs.path
    groups: dict[str, dict[str, bytes]] = {"core": core}
    if include_srs:
        groups["srs"] = {SRS_FILE: srs_path.read_bytes()}
    if isinstance(keys, Keys) and vk.meta["visibility"]["params"] == "fixed":
        groups["model"] = {
            name: (keys.circuit.path / name).read_bytes() for name in ("network.onnx", "network.compiled")
        }
    if "model" in groups:  # the compiled circuit is bound by digest in the core, like the ONNX (model_sha256)
        meta["compiled_sha256"] = sha256_bytes(groups["model"]["network.compiled"])
    files = {n: d for g in groups.values() for n, d in g.items()}
    _check_model(files, meta, "keys")
    if contract is not None:
        _check_contract(contract, vk)
    return _build(groups, meta, None if contract is None else _contract_node(contract))


def _contract_node(contract) -> dict:
    """The contract node: a VerifierContract, or anything with ``name``, ``abi`` and ``bytecode`` (a mapping too)."""

    def get(key: str, default=None):
        return contract.get(key, default) if isinstance(contract, Mapping) else getattr(contract, key, default)

    name, abi, code = get("name"), get("abi"), get("bytecode")
    if not name or abi is None or not code:
        raise ArtifactError(
            "a bundle's contract needs a name, an ABI and bytecode",
            stage="bundle",
            where="contract",
            hint="pass a zkml.VerifierContract (prove-model contract) or the split model's SplitVerifier",
        )
    if isinstance(code, str):
        try:
            code = bytes.fromhex(code.removeprefix("0x"))
        except ValueError:
            raise ArtifactError(
                "the contract's bytecode is not hex",
                stage="bundle",
                where="contract.bytecode",
                hint="pass the compiled contract's bytecode",
            ) from None
    meta = get("meta") or {}
    node = {
        "name": str(name),
        "reusable": bool(get("reusable", False)),
        "source": get("source") or "",
        "abi": abi if isinstance(abi, str) else json.dumps(abi),
        "bytecode": bytes(code),
        "evm_version": meta.get("evm_version") if isinstance(meta, Mapping) else None,
    }
    segments = get("segments") or ()
    if segments:  # a split model's SplitVerifier: each segment's verifier too
        node["segments"] = [_contract_node(c) for c in segments]
    if get("weights_commitment"):
        node["weights_commitment"] = get("weights_commitment")
    return node


def _check_contract(contract, vk) -> None:
    """A contract that names the key it verifies (a VerifierContract) must name this statement's."""

    def get(key: str):
        return contract.get(key) if isinstance(contract, Mapping) else getattr(contract, key, None)

    key_id, wc = get("key_id"), get("weights_commitment")
    if key_id and key_id != vk.key_id:
        raise ArtifactError(
            f"the contract verifies key {str(key_id)[:16]}, not this bundle's {vk.key_id[:16]}",
            stage="bundle",
            where="contract",
            hint="generate the contract from these keys (prove-model contract)",
        )
    if wc and wc != vk.weights_commitment:
        raise ArtifactError(
            "the contract pins another weights fingerprint than the bundle's statement",
            stage="bundle",
            where="contract.weights_commitment",
            hint="bundle with the contract's fingerprint, or a contract pinned to the bundle's",
        )


def _check_model(files: Mapping[str, bytes], meta: Mapping, where: object) -> None:
    """The model node's files are the ones the core names by digest: ``network.onnx`` its ``model_sha256`` and
    ``network.compiled`` its ``compiled_sha256``. A file the core names no digest for is refused, never trusted."""
    if "network.onnx" not in files and "network.compiled" not in files:
        return
    want = meta.get("model_sha256")
    if not want or "network.onnx" not in files:
        raise ArtifactError(
            "the bundle's model node carries a model its core does not name", stage="load", where=where, hint=AGAIN
        )
    if sha256_bytes(files["network.onnx"]) != want:
        raise ArtifactError(
            "the bundle's model node: network.onnx is not the model its core names (model_sha256)",
            stage="load",
            where=where,
            hint=AGAIN,
        )
    if "network.compiled" not in files:
        return
    compiled = meta.get("compiled_sha256")
    if not compiled:
        raise ArtifactError(
            "the bundle's model node carries network.compiled, which its core does not bind (no compiled_sha256): "
            "a compiled circuit outside the core could be swapped without changing the core CID",
            stage="load",
            where=where,
            hint="bundle the keys again with this zkml (the core then names the compiled circuit), or get the "
            "bundle again from its publisher",
        )
    if sha256_bytes(files["network.compiled"]) != compiled:
        raise ArtifactError(
            "the bundle's model node: network.compiled is not the compiled circuit its core names (compiled_sha256)",
            stage="load",
            where=where,
            hint=AGAIN,
        )


def _build(groups: Mapping[str, Mapping[str, bytes]], meta: Mapping, contract: Mapping | None) -> Bundle:
    cbor = need("dag_cbor")
    b = Blocks()
    core = b.core(groups["core"], meta)
    root_node = {"core": core}
    for name in ("srs", "model"):
        if name in groups:
            root_node[name] = b.put("dag-cbor", cbor.encode({"files": b.files(groups[name])}))
    if contract is not None:
        root_node["contract"] = b.put("dag-cbor", cbor.encode(cborable(contract)))
    root = b.put("dag-cbor", cbor.encode(root_node))
    files = {n: d for g in groups.values() for n, d in g.items()}
    return Bundle(_s(root), _s(core), files, cborable(meta), contract, b.blocks)


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
        if set(root_node) - {"core", "srs", "model", "contract"}:  # e.g. a fingerprint beside the core: never trusted
            raise ValueError(
                f"the root node carries {sorted(set(root_node) - {'core', 'srs', 'model', 'contract'})} "
                "outside the core (a weights fingerprint belongs in the core: bundle the keys again)"
            )
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
        metadata = dict(core_node["metadata"])
    except ArtifactError:
        raise
    except KeyError as err:
        raise ArtifactError(f"the bundle is missing block {err}", stage="load", where=path, hint=hint) from err
    except Exception as err:
        raise ArtifactError(f"not a valid zkml bundle (CAR): {err}", stage="load", where=path, hint=hint) from err
    _check_model(files, metadata, path)
    if contract is not None and contract.get("weights_commitment") not in (None, metadata.get("weights_commitment")):
        raise ArtifactError(
            "the bundle's contract pins other weights than its core's statement",
            stage="load",
            where=path,
            hint="get the bundle again from its publisher",
        )
    return Bundle(_s(root), _s(core), files, metadata, contract, blocks)


def _split_cid(mf, body: bytes):
    """Read one binary CIDv1 from the front of ``body``: version, codec, multihash code, digest length."""
    pos = 0
    for _ in range(3):
        _, k, _ = mf.varint.decode_raw(body[pos : pos + 10])
        pos += k
    length, k, _ = mf.varint.decode_raw(body[pos : pos + 10])
    pos += k + length
    return mf.CID.decode(body[:pos]), body[pos:]


def _parse_cid(text: str):
    """A CID in any multibase (compared as bytes), or None when ``text`` is not one."""
    mf = need("multiformats")
    try:
        return bytes(mf.CID.decode(str(text).strip()))
    except Exception:  # multiformats raises several kinds for a malformed CID
        return None


def _is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _core_name(name: str) -> bool:
    """A core file: vk.key, settings.json, vk.json, or the same under a split segment's segNNN/."""
    seg, _, base = name.rpartition("/")
    return base in CORE_FILES and (not seg or (len(seg) == 6 and seg.startswith("seg") and seg[3:].isdigit()))
