"""``zkml.load(path)``: whatever zkml artifact lies at ``path``, loaded and authenticated as its own loader does.

    zkml.load("keys/")        # Keys or SplitKeys (split.json + segNNN/)
    zkml.load("keys/vk")      # VerifyingKey or SplitVerifyingKey (``id=`` pins the model id you trust)
    zkml.load("proof.json")   # Proof (single or split): unverified until zkml.verify checks it against a key
    zkml.load("model.car")    # Bundle

Recognised: a model (directory or .onnx), a circuit, a split circuit, keys, split keys, a verifying key, a split
verifying key, a proof, a bundle (.car) and an SRS file (.srs, as an ``SRSInfo`` whose status is the verifier's
view of its digest). A contract directory is recognised (``artifact_kind``) but loaded by
``zkml.VerifierContract.load``, a layer above this one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..circuit.build import Circuit
from ..circuit.split import SplitCircuit
from ..errors import ArtifactError
from ..keys.keys import Keys, VerifyingKey
from ..keys.split import SplitKeys, SplitVerifyingKey
from ..model.model import load_model
from ..proof.proof import Proof
from ..srs import SRSInfo, is_dev_digest, known_ceremony_digests, srs_logrows
from ..support.files import read_json
from ..support.hashing import sha256_file

HINT = (
    "pass a model (.onnx or directory), circuit, keys or verifying-key directory (single or split), a proof .json, "
    "a bundle .car or an .srs file"
)
_SPLIT_KINDS = {
    "split_circuit": "split_circuit",
    "split_keys": "split_keys",
    "split_verifying_key": "split_verifying_key",
}
_DIR_MARKERS = (
    ("keys.json", "keys"),
    ("vk.json", "verifying_key"),
    ("circuit.json", "circuit"),
    ("contract.json", "contract"),
    ("model.onnx", "model"),
)


def artifact_kind(path: str | os.PathLike) -> str:
    """What lies at ``path``: model, circuit, split_circuit, keys, split_keys, verifying_key, split_verifying_key,
    proof, bundle, contract, solidity or srs. Decided from the layout and the files' own ``kind``; nothing is
    trusted by this: loading authenticates."""
    p = Path(path)
    if not p.exists():
        raise ArtifactError("nothing at this path", stage="load", where=p, hint="check the path")
    if p.is_dir():
        if (p / "split.json").exists():
            meta = read_json(p / "split.json", error_cls=ArtifactError, stage="load", hint=HINT)
            kind = _SPLIT_KINDS.get(meta.get("kind") if isinstance(meta, dict) else None)
            if kind is None:
                raise ArtifactError(
                    f"split.json names an unknown kind {meta.get('kind') if isinstance(meta, dict) else meta!r}",
                    stage="load",
                    where=p / "split.json",
                    hint=HINT,
                )
            return kind
        for marker, kind in _DIR_MARKERS:
            if (p / marker).exists():
                return kind
        raise ArtifactError("not a zkml artifact directory", stage="load", where=p, hint=HINT)
    suffix = p.suffix.lower()
    kind = {".onnx": "model", ".car": "bundle", ".srs": "srs", ".sol": "solidity", ".json": "proof"}.get(suffix)
    if kind is None:
        raise ArtifactError("cannot tell what this file is", stage="load", where=p, hint=HINT)
    return kind


def load(path: str | os.PathLike, *, id: str | None = None, kinds: tuple[str, ...] | None = None) -> Any:
    """The artifact at ``path`` as its zkml object (see the module docstring), authenticated by its own ``load``.
    ``id``: for a verifying key, the model id you trust (refused otherwise); elsewhere it is refused.
    ``kinds``: the kinds (``artifact_kind`` names) the caller can use; any other is refused, saying what it is."""
    p = Path(path)
    if isinstance(kinds, str):
        kinds = (kinds,)
    if kinds is not None and not set(kinds) <= set(_LABELS):
        raise ValueError(f"unknown artifact kinds {sorted(set(kinds) - set(_LABELS))}: use {sorted(_LABELS)}")
    kind = artifact_kind(p)
    if kinds is not None and kind not in kinds:
        both = {k for k in kinds if f"split_{k}" in kinds}  # a kind and its split form: named once
        wanted = " or ".join(
            dict.fromkeys(_label(k.removeprefix("split_") if k.removeprefix("split_") in both else k) for k in kinds)
        )
        raise ArtifactError(
            f"this is {_label(kind)}, and {wanted} is needed here",
            stage="load",
            where=p,
            hint=f"pass {wanted}" + (" (single or split)" if both else ""),
        )
    if id is not None and kind not in ("verifying_key", "split_verifying_key"):
        raise ArtifactError(
            f"id= pins a verifying key, and this is a {kind.replace('_', ' ')}",
            stage="load",
            where=p,
            hint="pass a verifying-key directory, or for a bundle use Bundle.verifying_key(id=...)",
        )
    if kind == "model":
        return load_model(p)
    if kind == "circuit":
        return Circuit.load(p)
    if kind == "split_circuit":
        return SplitCircuit.load(p)
    if kind == "keys":
        return Keys.load(p)
    if kind == "split_keys":
        return SplitKeys.load(p)
    if kind == "verifying_key":
        return VerifyingKey.load(p, id=id)
    if kind == "split_verifying_key":
        return SplitVerifyingKey.load(p, id=id)
    if kind == "proof":
        return Proof.load(p)
    if kind == "bundle":
        from .bundles import Bundle

        return Bundle.load(p)
    if kind == "srs":
        return srs_info(p)
    raise ArtifactError(
        f"a {kind.replace('_', ' ')} is not loaded here",
        stage="load",
        where=p,
        hint="load a verifier contract directory with zkml.VerifierContract.load; a .sol file is source "
        "only (prove-model contract compiles one)",
    )


_LABELS = {
    "keys": "a keys directory",
    "split_keys": "a split keys directory",
    "verifying_key": "a verifying-key directory",
    "split_verifying_key": "a split verifying-key directory",
    "circuit": "a circuit directory",
    "split_circuit": "a split circuit directory",
    "contract": "a contract directory",
    "model": "a model",
    "proof": "a proof",
    "bundle": "a bundle",
    "solidity": "a Solidity file",
    "srs": "an SRS file",
}


def _label(kind: str) -> str:
    return _LABELS.get(kind, f"a {kind.replace('_', ' ')}")


def srs_info(p: Path) -> SRSInfo:
    """An SRS file as a verifier sees it: its digest decides dev (generated here) and ceremony (zkml's table)."""
    digest = sha256_file(p)
    dev = is_dev_digest(digest)
    return SRSInfo(p, digest, srs_logrows(p), dev, not dev and digest in known_ceremony_digests())


__all__ = ["artifact_kind", "load", "srs_info"]
