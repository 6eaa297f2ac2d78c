"""The application contracts in ``circuits/contracts``: compile and deploy them next to a verifier."""

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


def deploy_committed_verifier(
    chain, verifier: str, vk, weights_commitment: str, *, evm_version: str = DEFAULT_EVM_VERSION
) -> str:
    """Deploy a ``CommittedWeightsVerifier`` in front of ``verifier``: it accepts only proofs whose committed
    weights are ``weights_commitment`` (compared with the proof bytes in calldata). Returns its address; it has
    the verifier's interface (``chain.verify(address, proof)``, a registry's verifier)."""
    from ..proof.proof import normalize_commitment
    from ._contract import weights_offset

    counts = vk.meta.get("commitments") or {}
    if not counts.get("params"):
        raise ContractError(
            "this key's weights are not committed", where="vk", hint="compile with visibility params=committed"
        )
    try:
        c = bytes.fromhex(normalize_commitment(weights_commitment)[2:])
    except ValueError as err:
        raise ContractError(
            f"cannot read the weights commitment: {err}",
            where="weights_commitment",
            hint="pass the fingerprint printed by zkml.commit / prove-model commit",
        ) from None
    if len(c) != 64 * counts["params"]:
        raise ContractError(
            f"the commitment has {len(c) // 64} points, this key's weights have {counts['params']}",
            where="weights_commitment",
            hint="pass the fingerprint made with this key",
        )
    return deploy_front(chain, verifier, c, weights_offset(counts), evm_version=evm_version)


def deploy_front(
    chain, verifier: str, commitment: bytes, offset: int, *, evm_version: str = DEFAULT_EVM_VERSION
) -> str:
    """A ``CommittedWeightsVerifier`` in front of the verifier at ``verifier`` (``commitment``: its G1 points)."""
    art = app_contract("CommittedWeightsVerifier", evm_version=evm_version)
    return chain.deploy_code(art["bytecode"], art["abi"], [verifier, commitment, offset])


def split_links(vk) -> list[tuple[int, int, int]]:
    """For a split verifying key: (output offset in proof i, input offset in proof i+1, length) of every link,
    from the segments' commitment counts (points 64 bytes each, inputs then params then outputs)."""
    from ..proof.proof import COMMIT_ORDER

    links = []
    for a, b in zip(vk.segments, vk.segments[1:]):
        ca, cb = a.meta.get("commitments") or {}, b.meta.get("commitments") or {}
        n_out, n_in = int(ca.get("output", 0)), int(cb.get("input", 0))
        if not n_out or n_out != n_in:
            raise ContractError(
                "two segments are not linked by commitments of the same size",
                where="vk",
                hint="compile the model again with max_logrows",
            )
        before = sum(int(ca.get(p, 0)) for p in COMMIT_ORDER[: COMMIT_ORDER.index("output")])
        links.append((64 * before, 0, 64 * n_out))
    return links


def deploy_split_verifier(chain, vk, *, evm_version: str = DEFAULT_EVM_VERSION) -> str:
    """Deploy each segment's verifier and a ``SplitVerifier`` over them: one call verifies a split proof,
    every segment and every link (``chain.verify(address, split_proof)``, gas reported). Returns its address.
    The same as ``chain.deploy(zkml.verifier_contract(vk))`` (a key that pins weights: checked on chain too)."""
    from ._contract import verifier_contract

    return chain.deploy(verifier_contract(vk, evm_version=evm_version))
