"""The local backend of ``prove_many``: a spawn process pool whose workers each load the keys once.

Inputs travel to workers in memory, never through files. A worker that dies (OOM, SIGKILL) costs only the
item it held, which is retried on a new worker (the common retry rule); an item with no proof within
``ZKML_WORKER_TIMEOUT`` seconds becomes a BatchError and its worker is killed (zkml.support.workers).
Each worker's progress events (its witness and proof steps) are reported in the parent, under the batch step.
"""

from __future__ import annotations

import os
from typing import Any

from ..keys.keys import Keys
from ..support.workers import WorkerPool
from .common import BatchError, Run, as_batch_error

_KEYS: Keys | None = None


def _init_worker(keys_path: str, home: str | None) -> None:
    global _KEYS
    if home:
        os.environ["ZKML_HOME"] = home
    _KEYS = Keys.load(keys_path)  # read and authenticated once per worker, kept for every proof it makes


def _prove_one(x: Any):
    return _KEYS.prove(x)


def drain(pool: WorkerPool, inputs: list, todo: list[int], run: Run) -> None:
    """Submit ``todo`` to ``pool`` and settle every item: proved, retried once its worker died (the common rule), a
    WorkerTimeout, or the item's own error."""
    for i in todo:
        pool.submit(i, inputs[i])
    for i, kind, value in pool.results(on_progress=run.relay):
        if kind == "done":
            run.finish(i, value, pool.took(i))
        elif kind == "died":
            if run.worker_died(i, "worker"):
                pool.submit(i, inputs[i])
        elif kind == "timeout":
            run.finish(
                i,
                BatchError(
                    i,
                    run.ids[i],
                    "WorkerTimeout",
                    f"no proof after {value:.0f} s (ZKML_WORKER_TIMEOUT); the worker was killed",
                ),
            )
        else:  # a bad input, or an ezkl crash in one item, must not sink the batch
            run.finish(i, as_batch_error(i, run.ids[i], value), pool.took(i))


def run_pool(keys: Keys, inputs: list, todo: list[int], n: int, run: Run) -> list[int]:
    """One pool's lifetime: every item in ``todo`` ends proved or as a BatchError, and every worker is ended
    before this returns. Returns the items still to retry (none: a dead worker's item is retried here)."""
    with WorkerPool(
        _prove_one,
        n,
        initializer=_init_worker,
        initargs=(str(keys.path), os.environ.get("ZKML_HOME")),
        progress=True,
    ) as pool:
        drain(pool, inputs, todo, run)
    return []
