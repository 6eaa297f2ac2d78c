"""On-chain verification: verifier contracts, an in-process EVM, JSON-RPC nodes and a local anvil.

    contract = zkml.verifier_contract(keys.vk)
    chain = zkml.evm.InProcessChain()          # or RpcChain(url), or with zkml.evm.anvil() as node: ...
    address = chain.deploy(contract)
    assert chain.verify(address, proof)

Every kind of model: a split model's contract is a SplitVerifier over its segments' verifiers, and a key that
pins committed weights (``vk.pin_weights(fingerprint)``, or ``weights_commitment=``) gets a CommittedWeightsVerifier
in front of each verifier; ``chain.deploy`` puts it all on chain and ``chain.verify(address, proof, contract=...)``
reports the statement (``model_id``) and whether the weights were checked.
"""

from ._anvil import AnvilNode, anvil, rpc_request
from ._app import app_contract, deploy_committed_verifier, deploy_split_verifier
from ._chain import InProcessChain, OnchainVerification, RpcChain, TxResult, decode_output, function_calldata
from ._contract import VerifierContract, calldata, decode_reusable_return, verifier_contract
from ._solc import DEFAULT_EVM_VERSION, EIP170_LIMIT, compile_solidity

__all__ = [
    "DEFAULT_EVM_VERSION",
    "EIP170_LIMIT",
    "AnvilNode",
    "InProcessChain",
    "OnchainVerification",
    "RpcChain",
    "TxResult",
    "VerifierContract",
    "anvil",
    "app_contract",
    "calldata",
    "compile_solidity",
    "deploy_committed_verifier",
    "deploy_split_verifier",
    "decode_output",
    "decode_reusable_return",
    "function_calldata",
    "rpc_request",
    "verifier_contract",
]
