"""On-chain verification: verifier contracts, an in-process EVM, JSON-RPC nodes and a local anvil.

    contract = zkml.verifier_contract(keys.vk)
    chain = zkml.evm.InProcessChain()          # or RpcChain(url), or with zkml.evm.anvil() as node: ...
    address = chain.deploy(contract)
    assert chain.verify(address, proof)

Every kind of model: a split model's contract is a SplitVerifier over its segments' verifiers, and a key that
pins committed weights (``vk.pin_weights(fingerprint)``, or ``weights_commitment=``) gets a CommittedWeightsVerifier
in front of each verifier; ``chain.deploy`` puts it all on chain and ``chain.verify(address, proof, contract=...)``
reports the statement (``model_id``) and whether the weights were checked.

The modules, bottom up: ``_solc`` (solc-js), ``_app`` (the application contracts), ``_layout`` (where commitments
sit in proof bytes), ``_abi`` (calldata and return data), ``_contract`` (``VerifierContract``), ``_deploy`` (the
checks deployed around verifiers), ``_verdicts`` (what a chain answers, and the checks before asking),
``_accounts`` (the sending key: environment or keystore only), ``_failover`` (several endpoints: failover and
quorum), ``_chains`` (the shared logic and pyrevm), ``_rpc`` (JSON-RPC nodes), ``_anvil`` (a local node).
"""

from ._abi import calldata, decode_output, decode_reusable_return, function_calldata
from ._anvil import AnvilNode, anvil, rpc_request
from ._app import app_contract
from ._chains import InProcessChain
from ._contract import VerifierContract, verifier_contract
from ._deploy import deploy_committed_verifier, deploy_split_verifier
from ._rpc import RpcChain
from ._solc import DEFAULT_EVM_VERSION, EIP170_LIMIT, compile_solidity
from ._verdicts import OnchainVerification, TxResult

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
