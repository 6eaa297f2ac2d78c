"""``RpcChain``: web3.py against one or several JSON-RPC nodes (anvil, a testnet, mainnet), with failover and
quorum over them (``_failover``) and the sending account from the environment or a keystore (``_accounts``)."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import ChainError, ZKMLError
from ..support.deps import need
from ..verifier.verification import as_proof
from ._abi import calldata, constructor_args, revert_reason
from ._accounts import env_account_configured, load_env_account, looks_like_private_key, resolve_account
from ._chains import DEFAULT_GAS, _Chain
from ._contract import VerifierContract
from ._failover import Endpoints, is_connection_error, parse_urls
from ._verdicts import OnchainVerification, TxResult, describe, precheck, verdict, with_statement


class RpcChain(_Chain):
    """web3.py against a JSON-RPC node (anvil, a testnet, mainnet).

    The sending account comes from $ZKML_PRIVATE_KEY, or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD), or
    ``account``: an address the node has unlocked, or an eth_account ``LocalAccount``. Never a private key string.

    Several URLs (a sequence, or comma-separated): the first that answers serves, and an unreachable one is
    dropped for the next; ``quorum=n``: a verification asks every endpoint, and n must answer, all alike.
    """

    name = "rpc"

    def __init__(self, url: str | Sequence[str], account: Any = None, *, timeout: float = 30.0, quorum: int = 1):
        super().__init__()
        need("web3")
        urls = parse_urls(url)
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
        self.quorum = quorum
        self._endpoints = Endpoints(urls, timeout=timeout)
        self.chain_id = self.w3.eth.chain_id
        self._account_arg = account
        self._resolved: tuple[Any, str] | None = None  # (local account or None, address), on first transaction
        if looks_like_private_key(account):
            resolve_account(self.w3, account)  # refuses at once
        if account is None and env_account_configured():
            local = load_env_account()  # configured: a broken key or keystore is an error now, not at the first send
            self._resolved = (local, local.address)

    # --- endpoints and account ------------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        return self._endpoints.urls

    @property
    def url(self) -> str:
        """The endpoint in use (after a failover, the next one that answered)."""
        return self._endpoints.url

    @property
    def w3(self):
        return self._endpoints.w3

    @property
    def account(self) -> str:
        """The sending account (resolved on first use: reads need none)."""
        if self._resolved is None:
            self._resolved = resolve_account(self.w3, self._account_arg)
        return self._resolved[1]

    @property
    def local(self):
        self.account  # noqa: B018 -- resolves
        return self._resolved[0]

    # --- reads ----------------------------------------------------------------------------------------------

    def verify(
        self, address: str, proof, contract: VerifierContract | None = None, *, weights_commitment: str | None = None
    ) -> OnchainVerification:
        if self.quorum == 1:
            return self._endpoints.failover(
                lambda: _Chain.verify(self, address, proof, contract, weights_commitment=weights_commitment)
            )
        proof = as_proof(proof)
        refused, found, pins = precheck(proof, contract, weights_commitment)
        if refused is not None:
            return refused
        data = calldata(proof, vka=self._vka_for(address, proof, contract))
        answers = self._endpoints.each(lambda w3: self._call_on(w3, address, data))
        agreed = self._endpoints.agreed(answers, self.quorum, describe, key=lambda a: (a.ok, a.output))
        return with_statement(
            verdict(agreed, self._vka_for(address, proof, contract) is not None), contract, found, pins
        )

    def code_at(self, address: str) -> bytes:
        """The runtime code at ``address``; with several endpoints, every one that answers must agree."""
        codes = self._endpoints.each(lambda w3: bytes(w3.eth.get_code(address)))
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

    def call(self, address: str, data: bytes) -> TxResult:
        return self._endpoints.failover(lambda: self._call_on(self.w3, address, data))

    @staticmethod
    def _call_on(w3, address: str, data: bytes) -> TxResult:
        """eth_call with no sender; a revert is a falsy TxResult with its decoded reason, the gas from eth_estimateGas."""
        tx = {"to": address, "data": data, "gas": DEFAULT_GAS}
        try:
            out = bytes(w3.eth.call(tx))
        except Exception as err:
            if is_connection_error(err):
                raise  # failover moves to the next endpoint
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
            if is_connection_error(err):
                raise
            gas = None
        return TxResult(True, out, gas)

    # --- transactions ---------------------------------------------------------------------------------------

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
            receipt = self._endpoints.failover(
                lambda: self._send({"data": bytecode + constructor_args(abi or [], args)})
            )
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

    def transact(self, address: str, data: bytes, *, gas: int = DEFAULT_GAS) -> TxResult:
        pre = self.call(address, data)  # return data and revert reason come from eth_call
        if not pre.ok:
            return pre
        try:
            receipt = self._endpoints.failover(lambda: self._send({"to": address, "data": data, "gas": gas}))
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


def _is_revert(err: Exception) -> bool:
    return "revert" in str(err).lower() or type(err).__name__ in ("ContractLogicError", "ContractCustomError")
