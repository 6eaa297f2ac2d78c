"""The application contracts in ``circuits/contracts``: compile and deploy them next to a verifier."""

from __future__ import annotations

from pathlib import Path

from ..errors import ContractError
from ._solc import DEFAULT_EVM_VERSION, compile_solidity


def contracts_dir() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        d = base / "circuits" / "contracts"
        if d.is_dir():
            return d
    raise ContractError("cannot find circuits/contracts", where="circuits/contracts", hint="run from the zkml checkout")


def app_contract(name: str = "VerifiedOutputRegistry", *, evm_version: str = DEFAULT_EVM_VERSION) -> dict:
    """Compile ``circuits/contracts/<name>.sol``: ``{"abi", "bytecode", "deployed_bytecode"}``."""
    path = contracts_dir() / f"{name}.sol"
    if not path.is_file():
        raise ContractError(f"no application contract {name}", where=path, hint="see circuits/contracts for the available ones")
    compiled = compile_solidity(path.read_text(), filename=path.name, evm_version=evm_version, optimizer_runs=200)
    if name not in compiled:
        raise ContractError(f"{path.name} does not define contract {name}", where=path, hint="check the contract name")
    return compiled[name]
