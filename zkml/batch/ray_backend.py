"""The Ray backend of ``prove_many``: one actor per worker, each loading the proving key once.

Inputs go to the actor that proves them as task arguments (Ray's object store, in memory); proofs
come back as results. Split keys (an actor proves one inference through every segment) and keys with other
committed weights go to the actors as the object itself; other keys as their directory. An actor that dies (node lost, OOM, killed) is replaced and its item retried; one with no answer within
ZKML_WORKER_TIMEOUT seconds is killed and its item is a BatchError. Progress: the batch step counts settled items
(the actors' own steps stay on their nodes).
"""

from __future__ import annotations

import os
import time

from ..keys.keys import Keys
from ..support.ray import connect
from ..support.workers import worker_timeout
from .common import BatchError, Run, as_batch_error, by_path

_ACTOR = None


def _actor_class(ray):
    global _ACTOR
    if _ACTOR is None:

        @ray.remote(num_cpus=1, max_restarts=0)
        class Prover:
            def __init__(self, keys_source, home: str | None):
                if home:
                    os.environ["ZKML_HOME"] = home
                # once per actor, kept for every proof it makes: a keys directory, or the keys object itself
                self.keys = Keys.load(keys_source) if isinstance(keys_source, str) else keys_source

            def pid(self) -> int:
                return os.getpid()

            def prove(self, i: int, name: str, x):
                try:
                    return i, self.keys.prove(x)
                except Exception as err:  # one bad input must not kill the actor
                    return i, as_batch_error(i, name, err)

        _ACTOR = Prover
    return _ACTOR


def run_on_ray(keys, inputs: list, todo: list[int], workers: int | None, cluster: str, run: Run, step=None) -> None:
    ray = connect(cluster)
    n = max(1, min(workers or int(ray.cluster_resources().get("CPU", 1)), len(todo)))
    if step is not None:
        run.track(step, n)
    Prover = _actor_class(ray)
    home = os.environ.get("ZKML_HOME")
    source = str(keys.path) if by_path(keys) else ray.put(keys)  # split keys, other weights: the object, once
    actors = [Prover.remote(source, home) for _ in range(n)]
    queue = list(todo)
    running = {}  # object ref -> (actor, index, when it was sent)
    limit = worker_timeout()

    def submit(actor):
        i = queue.pop(0)
        running[actor.prove.remote(i, run.ids[i], inputs[i])] = (actor, i, time.monotonic())

    for a in actors:
        if queue:
            submit(a)
    while running:
        # every wait is bounded: an actor with no answer within ZKML_WORKER_TIMEOUT is killed, its item a BatchError
        oldest = min(t for _, _, t in running.values())
        done, _ = ray.wait(list(running), num_returns=1, timeout=max(0.1, oldest + limit - time.monotonic()))
        if not done:
            for ref, (actor, i, t) in list(running.items()):
                if time.monotonic() - t >= limit:
                    running.pop(ref)
                    ray.kill(actor)
                    run.finish(
                        i,
                        BatchError(
                            i,
                            run.ids[i],
                            "WorkerTimeout",
                            f"no proof after {limit:.0f} s (ZKML_WORKER_TIMEOUT); the Ray actor was killed",
                        ),
                    )
                    actor = Prover.remote(source, home)
                    actors.append(actor)
                    if queue:
                        submit(actor)
            continue
        ref = done[0]
        actor, i, sent = running.pop(ref)
        try:
            _, res = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
            if run.worker_died(i, "Ray actor"):
                queue.insert(0, i)
            actor = Prover.remote(source, home)  # replace the dead actor
            actors.append(actor)
        else:
            run.finish(i, res, time.monotonic() - sent)  # an actor holds one item at a time: sent is when it began
        if queue:
            submit(actor)
    for a in actors:
        ray.kill(a)
