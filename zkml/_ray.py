"""The Ray backend of ``prove_many``: one actor per worker, each loading the proving key once.

Inputs go to the actor that proves them as task arguments (Ray's object store, in memory); proofs
come back as results. An actor that dies (node lost, OOM, killed) is replaced and its item retried.
"""

from __future__ import annotations

import os

from ._util import need
from .errors import ProveError

_ACTOR = None


def _actor_class(ray):
    global _ACTOR
    if _ACTOR is None:

        @ray.remote(num_cpus=1, max_restarts=0)
        class Prover:
            def __init__(self, keys_path: str, home: str | None):
                if home:
                    os.environ["ZKML_HOME"] = home
                from ._keys import Keys

                self.keys = Keys.load(keys_path)

            def pid(self) -> int:
                return os.getpid()

            def prove(self, i: int, name: str, x):
                from ._batch import as_batch_error

                try:
                    return i, self.keys.prove(x)
                except Exception as err:  # one bad input must not kill the actor
                    return i, as_batch_error(i, name, err)

        _ACTOR = Prover
    return _ACTOR


def connect(cluster: str):
    """Connect to the Ray cluster at ``cluster`` (once per process)."""
    ray = need("ray")
    if not ray.is_initialized():
        try:
            ray.init(address=cluster, logging_level="ERROR", log_to_driver=False)
        except Exception as err:
            raise ProveError(f"cannot connect to the Ray cluster at {cluster}: {err}", where="cluster",
                             hint="start one with `ray start --head`, or pass its address (host:port)") from err
    return ray


def run_on_ray(keys, inputs, ids, todo, workers, cluster, attempts, results, out, on_result, finish) -> None:
    from ._batch import MAX_ATTEMPTS, BatchError

    ray = connect(cluster)
    n = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), len(todo)))
    Prover = _actor_class(ray)
    home = os.environ.get("ZKML_HOME")
    actors = [Prover.remote(str(keys.path), home) for _ in range(n)]
    queue = list(todo)
    running = {}  # object ref -> (actor, index)

    def submit(actor):
        i = queue.pop(0)
        running[actor.prove.remote(i, ids[i], inputs[i])] = (actor, i)

    for a in actors:
        if queue:
            submit(a)
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        ref = done[0]
        actor, i = running.pop(ref)
        try:
            _, res = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
            attempts[i] += 1
            if attempts[i] < MAX_ATTEMPTS:
                queue.insert(0, i)
            else:
                finish(i, BatchError(i, ids[i], "WorkerDied", f"the Ray actor proving this input died {MAX_ATTEMPTS} times"),
                       results, out, ids, on_result)
            actor = Prover.remote(str(keys.path), home)  # replace the dead actor
            actors.append(actor)
        else:
            finish(i, res, results, out, ids, on_result)
        if queue:
            submit(actor)
    for a in actors:
        ray.kill(a)
