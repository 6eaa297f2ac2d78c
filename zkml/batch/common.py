"""What both batch backends share: the per-input error, the retry rule and delivering a result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ZKMLError
from ..support.scrub import scrub

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class BatchError:
    """Why one input of a batch has no proof. Falsy, so ``[p for p in results if p]`` keeps the proofs."""

    index: int
    id: str
    error: str
    message: str

    def __bool__(self) -> bool:
        return False


def as_batch_error(i: int, name: str, err: BaseException) -> BatchError:
    """A ZKMLError's text is already free of private values; anything else is scrubbed of every number."""
    msg = str(err) if isinstance(err, ZKMLError) else scrub(str(err))
    return BatchError(i, name, type(err).__name__, msg)


def own_fingerprint(keys: Any) -> str | None:
    """The fingerprint of the weights ``keys`` (Keys or SplitKeys) prove with, when the weights are committed (None
    when they are fixed): the statement these keys prove. A split model's is every segment's commitment in order,
    each from the segment's own circuit (a loaded SplitKeys holds no whole model to cut again)."""
    if not keys.vk.committed:
        return None
    from ..keys.split import commit

    units = getattr(keys, "segments", None)
    if units is None:
        return commit(keys.circuit.model, keys)
    return "0x" + "".join(commit(k.circuit.model, k)[2:] for k in units)


def by_path(keys: Any) -> bool:
    """Whether workers can load these keys from their directory (one unit, with the weights saved there); else
    (split keys, keys with other weights) the keys object itself travels to each worker once."""
    return getattr(keys, "segments", None) is None and keys.circuit.path == keys.path / "circuit"


class Run:
    """One batch's state: results in input order, attempts per input, where proofs go."""

    def __init__(self, ids: list[str], out: Path | None, on_result: Callable[[int, Any], None] | None):
        self.ids, self.out, self.on_result = ids, out, on_result
        self.results: list = [None] * len(ids)
        self.attempts: dict[int, int] = {}
        self.deaths = 0  # workers lost, retried or not

    def finish(self, i: int, res: Any) -> None:
        self.results[i] = res
        if self.out is not None and not isinstance(res, BatchError):
            res.save(self.out / f"{self.ids[i]}.proof.json")
        if self.on_result is not None:
            self.on_result(i, res)

    def worker_died(self, i: int, what: str) -> bool:
        """Count a lost worker for input ``i``: True to retry it, else it becomes a BatchError now."""
        self.deaths += 1
        self.attempts[i] = self.attempts.get(i, 0) + 1
        if self.attempts[i] < MAX_ATTEMPTS:
            return True
        self.finish(
            i, BatchError(i, self.ids[i], "WorkerDied", f"the {what} proving this input died {MAX_ATTEMPTS} times")
        )
        return False
