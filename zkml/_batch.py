"""``prove_many()``: many inferences of one model on a local process pool.

Each worker loads the proving key once (pool initializer) and proves the inputs sent to it; inputs
travel to workers in memory, never through files. Results come back in input order; an input that
fails becomes a ``BatchError`` while the others succeed. A worker that dies (OOM, SIGKILL) breaks
the pool: zkml starts a new one and retries the unfinished items. With ``out_dir``, every proof is
written as it completes, and a rerun proves only the inputs without a valid proof there.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ._util import atomic_write_text
from .errors import ProveError, ZKMLError

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


_KEYS = None


def _init_worker(keys_path: str, home: str | None) -> None:
    global _KEYS
    if home:
        os.environ["ZKML_HOME"] = home
    from ._keys import Keys

    _KEYS = Keys.load(keys_path)  # the proving key is read once per worker


def _prove_one(x: Any):
    return _KEYS.prove(x)


def as_batch_error(i: int, name: str, err: BaseException) -> BatchError:
    msg = str(err) if isinstance(err, ZKMLError) else str(err)[:500]
    return BatchError(i, name, type(err).__name__, msg)


def prove_many(keys, inputs: Sequence[Any], *, workers: int | None = None, cluster: str | None = None,
               out_dir: str | os.PathLike | None = None, ids: Sequence[str] | None = None,
               on_result: Callable[[int, Any], None] | None = None) -> list:
    """Prove every input; returns proofs (or ``BatchError``) in input order.

    ``workers=None`` uses this machine's cores (or, on Ray, the cluster's CPUs). ``out_dir`` makes the
    batch resumable. ``cluster`` is a Ray address (``"ray://..."``, ``"host:port"``, or ``"auto"`` for the
    cluster this machine belongs to): Ray actors load the proving key once each, from ``keys.path``,
    which must be readable on every node (a shared file system).
    """
    inputs = list(inputs)
    ids = [str(i) for i in (ids if ids is not None else range(len(inputs)))]
    if len(ids) != len(inputs) or len(set(ids)) != len(ids):
        raise ProveError("ids must be unique, one per input", where="ids", hint="pass distinct names, one per input")
    results: list = [None] * len(inputs)
    out = Path(out_dir) if out_dir is not None else None
    todo = _resume(keys, ids, out, results) if out else list(range(len(inputs)))
    if todo:
        n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        attempts = {i: 0 for i in todo}
        if cluster is not None:
            from ._ray import run_on_ray

            run_on_ray(keys, inputs, ids, todo, workers, cluster, attempts, results, out, on_result, _finish)
        while todo and cluster is None:
            todo = _run_pool(keys, inputs, ids, todo, n, attempts, results, out, on_result)
    if out is not None:
        errs = [r.__dict__ for r in results if isinstance(r, BatchError)]
        atomic_write_text(out / "errors.json", json.dumps(errs, indent=1))
    return results


def _resume(keys, ids, out: Path, results: list) -> list[int]:
    from ._proof import Proof, verify

    todo = []
    for i, name in enumerate(ids):
        p = out / f"{name}.proof.json"
        if p.exists():
            try:
                proof = Proof.load(p)
                if verify(proof, keys.vk):
                    results[i] = proof
                    continue
            except ZKMLError:
                pass  # unreadable or invalid: prove it again below
        todo.append(i)
    return todo


def _run_pool(keys, inputs, ids, todo, n, attempts, results, out, on_result) -> list[int]:
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
                    attempts[i] += 1
                    if attempts[i] < MAX_ATTEMPTS:
                        retry.append(i)
                        continue
                    res = BatchError(i, ids[i], "WorkerDied", f"the worker proving this input died {MAX_ATTEMPTS} times")
                except Exception as err:  # a bad input, or an ezkl crash in one item, must not sink the batch
                    res = as_batch_error(i, ids[i], err)
                _finish(i, res, results, out, ids, on_result)
    return sorted(retry)


def _finish(i, res, results, out, ids, on_result) -> None:
    results[i] = res
    if out is not None and not isinstance(res, BatchError):
        res.save(out / f"{ids[i]}.proof.json")
    if on_result is not None:
        on_result(i, res)
