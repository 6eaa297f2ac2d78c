"""``verify()`` and ``Verification``: a proof checked against a verifying key, and what the key says it proves."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import engine
from ..errors import InvalidProofError, StoreError, VerifyError
from ..keys.keys import Keys, VerifyingKey
from ..keys.split import SplitKeys, SplitVerifyingKey, load_vk
from ..proof.proof import (
    FIELD_MODULUS,
    Proof,
    check_proof_encoding,
    decode,
    disagreements,
    expected_instances,
    normalize_commitment,
    read_commitments,
)
from ..support.files import atomic_write_text, private_tempdir
from ..support.store import Store


@dataclass(frozen=True)
class Verification:
    """Truthy iff the proof verified. ``reason`` says why not.

    ``outputs``, ``public_inputs`` and ``hashes`` are decoded with the verifying key's own settings (empty
    when the proof did not verify); ``model_id`` is the key's identity.
    """

    ok: bool
    reason: str | None = None
    model_hash: str = ""
    dev_srs: bool = True
    seconds: float = 0.0
    model_id: str = ""
    outputs: list = field(default_factory=list, repr=False)
    public_inputs: list = field(default_factory=list, repr=False)
    hashes: dict = field(default_factory=dict, repr=False)
    weights_commitment: str | None = None  # read from the proof bytes with the key, when the weights are committed
    key_id: str = ""  # the verifying key's (or chain's) own id; model_id adds the weights fingerprint to it
    weights_checked: bool = False  # the fingerprint was compared with one the verifier pinned
    # the SRS as this verifier sees it (zkml.srs.srs_status): ceremony / pinned / unknown; never from a key file's word
    srs_status: str = "unknown"
    srs_name: str | None = None  # the ceremony file, e.g. perpetual-powers-of-tau-raw-15
    srs_message: str = "unknown SRS: whoever made this SRS may forge proofs"

    @property
    def weights_note(self) -> str | None:
        """In words, what this verdict says about the weights (None: they are fixed in the key)."""
        if not self.weights_commitment:
            return None
        if self.weights_checked:
            return (
                "weights checked: the proof's weights commitment is the pinned fingerprint (pinned by the verifier, "
                "or by the key or bundle it loaded: pin that statement's model id, --vk-id)"
            )
        return (
            "weights NOT checked: the proof was made with the weights of this commitment, which nobody pinned; "
            "compare the model id with the published one, or pass the published fingerprint"
        )

    def __bool__(self) -> bool:
        return self.ok

    def raise_for_invalid(self) -> "Verification":
        if not self.ok:
            raise InvalidProofError(
                f"proof is invalid: {self.reason}", hint="the proof, its public values or the key do not match"
            )
        return self


def _srs_fields(vk) -> dict:
    s = vk.srs_status
    return {"srs_status": s.kind, "srs_name": s.name, "srs_message": s.message}


def as_proof(proof: Any) -> Proof:
    if isinstance(proof, Proof):
        return proof
    if isinstance(proof, (str, os.PathLike)):
        return Proof.load(proof)
    raise VerifyError(
        f"expected a zkml.Proof or a proof file path, got {type(proof).__name__}",
        where="proof",
        hint="pass the value returned by keys.prove() or a saved proof file",
    )


def as_vk(vk: Any) -> VerifyingKey:
    """A VerifyingKey from a VerifyingKey, Keys, a directory, or anything with ``verifying_key()`` (a Bundle)."""
    if isinstance(vk, (VerifyingKey, SplitVerifyingKey)):
        return vk
    if isinstance(vk, (Keys, SplitKeys)):
        return vk.vk
    if isinstance(vk, (str, os.PathLike)):
        return load_vk(vk)
    if callable(getattr(vk, "verifying_key", None)):
        return vk.verifying_key()
    raise VerifyError(
        f"expected a zkml.VerifyingKey (or Keys, a Bundle, or a directory), got {type(vk).__name__}",
        where="vk",
        hint="pass keys.vk or a saved verifying-key directory",
    )


def verify(proof: Proof | str | os.PathLike, vk: Any, *, weights_commitment: str | None = None) -> Verification:
    """Check ``proof`` against a verifying key or a ``Bundle`` (vk, settings and SRS; never the proving key).

    Everything reported is read with the key: the proof file's own ``zkml`` section only has to agree.
    ``weights_commitment``: accept only a proof whose committed weights have this commitment (read from the
    proof bytes, never from a field the prover writes): the fingerprint the model's owner published.
    """
    proof = as_proof(proof)
    t0 = time.perf_counter()
    vk = as_vk(vk)  # a statement: the key(s), and the fingerprint it pins (a bundle's or vk.pin_weights')
    pins = [c for c in (vk.weights_commitment, weights_commitment) if c is not None]

    def fail(reason: str) -> Verification:
        return Verification(
            False,
            reason,
            vk.model_hash,
            vk.dev_srs,
            time.perf_counter() - t0,
            vk.id,
            key_id=vk.key_id,
            **_srs_fields(vk),
        )

    if proof.segments or isinstance(vk, SplitVerifyingKey):
        return _verify_split(proof, vk, pins, fail, t0)

    committed = read_commitments(proof.proof, vk.meta.get("commitments") or {}).get("params")
    wrong = disagreements(proof.meta, vk, committed)
    if wrong:
        if any(k in wrong for k in ("model_id", "vk_sha256", "model_sha256", "bundle_cid")):
            where = f" (bundle {proof.meta['bundle_cid']}, not {vk.core_cid})" if "bundle_cid" in wrong else ""
            return fail(
                f"the proof file says it was made for another verifying key or weights: model {str(proof.meta.get('model_id', '?'))[:12]}, while its "
                f"bytes prove model {vk.pin_weights(committed).id[:12]} under this key{where}"
            )
        return fail(
            f"the proof file's metadata disagrees with the verifying key on {', '.join(wrong)}: "
            "its values are decoded with the key's settings, so these fields were edited"
        )
    flat = [h for col in proof.instances for h in col]
    want = expected_instances(vk.settings, len(vk.meta["inputs"]), len(vk.meta["outputs"]))
    if len(flat) != want:
        return fail(f"the proof has {len(flat)} public values, the key's circuit has {want}")
    for i, h in enumerate(flat):
        if int.from_bytes(bytes.fromhex(h), "little") >= FIELD_MODULUS:
            return fail(
                f"public value #{i} is not a canonical field element (>= the BN254 scalar modulus): an aliased value"
            )
    bad = check_proof_encoding(proof.proof)
    if bad:
        return fail(bad)
    wrong_weights = _weights_mismatch(committed, pins)
    if wrong_weights:
        return fail(wrong_weights)
    with private_tempdir() as tmp:
        ok, reason = _ezkl_verify(proof, vk, tmp / "proof.json")
        if not ok:
            return fail(reason or "ezkl rejected the proof")
        # halo2 reads the transcript it needs and ignores the rest: a proof with bytes appended would
        # still verify. Only the exact encoding is accepted: without its last byte it must fail. That
        # costs a second verification once per key: a proof of L bytes that verifies while its first L-1
        # do not fixes the transcript's length at L, which this verifier then remembers for the key.
        n = canonical_length(vk)
        if n is None:
            if (
                len(proof.proof) > 1
                and _ezkl_verify(Proof(proof.proof[:-1], proof.instances, {}), vk, tmp / "short.json")[0]
            ):
                return fail("the proof has trailing bytes after its transcript (not the canonical encoding)")
            learn_length(vk, len(proof.proof))
        elif len(proof.proof) != n:
            return fail(
                f"the proof is {len(proof.proof)} bytes and this key's transcript is {n}: trailing bytes "
                "(not the canonical encoding)"
            )
    d = decode(
        proof.instances, vk.settings, vk.meta["inputs"], vk.meta["outputs"], proof.proof, vk.meta.get("commitments")
    )
    return _valid(vk, committed, pins, t0, d)


def _valid(vk, committed: str | None, pins: list, t0: float, d) -> Verification:
    """A verdict for the statement the proof was checked against: the key, with the weights the proof carries."""
    return Verification(
        True,
        None,
        vk.model_hash,
        vk.dev_srs,
        time.perf_counter() - t0,
        vk.pin_weights(committed).id,
        d.outputs,
        d.public_inputs,
        d.hashes,
        committed,
        key_id=vk.key_id,
        weights_checked=bool(pins),
        **_srs_fields(vk),
    )


def _weights_mismatch(found: str | None, expected: list) -> str | None:
    """Why the commitment read from the proof bytes is not every expected fingerprint (None: it is, or none was asked)."""
    for want in expected:
        try:
            want = normalize_commitment(want)
        except ValueError as err:
            raise VerifyError(
                f"cannot read the expected weights commitment: {err}",
                where="weights_commitment",
                hint="pass the fingerprint printed by zkml.commit / prove-model commit",
            ) from None
        if found is None:
            return "this key's weights are not committed: there is no weights commitment to compare"
        if found != want:
            return "the proof's weights commitment is not the expected one: another set of weights produced it"
    return None


def _verify_split(proof: Proof, vk, pins: list, fail, t0: float) -> Verification:
    """Every segment against its own key, and every link: the output commitment of segment i, read from its
    proof bytes, equals the input commitment of segment i+1, read from its proof bytes."""
    if not proof.segments or not isinstance(vk, SplitVerifyingKey):
        return fail("a split proof needs a split verifying key and the other way round")
    if len(proof.segments) != len(vk.segments):
        return fail(f"the proof has {len(proof.segments)} segments, the key's model has {len(vk.segments)}")
    for i, (seg, key) in enumerate(zip(proof.segments, vk.segments)):
        r = verify(seg, key)
        if not r:
            return fail(f"segment {i}: {r.reason}")
    fingerprint = proof.bind(vk).weights_commitment
    claimed = proof.meta.get("model_id")
    if claimed is not None and claimed not in (vk.pin_weights(fingerprint).id, vk.key_id):
        return fail(
            f"the proof file says it was made for another verifying key or weights: model {str(claimed)[:12]}, while its bytes prove model "
            f"{vk.pin_weights(fingerprint).id[:12]} under this key"
        )
    for i in range(len(vk.segments) - 1):
        out = read_commitments(proof.segments[i].proof, vk.segments[i].meta.get("commitments") or {}).get("output")
        nxt = read_commitments(proof.segments[i + 1].proof, vk.segments[i + 1].meta.get("commitments") or {}).get(
            "input"
        )
        if out is None or nxt is None:
            return fail(f"segments {i} and {i + 1} are not linked by commitments in their keys")
        if out != nxt:
            return fail(
                f"segment {i + 1} did not take segment {i}'s output: their link commitments differ "
                "(a segment from another inference, or segments out of order)"
            )
    wrong_weights = _weights_mismatch(fingerprint, pins)
    if wrong_weights:
        return fail(wrong_weights)
    return _valid(vk, fingerprint, pins, t0, proof.decoded(vk))


_LENGTHS: dict[str, int] = {}  # key id -> the length of its proofs' transcript, learnt by this verifier


def _length_file(vk: VerifyingKey) -> Path:
    return Store().root / "proof-lengths" / vk.key_id


def canonical_length(vk: VerifyingKey) -> int | None:
    """The byte length of this key's proofs, once this verifier has learnt it (its own cache: never the prover's)."""
    n = _LENGTHS.get(vk.key_id)
    if n is None:
        try:
            n = int(_length_file(vk).read_text())
        except (OSError, ValueError):
            return None
        if n < 32 or n % 32:  # not a transcript of 32-byte words: not believed, learnt again
            return None
        _LENGTHS[vk.key_id] = n
    return n


def learn_length(vk: VerifyingKey, n: int) -> None:
    _LENGTHS[vk.key_id] = n
    with contextlib.suppress(StoreError, OSError):  # a read-only cache: the check is made again next time
        atomic_write_text(_length_file(vk), str(n))


def _ezkl_verify(proof: Proof, vk: VerifyingKey, path: Path) -> tuple[bool, str | None]:
    # ezkl reads only "proof" and "instances"; the zkml section is left out
    path.write_text(
        json.dumps({"protocol": None, "instances": [list(c) for c in proof.instances], "proof": list(proof.proof)})
    )
    return engine.verify(path, vk.path / "settings.json", vk.path / "vk.key", vk.srs.path)
