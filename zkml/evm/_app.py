"""The application contracts in ``circuits/contracts`` (registry, committed-weights check, split verifier):
found and compiled, once per source text and EVM version in a process."""

from __future__ import annotations

import functools
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
        raise ContractError(
            "cannot find the application contracts",
            where="circuits/contracts",
            hint="reinstall zkml (the wheel ships them), or run from the zkml checkout",
        )
    return found


def app_contract(name: str = "VerifiedOutputRegistry", *, evm_version: str = DEFAULT_EVM_VERSION) -> dict:
    """Compile ``circuits/contracts/<name>.sol``: ``{"abi", "bytecode", "deployed_bytecode"}``."""
    path = contracts_dir() / f"{name}.sol"
    return dict(_compiled(str(path), path.read_text() if path.is_file() else None, name, evm_version))


@functools.lru_cache(maxsize=32)
def _compiled(where: str, source: str | None, name: str, evm_version: str) -> dict:
    """One compilation per source text and EVM version in a process (the front and split verifiers are deployed often)."""
    path = Path(where)
    if source is None:
        raise ContractError(
            f"no application contract {name}", where=path, hint="see circuits/contracts for the available ones"
        )
    compiled = compile_solidity(source, filename=path.name, evm_version=evm_version, optimizer_runs=200)
    if name not in compiled:
        raise ContractError(f"{path.name} does not define contract {name}", where=path, hint="check the contract name")
    return compiled[name]
