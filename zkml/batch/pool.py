"""The local backend of ``prove_many``: a spawn process pool whose workers each load the keys once.

Inputs travel to workers in memory, never through files. A worker that dies (OOM, SIGKILL) breaks the
pool: a new pool retries the unfinished items.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..keys.keys import Keys
from .common import Run, as_batch_error

_KEYS: Keys | None = None


def _init_worker(keys_path: str, home: str | None) -> None:
    global _KEYS
    if home:
        os.environ["ZKML_HOME"] = home
    _KEYS = Keys.load(keys_path)  # read and authenticated once per worker, kept for every proof it makes


def _prove_one(x: Any):
    return _KEYS.prove(x)


def run_pool(keys: Keys, inputs: list, todo: list[int], n: int, run: Run) -> list[int]:
    """One pool's lifetime. Returns the items to retry when a worker died."""
    ctx = mp.get_context("spawn")
    retry: list[int] = []
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(str(keys.path), os.environ.get("ZKML_HOME"))) as pool:
        futures = {pool.submit(_prove_one, inputs[i]): i for i in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = futures[fut]
                try:
                    res = fut.result()
                except BrokenProcessPool:
                    if run.worker_died(i, "worker"):
                        retry.append(i)
                    continue
                except Exception as err:  # a bad input, or an ezkl crash in one item, must not sink the batch
                    res = as_batch_error(i, run.ids[i], err)
                run.finish(i, res)
    return sorted(retry)
