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
        self.finish(i, BatchError(i, self.ids[i], "WorkerDied", f"the {what} proving this input died {MAX_ATTEMPTS} times"))
        return False
