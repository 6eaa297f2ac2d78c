"""The verifying statement: what a verifier pins, and the model id that names it everywhere.

A statement is the ordered verifying key(s) of a model (one unit, or every segment with its link layout), the
SRS digest (inside each key's identity), and, when the weights are committed, the weights fingerprint. Its
hash is the model id. For a model with fixed weights the statement is the key alone and the model id is the
key's id; with committed weights it is ``sha256({"kind": "statement", "key": <key id>, "weights_commitment": ...})``,
so a fingerprint cannot be swapped without changing the id a verifier pinned.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ArtifactError, VerifyError
from ..proof.proof import normalize_commitment, read_fingerprint
from ..support.files import ZKML_FORMAT, atomic_write_text, read_json
from ..support.hashing import canonical_json, sha256_bytes

WEIGHTS_FILE = "weights.json"  # beside a verifying key that pins one set of committed weights


def statement_id(key_id: str, weights_commitment: str | None = None) -> str:
    """The model id: the key's id alone, or the key's id with the committed weights' fingerprint."""
    if weights_commitment is None:
        return key_id
    return sha256_bytes(
        canonical_json(
            {"kind": "statement", "key": key_id, "weights_commitment": normalize_commitment(weights_commitment)}
        ).encode()
    )


def checked_commitment(commitment: str, committed: bool, where: object = "weights_commitment") -> str:
    """``commitment`` normalised, for a key whose weights are committed (``committed``); a clear refusal otherwise."""
    if not committed:
        raise VerifyError(
            "a weights fingerprint only goes with a key whose weights are committed",
            where=where,
            hint="compile with visibility params=committed, or verify without a weights commitment",
        )
    return read_fingerprint(commitment, VerifyError, where=where)


def save_weights(d: Path, key_id: str, commitment: str | None) -> None:
    if commitment is None:
        if (d / WEIGHTS_FILE).exists():
            (d / WEIGHTS_FILE).unlink()
        return
    atomic_write_text(
        d / WEIGHTS_FILE,
        json.dumps(
            {
                "format": ZKML_FORMAT,
                "kind": "statement",
                "key": key_id,
                "weights_commitment": commitment,
                "id": statement_id(key_id, commitment),
            },
            indent=1,
        ),
    )


def load_weights(d: Path, key_id: str, want_id: str | None) -> str | None:
    """The fingerprint a verifying-key directory pins (``weights.json``), trusted only as far as ``want_id`` goes:
    pinned to the statement id it is checked; pinned to the bare key id it is dropped (the caller pinned the
    architecture, not the weights); with no pin it is taken as the directory says, like every other file."""
    if not (d / WEIGHTS_FILE).exists():
        if want_id is not None and want_id != key_id:
            raise ArtifactError(
                f"this verifying key's identity is {key_id}, not the expected {want_id}",
                stage="verify",
                where=d,
                hint="you were given another model's key: get the key whose id you trust",
            )
        return None
    meta = read_json(
        d / WEIGHTS_FILE, error_cls=ArtifactError, stage="verify", hint="get the key again from its publisher"
    )
    try:
        commitment = normalize_commitment(meta["weights_commitment"])
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(
            f"weights.json has no readable weights commitment: {err}",
            stage="verify",
            where=d / WEIGHTS_FILE,
            hint="get the key again from its publisher",
        ) from None
    if meta.get("key") != key_id:
        raise ArtifactError(
            "weights.json names another verifying key",
            stage="verify",
            where=d / WEIGHTS_FILE,
            hint="get the key again from its publisher",
        )
    if want_id is None:
        return commitment
    if want_id == key_id:
        return None
    if want_id != statement_id(key_id, commitment):
        raise ArtifactError(
            f"this model's id is {statement_id(key_id, commitment)}, not the expected {want_id}",
            stage="verify",
            where=d,
            hint="you were given another model's key or weights fingerprint: get the statement whose id you trust",
        )
    return commitment


__all__ = ["WEIGHTS_FILE", "checked_commitment", "statement_id"]
