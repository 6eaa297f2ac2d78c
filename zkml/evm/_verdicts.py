"""What a chain answers: a transaction's or a call's ``TxResult``, and the ``OnchainVerification`` verdict with
the statement it is about (the model id, the weights commitment read from the calldata, whether it was pinned).

The checks made before asking the chain live here too: the proof must be of the contract's kind (split or not),
and its weights commitment, read from the proof bytes sent as calldata, must be every pinned fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import ChainError
from ..keys.statement import statement_id
from ..proof.proof import read_fingerprint
from ._abi import decode_reusable_return


@dataclass(frozen=True)
class TxResult:
    ok: bool
    output: bytes = b""
    gas_used: int | None = None
    tx_hash: str | None = None
    reason: str | None = None
    logs: list = field(default_factory=list)


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


def verdict(res: TxResult, reusable: bool) -> OnchainVerification:
    """The verifier's answer to ``verifyProof``: a reusable verifier returns its success word and the outputs."""
    if not res.ok:
        return OnchainVerification(False, res.gas_used, res.tx_hash, res.reason)
    if reusable:
        ok, _digest, outs = decode_reusable_return(res.output)
        return OnchainVerification(ok, res.gas_used, res.tx_hash, None if ok else "verifier returned false", outs)
    ok = len(res.output) >= 32 and int.from_bytes(res.output[:32], "big") == 1
    return OnchainVerification(ok, res.gas_used, res.tx_hash, None if ok else "verifier returned false")


def with_statement(v: OnchainVerification, contract, found: str | None, pins: list) -> OnchainVerification:
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


def precheck(proof, contract, weights_commitment: str | None):
    """(a falsy verdict or None, the weights commitment in the calldata, the fingerprints pinned): what zkml
    refuses before asking the chain, given the model's ``contract`` (a ``VerifierContract`` or None)."""
    pins = _pins(contract, weights_commitment)
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
        return _refused(why, contract, None, pins), None, pins
    found = contract.weights_in(proof)
    for want in pins:
        why = None
        if found is None:
            why = "this model's weights are not committed: there is no weights commitment to compare"
        elif found != want:
            why = "the proof's weights commitment is not the expected one: another set of weights produced it"
        if why:
            return _refused(why, contract, found, pins), found, pins
    return None, found, pins


def _pins(contract, weights_commitment: str | None) -> list[str]:
    """The fingerprints pinned: the contract's and the caller's, normalised."""
    pins = []
    for c in ([contract.weights_commitment] if contract is not None else []) + [weights_commitment]:
        if c is not None:
            pins.append(read_fingerprint(c, ChainError, stage="verify"))
    return pins


def _refused(why: str, contract, found: str | None, pins: list) -> OnchainVerification:
    return with_statement(OnchainVerification(False, reason=why, chain_asked=False), contract, found, pins)


def describe(a: TxResult) -> str:
    """An endpoint's answer to ``verifyProof`` in words (for a quorum's disagreement)."""
    if not a.ok:
        return f"reverted ({a.reason})"
    if not a.output:
        return "returned nothing (no contract there?)"
    return "accepted" if int.from_bytes(a.output[:32], "big") == 1 else f"returned {a.output[:32].hex()}"
