"""``prove_many()``: many inferences of one model on a local process pool or a Ray cluster.

Each worker loads and authenticates the keys once and keeps them for every proof it makes (ezkl still
reads ``pk.key`` from disk, through the page cache, for each proof). Results come back in input order; an
input that fails becomes a ``BatchError`` while the others succeed. A worker that dies (OOM, SIGKILL) is
replaced and its item retried, up to three attempts. With ``out_dir``, every proof is written as it
completes, and a rerun proves only the inputs without a valid proof there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ProveError, ZKMLError
from ..keys.keys import Keys
from ..proof.proof import Proof
from ..support.files import atomic_write_text
from ..support.spawn import check_main_guard
from ..verifier.verification import verify
from .common import BatchError, Run


def prove_many(keys: Keys, inputs: Sequence[Any], *, workers: int | None = None, cluster: str | None = None,
               out_dir: str | os.PathLike | None = None, ids: Sequence[str] | None = None,
               on_result: Callable[[int, Any], None] | None = None) -> list:
    """Prove every input; returns proofs (or ``BatchError``) in input order.

    ``workers=None`` uses this machine's cores (or, on Ray, the cluster's CPUs). ``out_dir`` makes the
    batch resumable. ``cluster`` is a Ray address (``"ray://..."``, ``"host:port"``, or ``"auto"`` for the
    cluster this machine belongs to): Ray actors load the keys once each, from ``keys.path``, which must be
    readable on every node (a shared file system).
    """
    if getattr(keys, "segments", None) is not None:
        raise ProveError("prove_many proves many inputs of one circuit; a split model's inference already spreads over "
                         "workers", where="keys", hint="call split_keys.prove(x, workers=N) for each input")
    if keys.circuit.path != keys.path / "circuit":
        raise ProveError("these keys prove with other weights (with_weights): workers load keys from disk", where="keys",
                         hint="save them first (keys.save(dir)) and pass zkml.Keys.load(dir)")
    inputs = list(inputs)
    ids = [str(i) for i in (ids if ids is not None else range(len(inputs)))]
    if len(ids) != len(inputs) or len(set(ids)) != len(ids):
        raise ProveError("ids must be unique, one per input", where="ids", hint="pass distinct names, one per input")
    out = Path(out_dir) if out_dir is not None else None
    run = Run(ids, out, on_result)
    todo = _resume(keys, out, run) if out else list(range(len(inputs)))
    if todo:
        if cluster is not None:
            from .ray_backend import run_on_ray

            run_on_ray(keys, inputs, todo, workers, cluster, run)
        else:
            from .pool import run_pool

            check_main_guard()  # the pool spawns its workers
            n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
            while todo:
                todo = run_pool(keys, inputs, todo, n, run)
    if out is not None:
        errs = [r.__dict__ for r in run.results if isinstance(r, BatchError)]
        atomic_write_text(out / "errors.json", json.dumps(errs, indent=1))
    return run.results


def _resume(keys: Keys, out: Path, run: Run) -> list[int]:
    todo = []
    for i, name in enumerate(run.ids):
        p = out / f"{name}.proof.json"
        if p.exists():
            try:
                result = verify(Proof.load(p), keys.vk)
            except ZKMLError:
                result = None  # unreadable: prove it again below
            if result:
                run.results[i] = Proof.load(p, vk=keys.vk)
                continue
        todo.append(i)
    return todo
