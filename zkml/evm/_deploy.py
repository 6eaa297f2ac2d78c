"""Deploying the checks that sit around verifiers: a ``CommittedWeightsVerifier`` in front of one, and a split
model's verifiers with their ``SplitVerifier`` (any chain with ``deploy_code`` / ``deploy``)."""

from __future__ import annotations

from ..errors import ContractError
from ..proof.proof import read_fingerprint
from ._app import app_contract
from ._contract import verifier_contract
from ._layout import weights_offset
from ._solc import DEFAULT_EVM_VERSION


def deploy_front(
    chain, verifier: str, commitment: bytes, offset: int, *, evm_version: str = DEFAULT_EVM_VERSION
) -> str:
    """A ``CommittedWeightsVerifier`` in front of the verifier at ``verifier`` (``commitment``: its G1 points)."""
    art = app_contract("CommittedWeightsVerifier", evm_version=evm_version)
    return chain.deploy_code(art["bytecode"], art["abi"], [verifier, commitment, offset])


def deploy_committed_verifier(
    chain, verifier: str, vk, weights_commitment: str, *, evm_version: str = DEFAULT_EVM_VERSION
) -> str:
    """Deploy a ``CommittedWeightsVerifier`` in front of ``verifier``: it accepts only proofs whose committed
    weights are ``weights_commitment`` (compared with the proof bytes in calldata). Returns its address; it has
    the verifier's interface (``chain.verify(address, proof)``, a registry's verifier)."""
    counts = vk.meta.get("commitments") or {}
    if not counts.get("params"):
        raise ContractError(
            "this key's weights are not committed", where="vk", hint="compile with visibility params=committed"
        )
    c = bytes.fromhex(read_fingerprint(weights_commitment, ContractError)[2:])
    if len(c) != 64 * counts["params"]:
        raise ContractError(
            f"the commitment has {len(c) // 64} points, this key's weights have {counts['params']}",
            where="weights_commitment",
            hint="pass the fingerprint made with this key",
        )
    return deploy_front(chain, verifier, c, weights_offset(counts), evm_version=evm_version)


def deploy_split_verifier(chain, vk, *, evm_version: str = DEFAULT_EVM_VERSION) -> str:
    """Deploy each segment's verifier and a ``SplitVerifier`` over them: one call verifies a split proof,
    every segment and every link (``chain.verify(address, split_proof)``, gas reported). Returns its address.
    The same as ``chain.deploy(zkml.verifier_contract(vk))`` (a key that pins weights: checked on chain too)."""
    return chain.deploy(verifier_contract(vk, evm_version=evm_version))
