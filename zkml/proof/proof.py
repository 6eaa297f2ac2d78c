"""``Proof``: proof bytes and public instances, decoded only with a verifying key's own settings.

A proof file also carries a ``zkml`` section written by the prover (model, key, scales, layout). None of
it is trusted: outputs, public inputs and hashes are decoded from the verifying key's settings, which
are bound to the key's identity hash, and a verifier refuses a proof whose section disagrees with its key.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import ArtifactError, VerifyError
from ..support.deps import ezkl_version, need
from ..support.files import ZKML_FORMAT, atomic_write_text, read_json

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617  # BN254 r
_HEX32 = re.compile(r"[0-9a-fA-F]{64}")


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


# KZG commitments of committed (polycommit) parts: the proof's first G1 points, inputs then params then outputs.
# Each point is 64 bytes, x then y, big-endian and uncompressed. The witness holds the same points
# compressed: x little-endian with flags in the top bits of its last byte (0x80: y is odd, 0x40: infinity).
COMMIT_ORDER = ("input", "params", "output")


def witness_point(c: str | list) -> bytes:
    """A witness's compressed commitment as the 64 bytes (x || y) the proof carries."""
    b = bytearray(bytes.fromhex(c.removeprefix("0x")) if isinstance(c, str) else bytes(c))
    if len(b) != 32:
        raise ValueError("a compressed commitment is 32 bytes")
    odd, infinity = b[31] >> 7 & 1, b[31] >> 6 & 1
    b[31] &= 0x3F
    x = int.from_bytes(bytes(b[::-1]), "big")
    if infinity:
        return bytes(64)
    y2 = (pow(x, 3, BASE_MODULUS) + 3) % BASE_MODULUS
    y = pow(y2, (BASE_MODULUS + 1) // 4, BASE_MODULUS)  # p = 3 mod 4
    if y * y % BASE_MODULUS != y2:
        raise ValueError("the commitment is not on BN254")
    if y & 1 != odd:
        y = BASE_MODULUS - y
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def witness_commitments(witness: Mapping) -> dict:
    """How many commitment points each committed part has, and the points, from a witness: {part: [64-byte points]}."""
    keys = {"input": "processed_inputs", "params": "processed_params", "output": "processed_outputs"}
    out = {}
    for part in COMMIT_ORDER:
        tensors = (witness.get(keys[part]) or {}).get("polycommit") or []
        points = [witness_point(c) for t in tensors for c in t]
        if points:
            out[part] = points
    return out


def read_commitments(proof: bytes, counts: Mapping[str, int]) -> dict:
    """The committed parts' points read from the proof bytes themselves, by the key's counts: {part: "0x" + hex}."""
    out, pos = {}, 0
    for part in COMMIT_ORDER:
        n = int(counts.get(part, 0))
        if n:
            out[part] = "0x" + proof[pos : pos + 64 * n].hex()
            pos += 64 * n
    return out


def normalize_commitment(c: str) -> str:
    text = str(c).strip().lower().removeprefix("0x")
    if not text or len(text) % 128 or any(ch not in "0123456789abcdef" for ch in text):
        raise ValueError("a weights commitment is 0x followed by 128 hex digits per G1 point")
    return "0x" + text


def read_fingerprint(c: str, error_cls: type, *, where: str = "weights_commitment", **stage: str) -> str:
    """``normalize_commitment``, refused as ``error_cls`` (a ZKMLError) naming ``where`` when it is not one."""
    try:
        return normalize_commitment(c)
    except ValueError as err:
        raise error_cls(
            f"cannot read the weights commitment: {err}",
            where=where,
            hint="pass the fingerprint printed by zkml.commit / prove-model commit",
            **stage,
        ) from None


# what a verifying key says about its public instances
_VIS_NAMES = {
    "public": "public",
    "private": "private",
    "hashed": "hashed",
    "fixed": "fixed",
    "polycommit": "committed",
    "kzgcommit": "committed",
}


def key_visibility(settings: Mapping) -> dict:
    """Visibility as the key's settings (``run_args``) state it, in zkml's names."""
    out = {}
    for field_, key in (("input", "input_visibility"), ("output", "output_visibility"), ("params", "param_visibility")):
        v = settings["run_args"][key]
        name = next(iter(v)) if isinstance(v, Mapping) else v
        out[field_] = _VIS_NAMES.get(str(name).lower(), str(name).lower())
    return out


def key_layout(settings: Mapping, n_inputs: int, n_outputs: int) -> dict:
    """How many public instances belong to the input, the params and the output, in that order, from the settings.

    Plain public tensors are the settings' ``model_instance_shapes`` (inputs first); a hashed tensor is one
    Poseidon hash (``module_sizes.poseidon``); committed (polycommit) parts have no instance at all.
    """
    vis = key_visibility(settings)
    shapes = [list(s) for s in settings.get("model_instance_shapes") or []]
    sizes = [_prod(s) for s in shapes]
    poseidon = (settings.get("module_sizes") or {}).get("poseidon") or [0, [0]]
    hashes = int(sum(poseidon[1])) if len(poseidon) > 1 and poseidon[1] else 0
    lay = {"input": 0, "params": 0, "output": 0}
    if vis["input"] == "public":
        lay["input"] = sum(sizes[:n_inputs])
    if vis["output"] == "public":
        lay["output"] = sum(sizes[n_inputs:] if vis["input"] == "public" else sizes)
    if vis["input"] == "hashed":
        lay["input"] = n_inputs
    if vis["output"] == "hashed":
        lay["output"] = n_outputs
    if vis["params"] == "hashed":
        lay["params"] = hashes - (vis["input"] == "hashed") * n_inputs - (vis["output"] == "hashed") * n_outputs
    return lay


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


@dataclass(frozen=True)
class Decoded:
    """Public values of a proof as its verifying key reads them (``commitments``: from the proof bytes)."""

    public_inputs: list
    outputs: list
    hashes: dict
    layout: dict
    commitments: dict = field(default_factory=dict)


def decode(
    instances: tuple,
    settings: Mapping,
    inputs: list,
    outputs: list,
    proof: bytes = b"",
    commitments: Mapping[str, int] | None = None,
) -> Decoded:
    """Decode ``instances`` with a key's ``settings`` and its input/output specs (``{"name", "shape"}`` dicts);
    with ``commitments`` (the key's point counts), read the committed parts' commitments from ``proof``."""
    np = need("numpy")
    vis = key_visibility(settings)
    lay = key_layout(settings, len(inputs), len(outputs))
    flat = [h for col in instances for h in col]
    start = {"input": 0, "params": lay["input"], "output": lay["input"] + lay["params"]}

    def part(name: str) -> list[str]:
        return flat[start[name] : start[name] + lay[name]]

    def values(name: str, specs: list, scales: list) -> list:
        if vis[name] != "public":
            return []
        vals, out, pos = part(name), [], 0
        for spec, scale in zip(specs, scales):
            size = _prod(spec["shape"])
            chunk = vals[pos : pos + size]
            pos += size
            out.append(
                np.asarray([felt_to_int(h) / 2.0 ** int(scale) for h in chunk], dtype=np.float64).reshape(spec["shape"])
            )
        return out

    hashes = {
        k: ["0x" + bytes.fromhex(h)[::-1].hex() for h in part(k)]
        for k in ("input", "params", "output")
        if vis[k] == "hashed"
    }
    return Decoded(
        values("input", inputs, settings.get("model_input_scales", [])),
        values("output", outputs, settings.get("model_output_scales", [])),
        hashes,
        lay,
        read_commitments(proof, commitments or {}),
    )


def expected_instances(settings: Mapping, n_inputs: int, n_outputs: int) -> int:
    return sum(key_layout(settings, n_inputs, n_outputs).values())


@dataclass(frozen=True, eq=False)
class Proof:
    """A proof with its public instances. Holds no private data.

    ``meta`` is what the prover wrote (informational). ``outputs``, ``public_inputs`` and ``hashes`` are
    decoded with the key a proof was made with, and only for a proof this process made (``keys.prove``);
    a proof from anywhere else has its values read from its verification: ``zkml.verify(proof, vk).outputs``.
    """

    proof: bytes = field(repr=False)
    instances: tuple[tuple[str, ...], ...] = field(repr=False)
    meta: Mapping[str, Any] = field(repr=False)
    vk: Any = field(default=None, repr=False)
    segments: tuple["Proof", ...] = field(default=(), repr=False)  # a split proof: each segment's proof, in order
    made_here: bool = field(
        default=False, repr=False
    )  # made by this process's keys.prove: its values are the circuit's

    # identity, as the proof file claims it (informational)
    @property
    def model_hash(self) -> str:
        return self.meta.get("model_sha256", "")

    @property
    def model_id(self) -> str:
        """The statement this proof is for, as its key reads it: the key, and (committed weights) the fingerprint
        in the proof bytes. Without a key: what the file claims."""
        if self.vk is None:
            return self.meta.get("model_id", "")
        return self.vk.pin_weights(self.weights_commitment).id

    @property
    def vk_hash(self) -> str:
        return self.meta.get("vk_sha256", "")

    @property
    def dev_srs(self) -> bool:
        if self.vk is not None:
            return self.vk.dev_srs
        return bool(self.meta.get("srs", {}).get("dev", True))

    @property
    def timings(self) -> dict:
        return dict(self.meta.get("timings", {}))

    @property
    def units(self) -> int:
        """How many circuit proofs this proof holds: 1, or a split proof's segments."""
        return len(self.segments) or 1

    @property
    def size(self) -> int:
        """Bytes of proof transcript, every segment's included (what a verifier reads; the file adds JSON)."""
        return sum(p.size for p in self.segments) if self.segments else len(self.proof)

    # public values, decoded with the bound verifying key
    def bind(self, vk) -> "Proof":
        """This proof with ``vk`` as the key its public values are decoded with (checks nothing: verify does)."""
        if self.segments and len(getattr(vk, "segments", ())) == len(self.segments):
            return Proof(
                self.proof, self.instances, self.meta, vk, tuple(p.bind(v) for p, v in zip(self.segments, vk.segments))
            )
        return Proof(self.proof, self.instances, self.meta, vk, self.segments)

    def _verified_only(self) -> None:
        if not self.made_here:
            raise VerifyError(
                "a loaded proof's public values are read from its verification, not from the file",
                where="proof",
                hint="use zkml.verify(proof, vk).outputs (prove-model verify prints them)",
            )

    def decoded(self, vk=None) -> Decoded:
        vk = vk if vk is not None else self.vk
        if vk is None:
            raise VerifyError(
                "a proof's public values are read with a verifying key, not from the proof file",
                where="proof",
                hint="use zkml.verify(proof, vk).outputs",
            )
        if self.segments:  # the model's input is the first segment's, its output the last one's
            segs = getattr(vk, "segments", ())
            if len(segs) != len(self.segments):
                raise VerifyError(
                    f"the proof has {len(self.segments)} segments, the key {len(segs) or 'none'}",
                    where="proof",
                    hint="decode a split proof with its split verifying key",
                )
            first, last = self.segments[0].decoded(segs[0]), self.segments[-1].decoded(segs[-1])
            return Decoded(
                first.public_inputs,
                last.outputs,
                {**first.hashes, **last.hashes},
                last.layout,
                {k: v for k, v in {**first.commitments, **last.commitments}.items() if k == "params"},
            )
        return decode(
            self.instances, vk.settings, vk.meta["inputs"], vk.meta["outputs"], self.proof, vk.meta.get("commitments")
        )

    @property
    def outputs(self) -> list:
        """Public outputs decoded to float arrays (empty when outputs are private, hashed or committed). Only for a
        proof this process made (``keys.prove``); a loaded one's are ``zkml.verify(proof, vk).outputs``."""
        self._verified_only()
        return self.decoded().outputs

    @property
    def public_inputs(self) -> list:
        self._verified_only()
        return self.decoded().public_inputs

    @property
    def hashes(self) -> dict:
        """Poseidon hashes (0x big-endian hex) of the parts whose visibility is ``hashed`` (as ``outputs``)."""
        self._verified_only()
        return self.decoded().hashes

    @property
    def weights_commitment(self) -> str | None:
        """The KZG commitment to committed weights, read from the proof bytes with the key (None otherwise); for a
        split proof that of every segment holding weights, in order."""
        if self.segments:
            parts = [c for c in (p.weights_commitment for p in self.segments) if c]
            return "0x" + "".join(c[2:] for c in parts) if parts else None
        if self.vk is None:
            self.decoded()  # the refusal: read with a key
        return read_commitments(self.proof, self.vk.meta.get("commitments") or {}).get("params")

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        return f"Proof(model={self.model_id[:12] or '?'}, {len(self.proof)} bytes, {sum(map(len, self.instances))} public values{warn})"

    # (de)serialisation: ezkl's proof JSON plus a "zkml" section, so `ezkl verify` reads it too
    def to_json(self) -> dict:
        if self.segments:  # one file: each segment's ezkl proof object, in order
            return {"segments": [p.to_json() for p in self.segments], "zkml": dict(self.meta)}
        return {
            "protocol": None,
            "instances": [list(c) for c in self.instances],
            "proof": list(self.proof),
            "version": self.meta.get("ezkl_version"),
            "zkml": dict(self.meta),
        }

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | os.PathLike, vk=None) -> "Proof":
        hint = "pass a proof file written by Proof.save or prove-model prove"
        raw = read_json(path, error_cls=ArtifactError, stage="verify", hint=hint)
        return cls.from_json(raw, where=path, vk=vk)

    @classmethod
    def from_json(cls, raw: Any, where: object = "<proof>", vk=None) -> "Proof":
        hint = "pass a proof file written by Proof.save or prove-model prove"
        if isinstance(raw, dict) and "segments" in raw:
            if not isinstance(raw["segments"], list) or not raw["segments"]:
                raise ArtifactError(
                    "not a valid split proof: 'segments' must be a non-empty list",
                    stage="verify",
                    where=where,
                    hint=hint,
                )
            segs = tuple(cls.from_json(s, where=f"{where} -> segments[{i}]") for i, s in enumerate(raw["segments"]))
            meta = raw.get("zkml") if isinstance(raw.get("zkml"), dict) else {}
            proof = cls(b"", (), meta, None, segs)
            return proof.bind(vk) if vk is not None else proof
        try:
            proof = (
                bytes(raw["proof"])
                if isinstance(raw["proof"], list)
                else bytes.fromhex(raw["proof"].removeprefix("0x"))
            )
            instances = tuple(tuple(str(h) for h in col) for col in raw["instances"])
            for col in instances:
                for h in col:
                    if not _HEX32.fullmatch(h):
                        raise ValueError("an instance is not a 32-byte hex field element (64 hex digits)")
            meta = raw.get("zkml") or {}
            if not isinstance(meta, dict):
                raise ValueError("'zkml' section is not an object")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"not a valid proof file: {err}", stage="verify", where=where, hint=hint) from err
        if not proof:
            raise ArtifactError("the proof is empty", stage="verify", where=where, hint=hint)
        return cls(proof, instances, meta, vk)

    @classmethod
    def from_ezkl(cls, raw: Mapping, *, vk, timings: Mapping) -> "Proof":
        """A fresh proof from ezkl's JSON, bound to the key it was made with; ``meta`` records what that key says."""
        instances, data = tuple(tuple(c) for c in raw["instances"]), bytes(raw["proof"])
        committed = read_commitments(data, vk.meta.get("commitments") or {}).get("params")
        meta = {**claims_of(vk, committed), "created": time.time(), "timings": dict(timings)}
        if committed:  # informational, like the rest: a verifier reads it from the bytes
            meta["weights_commitment"] = committed
        return cls(data, instances, meta, vk, made_here=True)


def claims_of(vk, weights_commitment: str | None = None) -> dict:
    """The ``zkml`` section a proof made with ``vk`` (and, committed weights, ``weights_commitment``, read from
    its bytes) carries; a verifier compares it with the key's own."""
    settings = vk.settings
    return {
        "format": ZKML_FORMAT,
        "kind": "proof",
        "ezkl_version": ezkl_version(),
        "model_id": vk.pin_weights(weights_commitment).id,
        "key_id": vk.key_id,
        "model_sha256": vk.model_hash,
        "vk_sha256": vk.sha256,
        "settings_sha256": vk.meta["settings_sha256"],
        "bundle_cid": vk.core_cid,
        "srs": dict(vk.meta["srs"]),
        "visibility": key_visibility(settings),
        "layout": key_layout(settings, len(vk.meta["inputs"]), len(vk.meta["outputs"])),
        "inputs": vk.meta["inputs"],
        "outputs": vk.meta["outputs"],
        "input_scales": settings.get("model_input_scales", []),
        "output_scales": settings.get("model_output_scales", []),
        "logrows": settings["run_args"]["logrows"],
    }


CLAIMED_FIELDS = (
    "model_id",
    "key_id",
    "model_sha256",
    "vk_sha256",
    "settings_sha256",
    "bundle_cid",
    "srs",
    "visibility",
    "layout",
    "inputs",
    "outputs",
    "input_scales",
    "output_scales",
    "logrows",
)


def disagreements(meta: Mapping, vk, weights_commitment: str | None = None) -> list[str]:
    """The fields of a proof's ``zkml`` section that disagree with what ``vk`` says of a proof whose bytes carry
    ``weights_commitment`` (absent fields are not claims)."""
    claimed = [k for k in CLAIMED_FIELDS if k in meta]
    if not claimed:
        return []
    own = json.loads(json.dumps(claims_of(vk, weights_commitment)))
    return [k for k in claimed if json.loads(json.dumps(meta[k])) != own[k]]
