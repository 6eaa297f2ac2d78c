"""``verifier_contract()``: Solidity from ezkl, compiled by solc-js, as a ``VerifierContract``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .. import engine
from ..errors import ArtifactError, ContractError
from ..keys.keys import Keys
from ..keys.split import SplitKeys, SplitVerifyingKey
from ..keys.statement import statement_id
from ..proof.proof import read_commitments, read_fingerprint
from ..support.deps import ezkl_version
from ..support.files import ZKML_FORMAT, atomic_write_bytes, read_json
from ..support.hashing import canonical_json, sha256_bytes
from ..support.store import Store, zkml_home
from ..verifier.verification import as_vk
from ._app import app_contract, contracts_dir
from ._layout import split_links
from ._solc import DEFAULT_EVM_VERSION, EIP170_LIMIT, compile_solidity, solc_version


@dataclass(frozen=True, eq=False)
class VerifierContract:
    """A compiled verifier: ``source``, ``abi``, ``bytecode`` (creation) and ``deployed_bytecode``.

    A reusable verifier also carries ``vka``: this model's verifying-key artifact, registered on chain.

    Every kind of model has one: a split model's contract is the ``SplitVerifier`` (this contract's code) over
    ``segments``, each segment's own verifier, deployed together by ``chain.deploy``. With committed weights
    pinned (``weights_commitment``, from a pinned key or ``pin_weights``), ``chain.deploy`` puts a
    ``CommittedWeightsVerifier`` in front of each verifier: the chain then accepts only proofs of those weights.
    ``model_id`` is the statement it verifies (the key id, with the fingerprint when one is pinned).
    """

    name: str
    source: str = field(repr=False)
    abi: list = field(repr=False)
    bytecode: bytes = field(repr=False)
    deployed_bytecode: bytes = field(repr=False)
    reusable: bool
    vka: tuple[bytes, ...] | None = field(default=None, repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False)
    segments: tuple["VerifierContract", ...] = field(default=(), repr=False)  # a split model: each segment's verifier
    weights_commitment: str | None = None  # committed weights pinned: checked on chain in front of the verifier

    @property
    def deployed_size(self) -> int:
        return len(self.deployed_bytecode)

    @property
    def key_id(self) -> str:
        """The id of the verifying key (or split chain) this contract verifies, without any weights fingerprint."""
        return self.meta.get("key_id") or self.meta.get("model_id", "")

    @property
    def model_id(self) -> str:
        """The statement this contract verifies: the key's id, with the pinned weights fingerprint (if any)."""
        return statement_id(self.key_id, self.weights_commitment) if self.key_id else ""

    @property
    def committed(self) -> bool:
        """Whether the weights are committed (every proof carries their commitment) rather than fixed in the code.
        A split model's are when any segment's are (a segment with no weights has nothing to commit), as for
        ``SplitVerifyingKey.committed``."""
        if self.segments:
            return any(s.committed for s in self.segments)
        return bool((self.meta.get("commitments") or {}).get("params"))

    def weights_in(self, proof) -> str | None:
        """The weights commitment a proof carries, read from its bytes (the calldata) with this contract's
        commitment layout; for a split proof that of every segment holding weights, in order (as
        ``Proof.weights_commitment``). None when the weights are fixed."""
        if not self.committed:
            return None
        if self.segments:
            if len(proof.segments) != len(self.segments):
                return None
            parts = [c.weights_in(p) for c, p in zip(self.segments, proof.segments) if c.committed]
            return "0x" + "".join(x[2:] for x in parts) if all(parts) else None
        return read_commitments(proof.proof, self.meta.get("commitments") or {}).get("params")

    def pin_weights(self, commitment: str | None) -> "VerifierContract":
        """This contract accepting on chain only proofs made with the weights of ``commitment`` (the fingerprint
        of ``zkml.commit``): ``chain.deploy`` puts a ``CommittedWeightsVerifier`` in front of each verifier."""
        if commitment is None:
            return replace(self, weights_commitment=None, segments=tuple(s.pin_weights(None) for s in self.segments))
        where = "weights_commitment"
        if not self.committed:
            raise ContractError(
                "a weights fingerprint only goes with a key whose weights are committed",
                where=where,
                hint="compile with visibility params=committed, or drop the weights commitment",
            )
        if self.reusable:
            raise ContractError(
                "the committed-weights check cannot sit in front of the reusable verifier (it takes the "
                "VKA in every call)",
                where="reusable",
                hint="use the per-model verifier (drop reusable=True / --reusable)",
            )
        c = read_fingerprint(commitment, ContractError, where=where)
        sizes = [_weight_points(u) for u in (self.segments or (self,))]
        if len(c) - 2 != 128 * sum(sizes):
            raise ContractError(
                f"the commitment has {(len(c) - 2) // 128} points, this model's weights have {sum(sizes)}",
                where=where,
                hint="pass the fingerprint made with this model's keys (zkml.commit)",
            )
        if not self.segments:
            return replace(self, weights_commitment=c)
        parts, pos = [], 2
        for seg, n in zip(self.segments, sizes):  # a segment with no weights has no check in front of it
            parts.append(seg.pin_weights("0x" + c[pos : pos + 128 * n] if n else None))
            pos += 128 * n
        return replace(self, weights_commitment=c, segments=tuple(parts))

    @property
    def dev_srs(self) -> bool:
        return bool(self.meta.get("dev_srs", True))

    @property
    def vk_hash(self) -> str:
        return self.meta.get("vk_sha256", "")

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        split = f"{len(self.segments)} segments, " if self.segments else ""
        pinned = "weights pinned, " if self.weights_commitment else ""
        return (
            f"VerifierContract({self.name}, {split}{pinned}{'reusable, ' if self.reusable else ''}"
            f"{self.deployed_size} bytes deployed{warn})"
        )

    def save(self, path: str | os.PathLike) -> Path:
        d = Path(path)
        for i, seg in enumerate(self.segments):
            seg.save(d / f"seg{i:03d}")
        atomic_write_bytes(d / f"{self.name}.sol", self.source.encode())
        atomic_write_bytes(d / "abi.json", json.dumps(self.abi, indent=1).encode())
        atomic_write_bytes(d / "bytecode.hex", self.bytecode.hex().encode())
        atomic_write_bytes(d / "deployed.hex", self.deployed_bytecode.hex().encode())
        if self.vka is not None:
            atomic_write_bytes(d / "vka.json", json.dumps(["0x" + w.hex() for w in self.vka]).encode())
        meta = {
            **self.meta,
            "name": self.name,
            "reusable": self.reusable,
            "segments": len(self.segments),
            "weights_commitment": self.weights_commitment,
            "model_id": self.model_id,
            "key_id": self.key_id,
        }
        atomic_write_bytes(d / "contract.json", json.dumps(meta, indent=1).encode())
        return d

    @classmethod
    def load(cls, path: str | os.PathLike) -> "VerifierContract":
        d = Path(path)
        hint = "generate the contract again (zkml.verifier_contract or prove-model contract)"
        meta = read_json(d / "contract.json", error_cls=ArtifactError, stage="contract", hint=hint)
        try:
            vka = None
            if (d / "vka.json").exists():
                vka = tuple(bytes.fromhex(w[2:]) for w in json.loads((d / "vka.json").read_text()))
            segments = tuple(cls.load(d / f"seg{i:03d}") for i in range(int(meta.get("segments") or 0)))
            c = cls(
                meta["name"],
                (d / f"{meta['name']}.sol").read_text(),
                json.loads((d / "abi.json").read_text()),
                bytes.fromhex((d / "bytecode.hex").read_text()),
                bytes.fromhex((d / "deployed.hex").read_text()),
                bool(meta["reusable"]),
                vka,
                meta,
                tuple(s.pin_weights(None) for s in segments),
            )
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise ArtifactError(f"incomplete contract directory: {err}", stage="contract", where=d, hint=hint) from err
        if segments and len(meta.get("links") or []) != len(segments) - 1:
            raise ArtifactError(
                "a split contract needs one link between each two segments",
                stage="contract",
                where=d / "contract.json",
                hint=hint,
            )
        return c.pin_weights(meta.get("weights_commitment"))


def verifier_contract(
    vk,
    reusable: bool = False,
    *,
    evm_version: str = DEFAULT_EVM_VERSION,
    production: bool = False,
    store: Store | None = None,
    weights_commitment: str | None = None,
) -> VerifierContract:
    """The Solidity verifier for ``vk`` (a VerifyingKey, Keys, their split kinds, a Bundle or a directory), compiled
    with solc-js.

    ``reusable=True`` gives ezkl's shared verifier plus this model's VKA to register on chain (single models only).
    ``production=True`` refuses keys made with an insecure dev SRS. A split model gets a ``SplitVerifier`` over its
    segments' verifiers. ``weights_commitment`` (or the fingerprint a pinned key carries) pins committed weights:
    the deployed contract then checks them on chain (``VerifierContract.pin_weights``).
    """
    vk, units, pinned = _verifying_key(vk)
    pin = _one_pin(vk.weights_commitment, weights_commitment)
    if isinstance(vk, SplitVerifyingKey):
        if reusable:
            raise ContractError(
                "a split model has no reusable verifier: its SplitVerifier calls each segment's own verifier",
                where="reusable",
                hint="drop reusable=True / --reusable",
            )
        parts = tuple(
            verifier_contract(k, evm_version=evm_version, production=production, store=store)
            for k in (units if units is not None else vk.segments)
        )
        return _split_contract(vk, parts, evm_version).pin_weights(pin)
    if production and (vk.dev_srs or not pinned):
        what = "an INSECURE dev SRS" if vk.dev_srs else "an SRS whose digest was not pinned"
        raise ContractError(
            f"refusing a production verifier for keys made with {what}",
            where=vk.path,
            hint="run setup with a ceremony SRS and its published digest (prove-model setup --srs FILE --srs-sha256 HEX)",
        )
    entry, _ = (store or Store()).get_or_build(
        "contracts", _cache_key(vk, reusable, evm_version), lambda d: _build(vk, reusable, evm_version, d)
    )
    return check_size(VerifierContract.load(entry)).pin_weights(pin)


def _verifying_key(vk):
    """(the verifying key, the segments' Keys or VerifyingKeys of a split model else None, whether the SRS digest
    was pinned). Keys are preferred: the key's maker's own setup record says whether the SRS digest was pinned."""
    if isinstance(vk, (str, os.PathLike)):
        p = Path(vk)
        if (p / "keys.json").exists():
            vk = Keys.load(p)
        elif (p / "split.json").exists() and _json_kind(p / "split.json") == "split_keys":
            vk = SplitKeys.load(p)
    units = vk.segments if isinstance(vk, SplitKeys) else None
    if not isinstance(vk, (Keys, SplitKeys)):
        vk = as_vk(vk)
        units = vk.segments if isinstance(vk, SplitVerifyingKey) else None
    pinned = all(u.srs.pinned for u in units) if units is not None else vk.srs.pinned
    return as_vk(vk), units, pinned


def _cache_key(vk, reusable: bool, evm_version: str) -> str:
    # "meta": 2, entries whose contract.json records the commitment layout (older ones are rebuilt, not reused)
    return sha256_bytes(
        canonical_json(
            {
                "format": ZKML_FORMAT,
                "ezkl": ezkl_version(),
                "vk": vk.key_id,
                "reusable": reusable,
                "evm": evm_version,
                "solc": solc_version(),
                "meta": 2,
            }
        ).encode()
    )[:40]


def _meta(vk, evm_version: str) -> dict:
    """What every contract's metadata starts with: the tools that made it and the key it verifies."""
    return {
        "format": ZKML_FORMAT,
        "kind": "contract",
        "ezkl_version": ezkl_version(),
        "solc_version": solc_version(),
        "evm_version": evm_version,
        "model_id": vk.key_id,
        "key_id": vk.key_id,
        "model_sha256": vk.model_hash,
    }


def _build(vk, reusable: bool, evm_version: str, d: Path) -> None:
    """Generate ezkl's verifier for ``vk`` into ``d``, compile it and save it there as a VerifierContract."""
    _generate(vk, reusable, d)
    name, compiled = _pick(compile_solidity((d / "Verifier.sol").read_text(), evm_version=evm_version), reusable)
    meta = {
        **_meta(vk, evm_version),
        "vk_sha256": vk.sha256,
        "dev_srs": vk.dev_srs,
        "commitments": dict(vk.meta.get("commitments") or {}),
    }
    vka = _read_vka(d / "vka.bin") if reusable else None
    VerifierContract(
        name,
        (d / "Verifier.sol").read_text(),
        compiled["abi"],
        compiled["bytecode"],
        compiled["deployed_bytecode"],
        reusable,
        vka,
        meta,
    ).save(d)
    for tmp in ("Verifier.sol", "Verifier.sol.abi", "vka.bin"):
        (d / tmp).unlink(missing_ok=True)


def _weight_points(contract: VerifierContract) -> int:
    """How many points the weights' commitment of a single verifier has (0: its weights are fixed, or it has none)."""
    return int((contract.meta.get("commitments") or {}).get("params") or 0)


def _json_kind(path: Path) -> Any:
    meta = read_json(path, error_cls=ArtifactError, stage="contract", hint="pass a keys or verifying-key directory")
    return meta.get("kind") if isinstance(meta, dict) else None


def _one_pin(*pins: str | None) -> str | None:
    """The one weights fingerprint the caller and the key pin (two that differ: a refusal, not a choice)."""
    given = set()
    for c in pins:
        if c is not None:
            given.add(read_fingerprint(c, ContractError))
    if len(given) > 1:
        raise ContractError(
            "the weights commitment given is not the one the verifying key pins",
            where="weights_commitment",
            hint="pass the fingerprint of the model you mean, or a key that pins no other one",
        )
    return given.pop() if given else None


def _split_contract(vk: SplitVerifyingKey, parts: tuple[VerifierContract, ...], evm_version: str) -> VerifierContract:
    """The SplitVerifier over ``parts`` (each segment's verifier), with the link layout read from the keys' counts."""
    links = split_links(vk)
    art = app_contract("SplitVerifier", evm_version=evm_version)
    meta = {**_meta(vk, evm_version), "dev_srs": vk.dev_srs, "links": [list(link) for link in links]}
    return VerifierContract(
        "SplitVerifier",
        (contracts_dir() / "SplitVerifier.sol").read_text(),
        art["abi"],
        art["bytecode"],
        art["deployed_bytecode"],
        False,
        None,
        meta,
        parts,
    )


def check_size(contract: VerifierContract) -> VerifierContract:
    """EIP-170: chains refuse runtime code over 24,576 bytes."""
    if contract.deployed_size > EIP170_LIMIT:
        raise ContractError(
            f"the verifier's runtime bytecode is {contract.deployed_size} bytes, over the EIP-170 limit "
            f"of {EIP170_LIMIT}",
            where="deployed_bytecode",
            hint="use the reusable verifier (verifier_contract(vk, reusable=True) or --reusable)",
        )
    return contract


def _generate(vk, reusable: bool, d: Path) -> None:
    # ezkl's svm lookups go to zkml's own data dir, never into the user's home
    engine.evm_verifier(
        vk.path / "vk.key",
        vk.path / "settings.json",
        vk.srs.path,
        d / "Verifier.sol",
        reusable=reusable,
        vka=d / "vka.bin" if reusable else None,
        home=zkml_home() / "ezkl-home",
    )


def _pick(compiled: dict, reusable: bool) -> tuple[str, dict]:
    want = "Halo2VerifierReusable" if reusable else "Halo2Verifier"
    if want in compiled:
        return want, compiled[want]
    name = max(compiled, key=lambda n: len(compiled[n]["deployed_bytecode"]))
    return name, compiled[name]


def _read_vka(path: Path) -> tuple[bytes, ...]:
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    if len(data) != 8 + 32 * n:
        raise ContractError(
            f"unexpected VKA file layout ({len(data)} bytes for {n} words)",
            where=path,
            hint="report this: the ezkl version may have changed its VKA format",
        )
    return tuple(data[8 + 32 * i : 40 + 32 * i] for i in range(n))
