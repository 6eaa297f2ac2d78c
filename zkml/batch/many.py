"""``prove_many()``: many inferences of one model on a local process pool or a Ray cluster.

Each worker loads and authenticates the keys once and keeps them for every proof it makes (ezkl still
reads ``pk.key`` from disk, through the page cache, for each proof). Results come back in input order; an
input that fails becomes a ``BatchError`` while the others succeed. A worker that dies (OOM, SIGKILL) is
replaced and its item retried, up to three attempts. With ``out_dir``, every proof is written as it
completes, and a rerun proves only the inputs without a valid proof there.

Every kind of keys works: a split model's items are spread over the workers whole, each worker proving one
inference through every segment (``SplitKeys.prove``) while the others prove other inferences. Many inferences
keep every worker busy that way, the links between one inference's segments (and their blinding values) never
leave the worker that made them, and a worker's peak memory stays one segment's. (One inference's segments side
by side is ``split_keys.prove(x, workers=N)``.) Keys with other committed weights (``with_weights``) and split
keys travel to the workers as the objects themselves (pickled once per worker), not as a directory to reload.
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
from ..support.progress import accepts_progress, emit, step
from ..support.spawn import check_main_guard
from ..verifier.verification import verify
from .common import BatchError, Run, by_path, own_fingerprint


@accepts_progress
def prove_many(
    keys: Keys | Any,
    inputs: Sequence[Any],
    *,
    workers: int | None = None,
    cluster: str | None = None,
    out_dir: str | os.PathLike | None = None,
    ids: Sequence[str] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list:
    """Prove every input with Keys or SplitKeys (any weights); returns proofs (or ``BatchError``) in input order.

    ``workers=None`` uses this machine's cores (or, on Ray, the cluster's CPUs). ``out_dir`` makes the
    batch resumable. ``cluster`` is a Ray address (``"ray://..."``, ``"host:port"``, or ``"auto"`` for the
    cluster this machine belongs to): Ray actors load the keys once each, from ``keys.path``, which must be
    readable on every node (a shared file system).

    Progress: a ``batch`` step (zkml.support.progress) counts the items settled of those to prove, with the
    ETA from the measured mean per item over the workers; on a local pool each worker's own steps (witness,
    proof, segments) are reported beneath it, as ``input i/n: <step>``. ``progress=callback`` (or a callback
    installed with ``reporting``) receives them in this process; every event is also logged to ``zkml``.
    """
    if not (hasattr(keys, "prove") and hasattr(keys, "vk") and hasattr(keys, "circuit")):
        raise ProveError(
            f"prove_many needs Keys or SplitKeys, got {type(keys).__name__}",
            where="keys",
            hint="pass circuit.setup()'s keys, or zkml.Keys.load(dir)",
        )
    inputs = list(inputs)
    ids = [str(i) for i in (ids if ids is not None else range(len(inputs)))]
    if len(ids) != len(inputs) or len(set(ids)) != len(ids):
        raise ProveError("ids must be unique, one per input", where="ids", hint="pass distinct names, one per input")
    out = Path(out_dir) if out_dir is not None else None
    run = Run(ids, out, on_result)
    todo = _resume(keys, out, run) if out else list(range(len(inputs)))
    if len(todo) < len(inputs):
        emit("batch", "proofs kept from a previous run", done=len(inputs) - len(todo), total=len(inputs))
    if todo:
        with step("batch", f"{len(todo)} proofs", total=len(todo), unit="proofs") as s:
            _run(keys, inputs, todo, workers, cluster, run, s)
    if out is not None:
        errs = [r.__dict__ for r in run.results if isinstance(r, BatchError)]
        atomic_write_text(out / "errors.json", json.dumps(errs, indent=1))
    return run.results


def _run(keys: Any, inputs: list, todo: list[int], workers: int | None, cluster: str | None, run: Run, s) -> None:
    """Prove ``todo`` on Ray or on a local pool, reporting each settled item to the batch step ``s``."""
    if cluster is not None:
        from .ray_backend import run_on_ray

        run_on_ray(keys, inputs, todo, workers, cluster, run, s)
        return
    check_main_guard()  # the pool spawns its workers
    n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    run.track(s, n)
    if by_path(keys):
        from .pool import run_pool

        while todo:
            todo = run_pool(keys, inputs, todo, n, run)
    else:
        run_objects(keys, inputs, todo, n, run)


_KEYS: Any = None


def _init_object(keys: Any, home: str | None) -> None:
    global _KEYS
    if home:
        os.environ["ZKML_HOME"] = home
    _KEYS = keys  # authenticated by the parent when it loaded them; kept for every item this worker proves


def _prove_object(x: Any) -> Proof:
    return _KEYS.prove(x)


def run_objects(keys: Any, inputs: list, todo: list[int], n: int, run: Run) -> None:
    """Split keys, or keys with other weights, on ``n`` spawned workers that each receive the keys object once.
    A dead worker's item is retried on a new one (the common rule); one with no proof in time is a BatchError."""
    from ..support.workers import WorkerPool
    from .pool import drain

    with WorkerPool(
        _prove_object, n, initializer=_init_object, initargs=(keys, os.environ.get("ZKML_HOME")), progress=True
    ) as pool:
        drain(pool, inputs, todo, run)


def _resume(keys: Any, out: Path, run: Run) -> list[int]:
    """The items without a valid proof in ``out``: a proof there counts only if it verifies against the keys'
    statement, with the weights these keys prove with (a proof of other weights is proved again)."""
    todo = []
    fingerprint = own_fingerprint(keys)
    for i, name in enumerate(run.ids):
        p = out / f"{name}.proof.json"
        if p.exists():
            try:
                result = verify(Proof.load(p), keys.vk, weights_commitment=fingerprint)
            except ZKMLError:
                result = None  # unreadable: prove it again below
            if result:
                run.results[i] = Proof.load(p, vk=keys.vk)
                continue
        todo.append(i)
    return todo
