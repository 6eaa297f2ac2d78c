"""Chains: ``InProcessChain`` (pyrevm, the default) and ``RpcChain`` (web3.py against a JSON-RPC node).

Both expose the same calls: ``deploy(contract) -> address``, ``verify(address, proof) -> OnchainVerification``
(a read: ``eth_call``, no account, no gas spent), ``record(registry, proof)`` (a transaction through a
``VerifiedOutputRegistry``: needs an account), plus ``deploy_code`` / ``transact`` / ``call`` for application contracts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from ..errors import ChainError, ZKMLError
from ..keys.statement import statement_id
from ..proof.proof import normalize_commitment
from ..support.deps import need
from ..verifier.verification import as_proof
from ._contract import VerifierContract, calldata, decode_reusable_return, register_calldata, weights_offset

DEFAULT_GAS = 30_000_000
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class OnchainVerification:
    """Truthy iff the chain accepted the proof. ``gas_used``, ``tx_hash`` (when a transaction was sent), ``reason``.

    With the model's contract given (``chain.verify(address, proof, contract=...)``): ``model_id``, the statement the
    proof proves (the key id, with the weights commitment read from the calldata when the weights are committed),
    ``weights_commitment`` and whether it was compared with a pinned fingerprint (``weights_checked``).
    """

    ok: bool
    gas_used: int | None = None
    tx_hash: str | None = None
    reason: str | None = None
    outputs: list = field(default_factory=list)  # the reusable verifier returns the rescaled outputs
    model_id: str | None = None
    key_id: str | None = None
    weights_commitment: str | None = None  # read from the proof bytes in calldata, when the weights are committed
    weights_checked: bool = False  # compared with a fingerprint the verifier pinned, and equal to it
    weights_pinned: bool = False  # the verifier pinned a fingerprint (equal or not)
    chain_asked: bool = True  # False: refused before the call (wrong kind of proof, other weights)

    def __bool__(self) -> bool:
        return self.ok

    @property
    def weights_note(self) -> str | None:
        """In words, what this verdict says about the weights (None: they are fixed in the key, or unknown)."""
        return weights_note(self.weights_commitment, self.weights_checked, self.weights_pinned)


def weights_note(commitment: str | None, checked: bool, pinned: bool = False) -> str | None:
    if not commitment:
        return None
    if checked:
        return "weights checked: the proof's weights commitment is the pinned fingerprint"
    if pinned:
        return "weights REJECTED: the proof's weights commitment is not the pinned fingerprint (other weights made it)"
    return (
        "weights NOT checked: the proof was made with the weights of this commitment, which nobody pinned; "
        "compare the model id with the published one, or pass the published fingerprint"
    )


@dataclass(frozen=True)
class TxResult:
    ok: bool
    output: bytes = b""
    gas_used: int | None = None
    tx_hash: str | None = None
    reason: str | None = None
    logs: list = field(default_factory=list)


def function_calldata(abi: list, name: str, args: Sequence[Any] = ()) -> bytes:
    eth_abi = need("eth_abi")
    from eth_utils import keccak

    fns = [f for f in abi if f.get("type") == "function" and f["name"] == name and len(f["inputs"]) == len(args)]
    if not fns:
        raise ChainError(
            f"the ABI has no function {name} taking {len(args)} argument(s)", where=name, hint="check the contract"
        )
    types = [_abi_type(i) for i in fns[0]["inputs"]]
    return keccak(text=f"{name}({','.join(types)})")[:4] + eth_abi.encode(types, list(args))


def constructor_args(abi: list, args: Sequence[Any]) -> bytes:
    if not args:
        return b""
    eth_abi = need("eth_abi")
    ctor = next((f for f in abi if f.get("type") == "constructor"), None)
    if ctor is None or len(ctor["inputs"]) != len(args):
        raise ChainError(
            f"the constructor takes {0 if ctor is None else len(ctor['inputs'])} arguments, got {len(args)}",
            stage="deploy",
            where="constructor",
            hint="check the contract's constructor",
        )
    return eth_abi.encode([_abi_type(i) for i in ctor["inputs"]], list(args))


def decode_output(abi: list, name: str, data: bytes) -> tuple:
    eth_abi = need("eth_abi")
    fn = next(f for f in abi if f.get("type") == "function" and f["name"] == name)
    return tuple(eth_abi.decode([_abi_type(o) for o in fn["outputs"]], data))


def _abi_type(i: dict) -> str:
    if i["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in i["components"]) + ")" + i["type"][5:]
    return i["type"]


def revert_reason(data: bytes) -> str:
    """Decode ``Error(string)`` revert data; otherwise show the selector or say it was empty."""
    if data[:4] == bytes.fromhex("08c379a0"):
        try:
            return need("eth_abi").decode(["string"], data[4:])[0]
        except Exception:  # malformed revert payload: show it raw below
            pass
    return "reverted" + (f" with data 0x{data[:36].hex()}" if data else " without a reason")


class _Chain:
    """Shared verifier logic; subclasses provide ``deploy_code`` and ``transact``."""

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
            from ._app import deploy_front

            address = deploy_front(
                self,
                address,
                _points(contract.weights_commitment),
                _offset(contract),
                evm_version=contract.meta.get("evm_version", "cancun"),
            )
        return address

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
        code = self.code_at(address)
        if contract.weights_commitment and not contract.segments:
            from ._app import app_contract

            art = app_contract("CommittedWeightsVerifier", evm_version=contract.meta.get("evm_version", "cancun"))
            got = self._read(address, art["abi"], "verifier")
            inner = need("eth_utils").to_checksum_address(got[0]) if got else None
            if inner is None:
                return "it is not a committed-weights check (no verifier() to read)"
            expected = InProcessChain()
            front = expected.deploy_code(
                art["bytecode"], art["abi"], [inner, _points(contract.weights_commitment), _offset(contract)]
            )
            if code != expected.code_at(front):
                return "it is not the committed-weights check for the pinned fingerprint"
            return self._code_problem(inner, replace(contract, weights_commitment=None))
        if code != contract.deployed_bytecode:
            return f"the code of {contract.name} differs" if code else "there is no code there"
        if not contract.segments:
            return None
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
        refused, found, pins = self._precheck(proof, contract, weights_commitment)
        if refused is not None:
            return refused
        vka = self._vka_for(address, proof, contract)
        res = self.call(address, calldata(proof, vka=vka))
        return _statement(_verdict(res, vka is not None), contract, found, pins)

    def _precheck(self, proof, contract: VerifierContract | None, weights_commitment: str | None):
        """(a falsy verdict or None, the weights commitment in the calldata, the fingerprints pinned)."""
        pins = []
        for c in ([contract.weights_commitment] if contract is not None else []) + [weights_commitment]:
            if c is not None:
                try:
                    pins.append(normalize_commitment(c))
                except ValueError as err:
                    raise ChainError(
                        f"cannot read the weights commitment: {err}",
                        stage="verify",
                        where="weights_commitment",
                        hint="pass the fingerprint printed by zkml.commit / prove-model commit",
                    ) from None
        if contract is None:
            if pins:
                raise ChainError(
                    "a weights commitment is compared with the one in the proof bytes, found with the "
                    "model's contract or key",
                    stage="verify",
                    where="weights_commitment",
                    hint="pass contract=zkml.verifier_contract(vk) (CLI: --vk KEYS or --contract DIR)",
                )
            return None, None, pins
        if len(proof.segments) != len(contract.segments):
            why = f"the proof has {len(proof.segments) or 'no'} segments, the model's verifier {len(contract.segments) or 'none'}"
            return (
                _statement(OnchainVerification(False, reason=why, chain_asked=False), contract, None, pins),
                None,
                pins,
            )
        found = contract.weights_in(proof)
        for want in pins:
            why = None
            if found is None:
                why = "this model's weights are not committed: there is no weights commitment to compare"
            elif found != want:
                why = "the proof's weights commitment is not the expected one: another set of weights produced it"
            if why:
                return (
                    _statement(OnchainVerification(False, reason=why, chain_asked=False), contract, found, pins),
                    found,
                    pins,
                )
        return None, found, pins

    def record(self, registry: str, proof, abi: list | None = None) -> TxResult:
        """Record a verified output through the ``VerifiedOutputRegistry`` at ``registry``: a transaction
        (it needs an account and spends gas). Its ``submit`` verifies the proof first and reverts unless it holds."""
        from ._app import app_contract

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
        instances = [int.from_bytes(bytes.fromhex(h), "little") for col in proof.instances for h in col]
        return self.transact(registry, function_calldata(abi, "submit", [proof.proof, instances]))


def _points(commitment: str) -> bytes:
    return bytes.fromhex(normalize_commitment(commitment)[2:])


def _offset(contract: VerifierContract) -> int:
    return weights_offset(contract.meta.get("commitments") or {})


def _statement(
    v: OnchainVerification, contract: VerifierContract | None, found: str | None, pins: list
) -> OnchainVerification:
    """``v`` with the statement it is about: the contract's key, and the weights commitment read from the calldata."""
    if contract is None or not contract.key_id:
        return v
    return replace(
        v,
        model_id=statement_id(contract.key_id, found),
        key_id=contract.key_id,
        weights_commitment=found,
        weights_checked=bool(pins) and found is not None and all(p == found for p in pins),
        weights_pinned=bool(pins),
    )


def _verdict(res: TxResult, reusable: bool) -> OnchainVerification:
    if not res.ok:
        return OnchainVerification(False, res.gas_used, res.tx_hash, res.reason)
    if reusable:
        ok, _digest, outs = decode_reusable_return(res.output)
        return OnchainVerification(ok, res.gas_used, res.tx_hash, None if ok else "verifier returned false", outs)
    ok = len(res.output) >= 32 and int.from_bytes(res.output[:32], "big") == 1
    return OnchainVerification(ok, res.gas_used, res.tx_hash, None if ok else "verifier returned false")


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


class RpcChain(_Chain):
    """web3.py against a JSON-RPC node (anvil, a testnet, mainnet).

    The sending account comes from $ZKML_PRIVATE_KEY, or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD), or
    ``account``: an address the node has unlocked, or an eth_account ``LocalAccount``. Never a private key string.
    """

    name = "rpc"

    def __init__(self, url: str | Sequence[str], account: Any = None, *, timeout: float = 30.0, quorum: int = 1):
        super().__init__()
        web3 = need("web3")
        urls = [
            u.strip()
            for part in ([url] if isinstance(url, str) else list(url or []))
            for u in str(part).split(",")
            if u.strip()
        ]
        if not urls:
            raise ChainError(
                "no RPC URL given", stage="chain", where="rpc_url", hint="pass --rpc-url or set ZKML_RPC_URL"
            )
        if not 1 <= quorum <= len(urls):
            raise ChainError(
                f"quorum {quorum} needs at least that many endpoints (got {len(urls)})",
                stage="chain",
                where="quorum",
                hint="pass more --rpc-url endpoints or a smaller --quorum",
            )
        self.urls, self.quorum = urls, quorum
        self._w3s = {u: web3.Web3(web3.HTTPProvider(u, request_kwargs={"timeout": timeout})) for u in urls}
        self._dead: set[str] = set()
        self.url = self._first_alive()
        self.w3 = self._w3s[self.url]
        self.chain_id = self.w3.eth.chain_id
        self._account_arg = account
        self._resolved: tuple[Any, str] | None = None  # (local account or None, address), on first transaction
        if isinstance(account, str) and _HEX_KEY.match(account):
            _resolve_account(self.w3, account)  # refuses at once
        if account is None and (os.environ.get("ZKML_PRIVATE_KEY") or os.environ.get("ZKML_KEYSTORE")):
            local = load_env_account()  # configured: a broken key or keystore is an error now, not at the first send
            self._resolved = (local, local.address)

    @property
    def account(self) -> str:
        """The sending account (resolved on first use: reads need none)."""
        if self._resolved is None:
            self._resolved = _resolve_account(self.w3, self._account_arg)
        return self._resolved[1]

    @property
    def local(self):
        self.account  # noqa: B018 -- resolves
        return self._resolved[0]

    def _first_alive(self) -> str:
        errors = []
        for u in self.urls:
            if u in self._dead:
                continue
            try:
                _ = self._w3s[u].eth.chain_id  # a node that answers
                return u
            except Exception as err:
                self._dead.add(u)
                errors.append(f"{u}: {type(err).__name__}")
        raise ChainError(
            f"cannot reach the node{'s' if len(self.urls) > 1 else ''}: {'; '.join(errors)}",
            stage="chain",
            where=", ".join(self.urls),
            hint="check the URLs and that the nodes are running",
        )

    def _failover(self, op):
        """Run ``op()`` on the current endpoint; when it is unreachable, move to the next one and retry."""
        while True:
            try:
                return op()
            except Exception as err:
                if not _is_connection_error(err):
                    raise
                self._dead.add(self.url)
                self.url = self._first_alive()  # raises once every endpoint is down
                self.w3 = self._w3s[self.url]

    def verify(
        self, address: str, proof, contract: VerifierContract | None = None, *, weights_commitment: str | None = None
    ) -> OnchainVerification:
        if self.quorum == 1:
            return self._failover(
                lambda: _Chain.verify(self, address, proof, contract, weights_commitment=weights_commitment)
            )
        proof = as_proof(proof)
        refused, found, pins = self._precheck(proof, contract, weights_commitment)
        if refused is not None:
            return refused
        data = calldata(proof, vka=self._vka_for(address, proof, contract))
        answers = {}
        for u in self.urls:
            try:
                answers[u] = self._call_on(self._w3s[u], address, data)
            except Exception as err:
                if not _is_connection_error(err):
                    raise
        if len(answers) < self.quorum:
            raise ChainError(
                f"only {len(answers)} of {len(self.urls)} endpoints answered; quorum is {self.quorum}",
                stage="verify",
                where=", ".join(self.urls),
                hint="bring more endpoints up or lower the quorum",
            )
        distinct = {(a.ok, a.output) for a in answers.values()}
        if len(distinct) > 1:
            said = "; ".join(f"{u}: {_describe(a)}" for u, a in answers.items())
            raise ChainError(
                f"endpoints disagree about the verification: {said}",
                stage="verify",
                where=", ".join(answers),
                hint="one endpoint holds other code or state at this address, or lies; do not trust its answer",
            )
        agreed = _verdict(next(iter(answers.values())), self._vka_for(address, proof, contract) is not None)
        return _statement(agreed, contract, found, pins)  # the agreed answer

    def code_at(self, address: str) -> bytes:
        """The runtime code at ``address``; with several endpoints, every one that answers must agree."""
        codes = {}
        for u in self.urls:
            try:
                codes[u] = bytes(self._w3s[u].eth.get_code(address))
            except Exception as err:
                if not _is_connection_error(err):
                    raise
        if not codes:
            raise ChainError(
                "no endpoint answered eth_getCode", stage="verify", where=", ".join(self.urls), hint="check the nodes"
            )
        if len(set(codes.values())) > 1:
            raise ChainError(
                "endpoints disagree about the code at this address",
                stage="verify",
                where=address,
                hint="one endpoint lies or is on another chain; do not trust its answer",
            )
        return next(iter(codes.values()))

    @staticmethod
    def _call_on(w3, address: str, data: bytes) -> "TxResult":
        """eth_call with no sender; a revert is a falsy TxResult with its decoded reason, the gas from eth_estimateGas."""
        tx = {"to": address, "data": data, "gas": DEFAULT_GAS}
        try:
            out = bytes(w3.eth.call(tx))
        except Exception as err:
            if _is_connection_error(err):
                raise  # _failover moves to the next endpoint
            data_ = getattr(err, "data", None)
            raw = bytes.fromhex(data_[2:]) if isinstance(data_, str) and data_.startswith("0x") else b""
            if not raw and not _is_revert(err):
                raise ChainError(
                    f"eth_call failed: {type(err).__name__}: {err}",
                    stage="verify",
                    where=address,
                    hint="check the node",
                ) from err
            return TxResult(False, b"", None, None, revert_reason(raw))
        try:
            gas = int(w3.eth.estimate_gas(tx))
        except Exception as err:  # the estimate is a courtesy; the call's answer stands
            if _is_connection_error(err):
                raise
            gas = None
        return TxResult(True, out, gas)

    def _send(self, tx: dict) -> Any:
        tx = {
            **tx,
            "from": self.account,
            "nonce": self.w3.eth.get_transaction_count(self.account, "pending"),
            "chainId": self.chain_id,
        }
        tx.setdefault("gas", DEFAULT_GAS)
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            tx["gasPrice"] = self.w3.eth.gas_price
        if self.local is not None:
            signed = self.local.sign_transaction(tx)
            h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        else:
            h = self.w3.eth.send_transaction(tx)
        return self.w3.eth.wait_for_transaction_receipt(h, timeout=120)

    def deploy_code(self, bytecode: bytes, abi: list | None = None, args: Sequence[Any] = ()) -> str:
        try:
            receipt = self._failover(lambda: self._send({"data": bytecode + constructor_args(abi or [], args)}))
        except ZKMLError:
            raise
        except Exception as err:
            raise ChainError(
                f"deployment failed: {type(err).__name__}: {err}",
                where=self.url,
                hint="check the account's balance and the node's contract size and gas limits",
            ) from err
        if receipt.status != 1 or not receipt.contractAddress:
            raise ChainError(
                f"deployment transaction {receipt.transactionHash.hex()} reverted",
                where=self.url,
                hint="check the bytecode (EIP-170 size, constructor arguments)",
            )
        return receipt.contractAddress

    def call(self, address: str, data: bytes) -> TxResult:
        return self._failover(lambda: self._call_on(self.w3, address, data))

    def transact(self, address: str, data: bytes, *, gas: int = DEFAULT_GAS) -> TxResult:
        pre = self.call(address, data)  # return data and revert reason come from eth_call
        if not pre.ok:
            return pre
        try:
            receipt = self._failover(lambda: self._send({"to": address, "data": data, "gas": gas}))
        except Exception as err:
            raise ChainError(
                f"transaction failed: {type(err).__name__}: {err}", where=self.url, hint="check the node"
            ) from err
        ok = receipt.status == 1
        return TxResult(
            ok,
            pre.output if ok else b"",
            receipt.gasUsed,
            "0x" + receipt.transactionHash.hex().removeprefix("0x"),
            None if ok else "transaction reverted",
            list(receipt.logs),
        )


def _describe(a: "TxResult") -> str:
    if not a.ok:
        return f"reverted ({a.reason})"
    if not a.output:
        return "returned nothing (no contract there?)"
    return "accepted" if int.from_bytes(a.output[:32], "big") == 1 else f"returned {a.output[:32].hex()}"


def _is_connection_error(err: Exception) -> bool:
    names = {c.__name__ for c in type(err).__mro__}
    return bool(
        names
        & {
            "ConnectionError",
            "Timeout",
            "ReadTimeout",
            "ConnectTimeout",
            "ConnectionRefusedError",
            "NewConnectionError",
            "MaxRetryError",
            "ProtocolError",
            "RemoteDisconnected",
            "ChunkedEncodingError",
        }
    )


def _is_revert(err: Exception) -> bool:
    return "revert" in str(err).lower() or type(err).__name__ in ("ContractLogicError", "ContractCustomError")


def _resolve_account(w3, account: Any):
    """Return (local_account_or_None, address)."""
    if isinstance(account, str) and _HEX_KEY.match(account):
        raise ChainError(
            "refusing a private key passed as an argument",
            stage="chain",
            where="account",
            hint="put it in $ZKML_PRIVATE_KEY or a keystore file ($ZKML_KEYSTORE with $ZKML_KEYSTORE_PASSWORD)",
        )
    if account is not None and not isinstance(account, str):
        return account, account.address  # an eth_account LocalAccount
    if account is None:
        local = load_env_account()
        if local is not None:
            return local, local.address
        try:
            accounts = w3.eth.accounts
        except Exception as err:
            raise ChainError(
                f"cannot list the node's accounts: {err}", stage="chain", hint="set $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE"
            ) from err
        if not accounts:
            raise ChainError(
                "no account to send from: the node has no unlocked account",
                stage="chain",
                hint="set $ZKML_PRIVATE_KEY, or $ZKML_KEYSTORE with $ZKML_KEYSTORE_PASSWORD",
            )
        return None, accounts[0]
    return None, w3.to_checksum_address(account)


def load_env_account():
    """The deployment account from the environment: $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD)."""
    key = os.environ.get("ZKML_PRIVATE_KEY")
    path = os.environ.get("ZKML_KEYSTORE")
    if not key and not path:
        return None
    eth_account = need("eth_account")
    if key:
        try:
            return eth_account.Account.from_key(key.strip())
        except Exception:  # the message could quote the key: never chain it
            raise ChainError(
                "ZKML_PRIVATE_KEY is not a valid private key",
                stage="chain",
                where="$ZKML_PRIVATE_KEY",
                hint="it must be 32 bytes of hex",
            ) from None
    try:
        with open(path) as f:
            blob = f.read()
        return eth_account.Account.from_key(
            eth_account.Account.decrypt(blob, os.environ.get("ZKML_KEYSTORE_PASSWORD", ""))
        )
    except FileNotFoundError as err:
        raise ChainError("keystore file not found", stage="chain", where=path, hint="check $ZKML_KEYSTORE") from err
    except (ValueError, KeyError, TypeError, OSError) as err:  # wrong password (MAC mismatch), not V3 JSON, unreadable
        # not chained: the cause may quote the keystore; its type says which of these it was
        raise ChainError(
            f"cannot decrypt the keystore ({type(err).__name__})",
            stage="chain",
            where=path,
            hint="check $ZKML_KEYSTORE_PASSWORD and that the file is a V3 keystore",
        ) from None
