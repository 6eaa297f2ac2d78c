"""``Proof``, ``Verification`` and ``verify()``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ._util import ZKML_FORMAT, atomic_write_text, captured_native_output, ezkl_version, need, private_tempdir, read_json
from .errors import ArtifactError, InvalidProofError, VerifyError

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617  # BN254 r


def felt_to_int(h: str) -> int:
    """ezkl's instance encoding (32-byte little-endian hex) to a signed integer."""
    v = int.from_bytes(bytes.fromhex(h), "little")
    return v - FIELD_MODULUS if v > FIELD_MODULUS // 2 else v


def int_to_felt(v: int) -> str:
    return (v % FIELD_MODULUS).to_bytes(32, "little").hex()


BASE_MODULUS = 21888242871839275222246405745257275088696311157297823662689037894645226208583  # BN254 p


def _is_g1(chunk: bytes) -> bool:
    x, y = int.from_bytes(chunk[:32], "big"), int.from_bytes(chunk[32:], "big")
    if x >= BASE_MODULUS or y >= BASE_MODULUS:
        return False
    if x == 0 and y == 0:  # the point at infinity, as the EVM encodes it
        return True
    # on y^2 = x^3 + 3; BN254's G1 has cofactor 1, so every point on the curve is in the group
    return (y * y - x * x * x - 3) % BASE_MODULUS == 0


def check_proof_encoding(data: bytes) -> str | None:
    """A cheap structural check before any pairing: why ``data`` cannot be a proof, or None.

    ezkl's EVM transcript is a run of G1 commitments (64-byte x, y), then scalars (32 bytes, < r),
    then the two opening commitments. The last two must be BN254 points, the scalars canonical.
    """
    if len(data) % 32 or len(data) < 192:
        return f"the proof is {len(data)} bytes: not a whole number of 32-byte words"
    for off in (len(data) - 128, len(data) - 64):
        if not _is_g1(data[off : off + 64]):
            return f"the commitment at byte {off} is not a valid BN254 G1 point"
    i = 0
    while i + 64 <= len(data) - 128 and _is_g1(data[i : i + 64]):
        i += 64
    if i == 0:
        return "the first commitment is not a valid BN254 G1 point"
    for off in range(i, len(data) - 128, 32):
        if int.from_bytes(data[off : off + 32], "big") >= FIELD_MODULUS:
            return f"the scalar at byte {off} is not a canonical BN254 field element"
    return None


def layout_from_witness(witness: Mapping, vis, model) -> dict:
    """How many public instances belong to the input, the params and the output, in that order."""

    def count(vis_mode: str, processed_key: str, plain: int) -> int:
        if vis_mode == "hashed":
            return len((witness.get(processed_key) or {}).get("poseidon_hash") or [])
        return plain if vis_mode == "public" else 0

    return {"input": count(vis.input, "processed_inputs", sum(t.size for t in model.inputs)),
            "params": count(vis.params, "processed_params", 0),
            "output": count(vis.output, "processed_outputs", sum(t.size for t in model.outputs))}


@dataclass(frozen=True, eq=False)
class Proof:
    """A proof with its public instances and what it belongs to. Holds no private data."""

    proof: bytes = field(repr=False)
    instances: tuple[tuple[str, ...], ...] = field(repr=False)
    meta: Mapping[str, Any] = field(repr=False)

    # identity
    @property
    def model_hash(self) -> str:
        return self.meta.get("model_sha256", "")

    @property
    def vk_hash(self) -> str:
        return self.meta.get("vk_sha256", "")

    @property
    def dev_srs(self) -> bool:
        return bool(self.meta.get("srs", {}).get("dev", True))

    @property
    def timings(self) -> dict:
        return dict(self.meta.get("timings", {}))

    # public values
    def _segment(self, name: str) -> list[str]:
        lay = self.meta.get("layout") or {}
        flat = [h for col in self.instances for h in col]
        start = {"input": 0, "params": lay.get("input", 0), "output": lay.get("input", 0) + lay.get("params", 0)}[name]
        return flat[start : start + lay.get(name, 0)]

    def _decode(self, name: str, specs_key: str, scales_key: str) -> list:
        np = need("numpy")
        vals, out, pos = self._segment(name), [], 0
        if self.meta.get("visibility", {}).get(name) != "public":
            return []
        for spec, scale in zip(self.meta.get(specs_key, []), self.meta.get(scales_key, [])):
            size = int(np.prod(spec["shape"])) if spec["shape"] else 1
            chunk = vals[pos : pos + size]
            pos += size
            out.append(np.asarray([felt_to_int(h) / 2.0 ** int(scale) for h in chunk], dtype=np.float64).reshape(spec["shape"]))
        return out

    @property
    def outputs(self) -> list:
        """Public outputs decoded to float arrays (empty when outputs are private or hashed)."""
        return self._decode("output", "outputs", "output_scales")

    @property
    def public_inputs(self) -> list:
        return self._decode("input", "inputs", "input_scales")

    @property
    def hashes(self) -> dict:
        """Poseidon hashes (0x big-endian hex) of the parts whose visibility is ``hashed``."""
        vis = self.meta.get("visibility", {})
        return {k: ["0x" + bytes.fromhex(h)[::-1].hex() for h in self._segment(k)] for k in ("input", "params", "output")
                if vis.get(k) == "hashed"}

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        return f"Proof(model={self.model_hash[:12]}, {len(self.proof)} bytes, {sum(map(len, self.instances))} public values{warn})"

    # (de)serialisation: ezkl's proof JSON plus a "zkml" section, so `ezkl verify` reads it too
    def to_json(self) -> dict:
        return {"protocol": None, "instances": [list(c) for c in self.instances], "proof": list(self.proof),
                "version": self.meta.get("ezkl_version"), "zkml": dict(self.meta)}

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Proof":
        hint = "pass a proof file written by Proof.save or prove-model prove"
        raw = read_json(path, error_cls=ArtifactError, stage="verify", hint=hint)
        return cls.from_json(raw, where=path)

    @classmethod
    def from_json(cls, raw: Any, where: object = "<proof>") -> "Proof":
        hint = "pass a proof file written by Proof.save or prove-model prove"
        try:
            proof = bytes(raw["proof"]) if isinstance(raw["proof"], list) else bytes.fromhex(raw["proof"].removeprefix("0x"))
            instances = tuple(tuple(str(h) for h in col) for col in raw["instances"])
            for col in instances:
                for h in col:
                    if len(h) != 64:
                        raise ValueError(f"instance {h[:20]!r} is not a 32-byte hex field element")
                    int(h, 16)
            meta = raw.get("zkml") or {}
            if not isinstance(meta, dict):
                raise ValueError("'zkml' section is not an object")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"not a valid proof file: {err}", stage="verify", where=where, hint=hint) from err
        if not proof:
            raise ArtifactError("the proof is empty", stage="verify", where=where, hint=hint)
        return cls(proof, instances, meta)

    @classmethod
    def from_ezkl(cls, raw: Mapping, *, vk, layout: Mapping, timings: Mapping) -> "Proof":
        settings = vk.settings
        meta = {"format": ZKML_FORMAT, "kind": "proof", "ezkl_version": ezkl_version(), "model_sha256": vk.model_hash,
                "vk_sha256": vk.sha256, "settings_sha256": vk.meta["settings_sha256"], "srs": dict(vk.meta["srs"]),
                "visibility": dict(vk.meta["visibility"]), "layout": dict(layout),
                "inputs": vk.meta["inputs"], "outputs": vk.meta["outputs"],
                "input_scales": settings.get("model_input_scales", []), "output_scales": settings.get("model_output_scales", []),
                "logrows": settings["run_args"]["logrows"], "created": time.time(), "timings": dict(timings),
                "bundle_cid": _bundle_cid(vk)}
        return cls(bytes(raw["proof"]), tuple(tuple(c) for c in raw["instances"]), meta)


def _bundle_cid(vk) -> str | None:
    try:
        from ._bundle import core_cid

        return core_cid(vk)
    except ImportError:  # multiformats / dag-cbor not installed: proofs simply carry no bundle CID
        return None


@dataclass(frozen=True)
class Verification:
    """Truthy iff the proof verified. ``reason`` says why not."""

    ok: bool
    reason: str | None = None
    model_hash: str = ""
    dev_srs: bool = True
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return self.ok

    def raise_for_invalid(self) -> "Verification":
        if not self.ok:
            raise InvalidProofError(f"proof is invalid: {self.reason}", hint="the proof, its public values or the key do not match")
        return self


def _as_proof(proof: Any) -> Proof:
    if isinstance(proof, Proof):
        return proof
    if isinstance(proof, (str, os.PathLike)):
        return Proof.load(proof)
    raise VerifyError(f"expected a zkml.Proof or a proof file path, got {type(proof).__name__}", where="proof",
                      hint="pass the value returned by keys.prove() or a saved proof file")


def _as_vk(vk: Any):
    from ._keys import Keys, VerifyingKey

    if isinstance(vk, VerifyingKey):
        return vk
    if isinstance(vk, Keys):
        return vk.vk
    if isinstance(vk, (str, os.PathLike)):
        return VerifyingKey.load(vk)
    raise VerifyError(f"expected a zkml.VerifyingKey (or Keys, or a directory), got {type(vk).__name__}", where="vk",
                      hint="pass keys.vk or a saved verifying-key directory")


def verify(proof: Proof | str | os.PathLike, vk: Any) -> Verification:
    """Check ``proof`` against a verifying key or a ``Bundle`` (vk, settings and SRS; never the proving key)."""
    from ._bundle import Bundle

    proof = _as_proof(proof)
    t0 = time.perf_counter()
    if isinstance(vk, Bundle):
        want = proof.meta.get("bundle_cid")
        if want and want != vk.core:
            return Verification(False, f"the proof belongs to bundle {want}, not {vk.core}", vk.metadata["model_sha256"],
                                vk.dev_srs, time.perf_counter() - t0)
        vk = vk.verifying_key()
    vk = _as_vk(vk)

    def fail(reason: str) -> Verification:
        return Verification(False, reason, vk.model_hash, vk.dev_srs, time.perf_counter() - t0)

    if proof.vk_hash and proof.vk_hash != vk.sha256:
        other = proof.model_hash[:12] if proof.model_hash != vk.model_hash else "the same model with other keys"
        return fail(f"the proof was made for another verifying key (model {other}), not {vk.sha256[:12]} "
                    f"(model {vk.model_hash[:12]})")
    for i, h in enumerate(h for col in proof.instances for h in col):
        if int.from_bytes(bytes.fromhex(h), "little") >= FIELD_MODULUS:
            return fail(f"public value #{i} is not a canonical field element (>= the BN254 scalar modulus): an aliased value")
    bad = check_proof_encoding(proof.proof)
    if bad:
        return fail(bad)
    with private_tempdir() as tmp:
        ok, reason = _ezkl_verify(proof, vk, tmp / "proof.json")
        if not ok:
            return fail(reason)
        # halo2 reads the transcript it needs and ignores the rest: a proof with bytes appended would
        # still verify. Only the exact encoding is accepted: without its last byte it must fail.
        if len(proof.proof) > 1 and _ezkl_verify(zkml_proof(proof.proof[:-1], proof), vk, tmp / "short.json")[0]:
            return fail("the proof has trailing bytes after its transcript (not the canonical encoding)")
    return Verification(True, None, vk.model_hash, vk.dev_srs, time.perf_counter() - t0)


def zkml_proof(data: bytes, like: Proof) -> Proof:
    return Proof(data, like.instances, like.meta)


def _ezkl_verify(proof: Proof, vk, path: Path) -> tuple[bool, str | None]:
    path.write_text(json.dumps(proof.to_json()))
    ezkl = need("ezkl")
    try:
        with captured_native_output():
            ok = ezkl.verify(str(path), str(vk.path / "settings.json"), str(vk.path / "vk.key"), str(vk.srs.path), False)
    except Exception as err:
        msg = str(err)
        if "[halo2]" in msg or "proof" in msg.lower() and "load" not in msg.lower():
            return False, msg.split(": ", 1)[-1]
        raise VerifyError(f"cannot check the proof: {msg[:300]}", where=vk.path,
                          hint="the verifying key or settings file is corrupt or from another ezkl version; run setup again") from err
    return (True, None) if ok else (False, "ezkl rejected the proof")
