"""``verifier_contract()``: Solidity from ezkl, compiled by solc-js, as a ``VerifierContract``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import engine
from ..errors import ArtifactError, ContractError
from ..keys.keys import Keys
from ..support.deps import ezkl_version, need
from ..support.files import ZKML_FORMAT, atomic_write_bytes, read_json
from ..support.hashing import canonical_json, sha256_bytes
from ..support.store import Store, zkml_home
from ..verifier.verification import as_vk
from ._solc import DEFAULT_EVM_VERSION, EIP170_LIMIT, compile_solidity, solc_version

@dataclass(frozen=True, eq=False)
class VerifierContract:
    """A compiled verifier: ``source``, ``abi``, ``bytecode`` (creation) and ``deployed_bytecode``.

    A reusable verifier also carries ``vka``: this model's verifying-key artifact, registered on chain.
    """

    name: str
    source: str = field(repr=False)
    abi: list = field(repr=False)
    bytecode: bytes = field(repr=False)
    deployed_bytecode: bytes = field(repr=False)
    reusable: bool
    vka: tuple[bytes, ...] | None = field(default=None, repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def deployed_size(self) -> int:
        return len(self.deployed_bytecode)

    @property
    def dev_srs(self) -> bool:
        return bool(self.meta.get("dev_srs", True))

    @property
    def vk_hash(self) -> str:
        return self.meta.get("vk_sha256", "")

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        return f"VerifierContract({self.name}, {'reusable, ' if self.reusable else ''}{self.deployed_size} bytes deployed{warn})"

    def save(self, path: str | os.PathLike) -> Path:
        d = Path(path)
        atomic_write_bytes(d / f"{self.name}.sol", self.source.encode())
        atomic_write_bytes(d / "abi.json", json.dumps(self.abi, indent=1).encode())
        atomic_write_bytes(d / "bytecode.hex", self.bytecode.hex().encode())
        atomic_write_bytes(d / "deployed.hex", self.deployed_bytecode.hex().encode())
        if self.vka is not None:
            atomic_write_bytes(d / "vka.json", json.dumps(["0x" + w.hex() for w in self.vka]).encode())
        atomic_write_bytes(d / "contract.json", json.dumps({**self.meta, "name": self.name, "reusable": self.reusable}, indent=1).encode())
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
            return cls(meta["name"], (d / f"{meta['name']}.sol").read_text(), json.loads((d / "abi.json").read_text()),
                       bytes.fromhex((d / "bytecode.hex").read_text()), bytes.fromhex((d / "deployed.hex").read_text()),
                       bool(meta["reusable"]), vka, meta)
        except (OSError, KeyError, ValueError) as err:
            raise ArtifactError(f"incomplete contract directory: {err}", stage="contract", where=d, hint=hint) from err


def verifier_contract(vk, reusable: bool = False, *, evm_version: str = DEFAULT_EVM_VERSION, production: bool = False,
                      store: Store | None = None) -> VerifierContract:
    """The Solidity verifier for ``vk`` (a VerifyingKey, Keys or directory), compiled with solc-js.

    ``reusable=True`` gives ezkl's shared verifier plus this model's VKA to register on chain.
    ``production=True`` refuses keys made with an insecure dev SRS.
    """
    if isinstance(vk, (str, os.PathLike)) and (Path(vk) / "keys.json").exists():
        vk = Keys.load(vk)  # the key's maker: its own setup record says whether the SRS digest was pinned
    if not isinstance(vk, Keys):
        vk = as_vk(vk)
    pinned = vk.srs.pinned
    vk = as_vk(vk)
    if production and (vk.dev_srs or not pinned):
        what = "an INSECURE dev SRS" if vk.dev_srs else "an SRS whose digest was not pinned"
        raise ContractError(f"refusing a production verifier for keys made with {what}", where=vk.path,
                            hint="run setup with a ceremony SRS and its published digest (prove-model setup --srs FILE --srs-sha256 HEX)")
    store = store or Store()
    key = sha256_bytes(canonical_json({"format": ZKML_FORMAT, "ezkl": ezkl_version(), "vk": vk.id, "reusable": reusable,
                                       "evm": evm_version, "solc": solc_version()}).encode())[:40]

    def build(d: Path) -> None:
        _generate(vk, reusable, d)
        name, compiled = _pick(compile_solidity((d / "Verifier.sol").read_text(), evm_version=evm_version), reusable)
        meta = {"format": ZKML_FORMAT, "kind": "contract", "ezkl_version": ezkl_version(), "solc_version": solc_version(),
                "evm_version": evm_version, "vk_sha256": vk.sha256, "model_id": vk.id, "model_sha256": vk.model_hash,
                "dev_srs": vk.dev_srs}
        vka = _read_vka(d / "vka.bin") if reusable else None
        VerifierContract(name, (d / "Verifier.sol").read_text(), compiled["abi"], compiled["bytecode"],
                         compiled["deployed_bytecode"], reusable, vka, meta).save(d)
        for tmp in ("Verifier.sol", "Verifier.sol.abi", "vka.bin"):
            (d / tmp).unlink(missing_ok=True)

    entry, _ = store.get_or_build("contracts", key, build)
    return check_size(VerifierContract.load(entry))


def check_size(contract: VerifierContract) -> VerifierContract:
    """EIP-170: chains refuse runtime code over 24,576 bytes."""
    if contract.deployed_size > EIP170_LIMIT:
        raise ContractError(f"the verifier's runtime bytecode is {contract.deployed_size} bytes, over the EIP-170 limit "
                            f"of {EIP170_LIMIT}", where="deployed_bytecode",
                            hint="use the reusable verifier (verifier_contract(vk, reusable=True) or --reusable)")
    return contract


def _generate(vk, reusable: bool, d: Path) -> None:
    # ezkl's svm lookups go to zkml's own data dir, never into the user's home
    engine.evm_verifier(vk.path / "vk.key", vk.path / "settings.json", vk.srs.path, d / "Verifier.sol", reusable=reusable,
                        vka=d / "vka.bin" if reusable else None, home=zkml_home() / "ezkl-home")


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
        raise ContractError(f"unexpected VKA file layout ({len(data)} bytes for {n} words)", where=path,
                            hint="report this: the ezkl version may have changed its VKA format")
    return tuple(data[8 + 32 * i : 40 + 32 * i] for i in range(n))


def calldata(proof, contract: VerifierContract | None = None, vka: tuple[bytes, ...] | None = None) -> bytes:
    """ABI-encoded ``verifyProof`` calldata for ``proof`` (with the VKA for a reusable verifier); for a split
    proof, the ``SplitVerifier``'s ``verifyProof(bytes[],uint256[][])`` with every segment."""
    eth_abi = need("eth_abi")
    from eth_utils import keccak

    if proof.segments:
        insts = [[int.from_bytes(bytes.fromhex(h), "little") for col in p.instances for h in col] for p in proof.segments]
        return keccak(text="verifyProof(bytes[],uint256[][])")[:4] + eth_abi.encode(
            ["bytes[]", "uint256[][]"], [[p.proof for p in proof.segments], insts])

    instances = [int.from_bytes(bytes.fromhex(h), "little") for col in proof.instances for h in col]
    vka = vka if vka is not None else (contract.vka if contract is not None and contract.reusable else None)
    if vka is None:
        return keccak(text="verifyProof(bytes,uint256[])")[:4] + eth_abi.encode(["bytes", "uint256[]"], [proof.proof, instances])
    return keccak(text="verifyProof(bytes,uint256[],bytes32[])")[:4] + eth_abi.encode(
        ["bytes", "uint256[]", "bytes32[]"], [proof.proof, instances, list(vka)])


def register_calldata(vka: tuple[bytes, ...]) -> bytes:
    eth_abi = need("eth_abi")
    from eth_utils import keccak

    return keccak(text="registerVka(bytes32[])")[:4] + eth_abi.encode(["bytes32[]"], [list(vka)])


def decode_reusable_return(data: bytes) -> tuple[bool, bytes, list[float]]:
    """The reusable verifier's return data: success word, VKA digest, offset (0x60), then outputs x 1e18 (no length)."""
    if len(data) < 96 or (len(data) - 96) % 32:
        raise ContractError(f"unexpected return data of {len(data)} bytes from the reusable verifier", where="returndata",
                            hint="check that the address holds ezkl's reusable verifier")
    words = [data[i : i + 32] for i in range(0, len(data), 32)]
    outs = [int.from_bytes(w, "big", signed=True) / 1e18 for w in words[3:]]
    return int.from_bytes(words[0], "big") == 1, words[1], outs
