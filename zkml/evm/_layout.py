"""Where commitments sit in a proof's bytes, as the on-chain checks read them: the weights' points (for the
committed-weights check in front of a verifier) and the links between a split model's segments (for its
SplitVerifier). Points are 64 bytes each, in ``COMMIT_ORDER`` (inputs, then params, then outputs)."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ContractError
from ..proof.proof import COMMIT_ORDER, normalize_commitment


def weights_offset(counts: Mapping[str, Any]) -> int:
    """Where the weights' commitment starts in a proof's bytes (after the committed inputs' points, 64 bytes each)."""
    return 64 * sum(int(counts.get(p, 0)) for p in COMMIT_ORDER[: COMMIT_ORDER.index("params")])


def weights_points(commitment: str) -> bytes:
    """A weights fingerprint (0x hex) as the G1 points' bytes the committed-weights check compares."""
    return bytes.fromhex(normalize_commitment(commitment)[2:])


def split_links(vk) -> list[tuple[int, int, int]]:
    """For a split verifying key: (output offset in proof i, input offset in proof i+1, length) of every link,
    from the segments' commitment counts."""
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
