"""Chains: the shared verifier logic (``_Chain``) and ``InProcessChain`` (pyrevm, the default); ``RpcChain``
(web3.py against JSON-RPC nodes) is in ``_rpc``.

Every chain exposes the same calls: ``deploy(contract) -> address``, ``verify(address, proof) ->
OnchainVerification`` (a read: ``eth_call``, no account, no gas spent), ``record(registry, proof)`` (a transaction
through a ``VerifiedOutputRegistry``: needs an account), ``check_code(address, contract)``, plus ``deploy_code`` /
``transact`` / ``call`` / ``code_at`` for application contracts, which each subclass provides.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from ..errors import ChainError, ZKMLError
from ..support.deps import need
from ..verifier.verification import as_proof
from ._abi import (
    calldata,
    constructor_args,
    decode_output,
    function_calldata,
    register_calldata,
    revert_reason,
    submit_calldata,
)
from ._app import app_contract
from ._contract import VerifierContract
from ._deploy import deploy_front
from ._layout import weights_offset, weights_points
from ._verdicts import OnchainVerification, TxResult, precheck, verdict, with_statement

DEFAULT_GAS = 30_000_000


class _Chain:
    """Shared verifier logic; subclasses provide ``deploy_code``, ``transact``, ``call`` and ``code_at``."""

    name = "chain"

    def __init__(self):
        self._shared: dict[str, str] = {}  # reusable verifier code hash -> address on this chain
        self._vkas: dict[tuple[str, str], tuple[bytes, ...]] = {}  # (address, vk hash) -> registered VKA

    def deploy_code(self, bytecode: bytes, abi: list | None = None, args: Sequence[Any] = ()) -> str:
        raise NotImplementedError

    def transact(self, address: str, data: bytes, *, gas: int = DEFAULT_GAS) -> TxResult:
        raise NotImplementedError

    def call(self, address: str, data: bytes) -> TxResult:
        """A read: runs ``data`` against ``address`` and changes nothing on the chain."""
        raise NotImplementedError

    def code_at(self, address: str) -> bytes:
        """The runtime code at ``address``."""
        raise NotImplementedError

    # --- deploy ---------------------------------------------------------------------------------------------

    def deploy(self, contract: VerifierContract) -> str:
        """Deploy a verifier and return the address to verify at. A reusable one is deployed once per chain; this
        model's VKA is registered on it. A split model's: every segment's verifier, then the SplitVerifier over
        them. Pinned weights: a CommittedWeightsVerifier in front of each verifier."""
        if not isinstance(contract, VerifierContract):
            raise ChainError(
                f"expected a zkml.VerifierContract, got {type(contract).__name__}",
                where="contract",
                hint="pass zkml.verifier_contract(keys.vk)",
            )
        if contract.segments:
            verifiers = [self.deploy(seg) for seg in contract.segments]
            links = contract.meta["links"]
            return self.deploy_code(
                contract.bytecode,
                contract.abi,
                [verifiers, [int(x[0]) for x in links], [int(x[1]) for x in links], [int(x[2]) for x in links]],
            )
        if not contract.reusable:
            address = self.deploy_code(contract.bytecode, contract.abi)
        else:
            code_hash = need("eth_utils").keccak(contract.bytecode).hex()
            address = self._shared.get(code_hash)
            if address is None:
                address = self._shared[code_hash] = self.deploy_code(contract.bytecode, contract.abi)
            self.register(address, contract)
        if contract.weights_commitment:
            address = deploy_front(
                self,
                address,
                weights_points(contract.weights_commitment),
                _offset(contract),
                evm_version=contract.meta.get("evm_version", "cancun"),
            )
        return address

    def register(self, address: str, contract: VerifierContract) -> TxResult:
        """Register ``contract``'s VKA on the reusable verifier at ``address``."""
        if not contract.reusable or contract.vka is None:
            raise ChainError(
                "only a reusable verifier has a VKA to register", where="contract", hint="use reusable=True"
            )
        res = self.transact(address, register_calldata(contract.vka))
        if not res.ok:
            raise ChainError(
                f"registerVka failed: {res.reason}",
                stage="deploy",
                where=address,
                hint="check that the address holds ezkl's reusable verifier",
            )
        self._vkas[(address.lower(), contract.vk_hash)] = contract.vka
        return res

    # --- which code is at an address ------------------------------------------------------------------------

    def check_code(self, address: str, contract: VerifierContract) -> None:
        """Raise a ChainError unless the code at ``address`` is the verifier ``contract`` describes: for a split
        model the SplitVerifier, its link layout and every segment's verifier; with pinned weights the
        committed-weights check for that fingerprint in front. A verdict from other code means nothing."""
        problem = self._code_problem(address, contract)
        if problem:
            raise ChainError(
                f"the code at {address} is not the verifier built from --vk/--contract: {problem}",
                stage="verify",
                where=address,
                hint="pass the address of this model's verifier (prove-model deploy prints it)",
            )

    def _code_problem(self, address: str, contract: VerifierContract) -> str | None:
        if contract.weights_commitment and not contract.segments:
            return self._front_problem(address, contract)
        code = self.code_at(address)
        if code != contract.deployed_bytecode:
            return f"the code of {contract.name} differs" if code else "there is no code there"
        return self._split_problem(address, contract) if contract.segments else None

    def _front_problem(self, address: str, contract: VerifierContract) -> str | None:
        """The committed-weights check for the pinned fingerprint, in front of the contract's verifier."""
        code = self.code_at(address)
        art = app_contract("CommittedWeightsVerifier", evm_version=contract.meta.get("evm_version", "cancun"))
        got = self._read(address, art["abi"], "verifier")
        inner = need("eth_utils").to_checksum_address(got[0]) if got else None
        if inner is None:
            return "it is not a committed-weights check (no verifier() to read)"
        expected = InProcessChain()
        front = expected.deploy_code(
            art["bytecode"], art["abi"], [inner, weights_points(contract.weights_commitment), _offset(contract)]
        )
        if code != expected.code_at(front):
            return "it is not the committed-weights check for the pinned fingerprint"
        return self._code_problem(inner, replace(contract, weights_commitment=None))

    def _split_problem(self, address: str, contract: VerifierContract) -> str | None:
        """The SplitVerifier's segments and links, each segment's verifier checked in turn."""
        links = contract.meta["links"]
        for i, seg in enumerate(contract.segments):
            got = self._read(address, contract.abi, "verifiers", [i])
            if not got:
                return f"its SplitVerifier has no verifier for segment {i}"
            if i < len(links):
                for name, want in zip(("outOffsets", "inOffsets", "lengths"), links[i]):
                    if self._read(address, contract.abi, name, [i]) != (int(want),):
                        return f"its SplitVerifier links segments {i} and {i + 1} at other offsets"
            problem = self._code_problem(need("eth_utils").to_checksum_address(got[0]), seg)
            if problem:
                return f"segment {i}: {problem}"
        if self._read(address, contract.abi, "verifiers", [len(contract.segments)]):
            return "its SplitVerifier has more segments than this model"
        return None

    def _read(self, address: str, abi: list, name: str, args: Sequence[Any] = ()) -> tuple | None:
        """A getter's value, or None when it reverts (an index out of range, no such function)."""
        res = self.call(address, function_calldata(abi, name, args))
        if not res.ok or not res.output:
            return None
        try:
            return decode_output(abi, name, res.output)
        except Exception:  # not the ABI we expect: the caller reports it as a mismatch
            return None

    # --- verify and record ----------------------------------------------------------------------------------

    def _vka_for(self, address: str, proof, contract: VerifierContract | None):
        """The VKA of the model the caller expects: from ``contract``, or the only one registered here at ``address``.
        Never chosen by what the proof file claims."""
        if contract is not None and contract.reusable:
            return contract.vka
        registered = [v for (a, _), v in self._vkas.items() if a == address.lower()]
        if len(registered) > 1:
            raise ChainError(
                "several models share this reusable verifier: say which one you expect",
                stage="verify",
                where=address,
                hint="pass contract=the model's VerifierContract (CLI: --vk or --contract)",
            )
        return registered[0] if registered else None

    def verify(
        self, address: str, proof, contract: VerifierContract | None = None, *, weights_commitment: str | None = None
    ) -> OnchainVerification:
        """Call ``verifyProof`` at ``address`` as a read (eth_call): no account, no transaction, no gas spent.

        A revert is a falsy result, not an exception. ``gas_used`` is what the call would cost in a transaction.
        ``contract`` (the model's VerifierContract) says what the proof must be: a split proof for a split model,
        and the statement reported (``model_id``). ``weights_commitment`` (and a contract's pinned fingerprint):
        accept only a proof whose weights commitment, read from the proof bytes sent as calldata, is that one.
        """
        proof = as_proof(proof)
        refused, found, pins = precheck(proof, contract, weights_commitment)
        if refused is not None:
            return refused
        vka = self._vka_for(address, proof, contract)
        res = self.call(address, calldata(proof, vka=vka))
        return with_statement(verdict(res, vka is not None), contract, found, pins)

    def record(self, registry: str, proof, abi: list | None = None) -> TxResult:
        """Record a verified output through the ``VerifiedOutputRegistry`` at ``registry``: a transaction
        (it needs an account and spends gas). Its ``submit`` verifies the proof first and reverts unless it holds."""
        proof = as_proof(proof)
        if proof.segments:
            raise ChainError(
                "a VerifiedOutputRegistry verifies one proof (verifyProof(bytes,uint256[])); a split proof "
                "has one per segment, and sending none would record nothing",
                stage="record",
                where="proof",
                hint="verify a split proof with its SplitVerifier (chain.verify / prove-model verify-onchain); "
                "recording a split model's output on chain is not supported yet",
            )
        abi = abi or app_contract("VerifiedOutputRegistry")["abi"]
        return self.transact(registry, submit_calldata(abi, proof))


def _offset(contract: VerifierContract) -> int:
    return weights_offset(contract.meta.get("commitments") or {})


class InProcessChain(_Chain):
    """pyrevm: an EVM inside this process. No server, milliseconds per call."""

    name = "in-process (pyrevm)"

    def __init__(self, spec_id: str = "CANCUN"):
        super().__init__()
        pyrevm = need("pyrevm")
        self.evm = pyrevm.EVM(spec_id=spec_id)
        self.account = "0x" + "5a" * 20
        self.evm.set_balance(self.account, 10**24)

    def code_at(self, address: str) -> bytes:
        """The runtime code as deployed (revm keeps it padded with zeros for analysis: the code hash says where it ends)."""
        code = bytes(self.evm.get_code(address) or b"")
        if not code:
            return code
        keccak, want = need("eth_utils").keccak, bytes(self.evm.basic(address).code_hash)
        for n in range(len(code), max(len(code) - 64, 0) - 1, -1):
            if keccak(code[:n]) == want:
                return code[:n]
        return code

    def call(self, address: str, data: bytes) -> TxResult:
        checkpoint = self.evm.snapshot()
        try:
            return self.transact(address, data)
        finally:
            self.evm.revert(checkpoint)  # a read leaves no trace

    def deploy_code(self, bytecode: bytes, abi: list | None = None, args: Sequence[Any] = ()) -> str:
        try:
            return self.evm.deploy(self.account, bytecode + constructor_args(abi or [], args), gas=DEFAULT_GAS)
        except ZKMLError:
            raise
        except Exception as err:
            raise ChainError(
                f"deployment failed: {err}", where=self.name, hint="check the bytecode (EIP-170 size, constructor)"
            ) from err

    def transact(self, address: str, data: bytes, *, gas: int = DEFAULT_GAS) -> TxResult:
        try:
            out = bytes(self.evm.message_call(self.account, address, data, gas=gas))
        except RuntimeError as err:
            text = str(err)
            m = re.search(r"gas_used: (\d+)", text)
            o = re.search(r"output: 0x([0-9a-fA-F]*)", text)
            return TxResult(
                False, b"", int(m.group(1)) if m else None, None, revert_reason(bytes.fromhex(o.group(1)) if o else b"")
            )
        r = self.evm.result
        return TxResult(True, out, r.gas_used, None, None, list(r.logs or []))
