"""The application contracts in ``circuits/contracts``: compile and deploy them next to a verifier."""

from __future__ import annotations

from pathlib import Path

from ..errors import ContractError
from ..support.checkout import find_upwards
from ._solc import DEFAULT_EVM_VERSION, compile_solidity

PACKAGED = Path(__file__).with_name("contracts")  # circuits/contracts, as the wheel ships it


def contracts_dir() -> Path:
    """The application contracts: inside an installed wheel, else the checkout's circuits/contracts."""
    if PACKAGED.is_dir():
        return PACKAGED
    found = find_upwards("circuits/contracts")
    if found is None:
        raise ContractError("cannot find the application contracts", where="circuits/contracts",
                            hint="reinstall zkml (the wheel ships them), or run from the zkml checkout")
    return found


def app_contract(name: str = "VerifiedOutputRegistry", *, evm_version: str = DEFAULT_EVM_VERSION) -> dict:
    """Compile ``circuits/contracts/<name>.sol``: ``{"abi", "bytecode", "deployed_bytecode"}``."""
    path = contracts_dir() / f"{name}.sol"
    if not path.is_file():
        raise ContractError(f"no application contract {name}", where=path, hint="see circuits/contracts for the available ones")
    compiled = compile_solidity(path.read_text(), filename=path.name, evm_version=evm_version, optimizer_runs=200)
    if name not in compiled:
        raise ContractError(f"{path.name} does not define contract {name}", where=path, hint="check the contract name")
    return compiled[name]


def deploy_committed_verifier(chain, verifier: str, vk, weights_commitment: str, *,
                              evm_version: str = DEFAULT_EVM_VERSION) -> str:
    """Deploy a ``CommittedWeightsVerifier`` in front of ``verifier``: it accepts only proofs whose committed
    weights are ``weights_commitment`` (compared with the proof bytes in calldata). Returns its address; it has
    the verifier's interface (``chain.verify(address, proof)``, a registry's verifier)."""
    from ..proof.proof import COMMIT_ORDER, normalize_commitment

    counts = vk.meta.get("commitments") or {}
    if not counts.get("params"):
        raise ContractError("this key's weights are not committed", where="vk",
                            hint="compile with visibility params=committed")
    try:
        c = bytes.fromhex(normalize_commitment(weights_commitment)[2:])
    except ValueError as err:
        raise ContractError(f"cannot read the weights commitment: {err}", where="weights_commitment",
                            hint="pass the fingerprint printed by zkml.commit / prove-model commit") from None
    if len(c) != 64 * counts["params"]:
        raise ContractError(f"the commitment has {len(c) // 64} points, this key's weights have {counts['params']}",
                            where="weights_commitment", hint="pass the fingerprint made with this key")
    offset = 64 * sum(counts.get(p, 0) for p in COMMIT_ORDER[: COMMIT_ORDER.index("params")])
    art = app_contract("CommittedWeightsVerifier", evm_version=evm_version)
    return chain.deploy_code(art["bytecode"], art["abi"], [verifier, c, offset])
