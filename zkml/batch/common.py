"""What both batch backends share: the per-input error, the retry rule, delivering a result and reporting progress."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ZKMLError
from ..support.progress import Event, Step, relay
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
    """One batch's state: results in input order, attempts per input, where proofs go, and its progress (the
    ``batch`` step: items done of those to prove, the ETA from the measured mean per item over the workers)."""

    def __init__(self, ids: list[str], out: Path | None, on_result: Callable[[int, Any], None] | None):
        self.ids, self.out, self.on_result = ids, out, on_result
        self.results: list = [None] * len(ids)
        self.attempts: dict[int, int] = {}
        self.deaths = 0  # workers lost, retried or not
        self.step: Step | None = None
        self.workers = 1
        self.took: list[float] = []  # seconds per item, as its worker measured it

    def track(self, step: Step, workers: int) -> None:
        """Report every settled item to ``step`` (its total: the items to prove), proved by ``workers`` at once."""
        self.step, self.workers = step, max(1, workers)

    def finish(self, i: int, res: Any, took: float | None = None) -> None:
        self.results[i] = res
        if self.out is not None and not isinstance(res, BatchError):
            res.save(self.out / f"{self.ids[i]}.proof.json")
        if self.step is not None:
            if took is not None:
                self.took.append(took)
            done = (self.step.done or 0) + 1
            self.step.update(done, eta=self.eta(done))
        if self.on_result is not None:
            self.on_result(i, res)

    def eta(self, done: float) -> float | None:
        """Seconds left: the mean seconds per item so far, times the items left, over the workers proving them."""
        if not self.took or self.step is None or self.step.total is None:
            return None
        left = max(self.step.total - done, 0)
        return sum(self.took) / len(self.took) * left / max(1, min(self.workers, left))

    def relay(self, i: int, event: dict) -> None:
        """A worker's progress event about input ``i``, reported here beneath the batch step."""
        try:
            ev = Event.from_json(event)
        except (TypeError, ValueError):  # not an event: nothing to show
            return
        depth = self.step.depth + 1 if self.step is not None else 0
        relay(ev, depth=depth, prefix=f"input {i + 1}/{len(self.ids)}: ")

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
