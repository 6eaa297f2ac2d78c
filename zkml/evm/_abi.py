"""ABI encoding and decoding: calldata of contract calls and constructors, return data, revert reasons.

The verifiers' own calls (``verifyProof`` of a single, reusable or split verifier, ``registerVka``) are built here
too, so a chain only moves bytes.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import ChainError, ContractError
from ..support.deps import need


def abi_type(i: dict) -> str:
    """The canonical type of an ABI input or output (tuples spelled out)."""
    if i["type"].startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in i["components"]) + ")" + i["type"][5:]
    return i["type"]


def _encode_call(signature: str, types: Sequence[str], args: Sequence[Any]) -> bytes:
    eth_abi = need("eth_abi")
    from eth_utils import keccak

    return keccak(text=signature)[:4] + eth_abi.encode(list(types), list(args))


def function_calldata(abi: list, name: str, args: Sequence[Any] = ()) -> bytes:
    """Calldata calling ``name`` (the overload taking ``len(args)`` arguments) with ``args``."""
    need("eth_abi")
    fns = [f for f in abi if f.get("type") == "function" and f["name"] == name and len(f["inputs"]) == len(args)]
    if not fns:
        raise ChainError(
            f"the ABI has no function {name} taking {len(args)} argument(s)", where=name, hint="check the contract"
        )
    types = [abi_type(i) for i in fns[0]["inputs"]]
    return _encode_call(f"{name}({','.join(types)})", types, args)


def constructor_args(abi: list, args: Sequence[Any]) -> bytes:
    """The encoded constructor arguments appended to creation code (empty when there are none)."""
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
    return eth_abi.encode([abi_type(i) for i in ctor["inputs"]], list(args))


def decode_output(abi: list, name: str, data: bytes) -> tuple:
    """The return values of ``name`` decoded from ``data``."""
    eth_abi = need("eth_abi")
    fn = next(f for f in abi if f.get("type") == "function" and f["name"] == name)
    return tuple(eth_abi.decode([abi_type(o) for o in fn["outputs"]], data))


def revert_reason(data: bytes) -> str:
    """Decode ``Error(string)`` revert data; otherwise show the selector or say it was empty."""
    if data[:4] == bytes.fromhex("08c379a0"):
        try:
            return need("eth_abi").decode(["string"], data[4:])[0]
        except Exception:  # malformed revert payload: show it raw below
            pass
    return "reverted" + (f" with data 0x{data[:36].hex()}" if data else " without a reason")


# --- the verifiers' calls -----------------------------------------------------------------------------------


def _instances(proof) -> list[int]:
    """A proof's public values as the uint256 words the verifier takes (ezkl writes them little-endian hex)."""
    return [int.from_bytes(bytes.fromhex(h), "little") for col in proof.instances for h in col]


def calldata(proof, contract=None, vka: tuple[bytes, ...] | None = None) -> bytes:
    """ABI-encoded ``verifyProof`` calldata for ``proof`` (with the VKA for a reusable verifier); for a split
    proof, the ``SplitVerifier``'s ``verifyProof(bytes[],uint256[][])`` with every segment. ``contract``: the
    model's ``VerifierContract``, whose VKA a reusable verifier takes."""
    reusable = contract is not None and contract.reusable
    if proof.segments:
        if vka is not None or reusable:
            raise ContractError(
                "a split proof is verified by a SplitVerifier, not by the reusable verifier",
                where="contract",
                hint="deploy the split model's contract (zkml.verifier_contract(split_vk))",
            )
        return _encode_call(
            "verifyProof(bytes[],uint256[][])",
            ["bytes[]", "uint256[][]"],
            [[p.proof for p in proof.segments], [_instances(p) for p in proof.segments]],
        )
    vka = vka if vka is not None else (contract.vka if reusable else None)
    if vka is None:
        return _encode_call("verifyProof(bytes,uint256[])", ["bytes", "uint256[]"], [proof.proof, _instances(proof)])
    return _encode_call(
        "verifyProof(bytes,uint256[],bytes32[])",
        ["bytes", "uint256[]", "bytes32[]"],
        [proof.proof, _instances(proof), list(vka)],
    )


def register_calldata(vka: tuple[bytes, ...]) -> bytes:
    """``registerVka(bytes32[])`` calldata: a model's VKA, registered on ezkl's reusable verifier."""
    return _encode_call("registerVka(bytes32[])", ["bytes32[]"], [list(vka)])


def submit_calldata(abi: list, proof) -> bytes:
    """A ``VerifiedOutputRegistry``'s ``submit(proof, instances)`` calldata for a single proof."""
    return function_calldata(abi, "submit", [proof.proof, _instances(proof)])


def decode_reusable_return(data: bytes) -> tuple[bool, bytes, list[float]]:
    """The reusable verifier's return data: success word, VKA digest, offset (0x60), then outputs x 1e18 (no length)."""
    if len(data) < 96 or (len(data) - 96) % 32:
        raise ContractError(
            f"unexpected return data of {len(data)} bytes from the reusable verifier",
            where="returndata",
            hint="check that the address holds ezkl's reusable verifier",
        )
    words = [data[i : i + 32] for i in range(0, len(data), 32)]
    outs = [int.from_bytes(w, "big", signed=True) / 1e18 for w in words[3:]]
    return int.from_bytes(words[0], "big") == 1, words[1], outs
