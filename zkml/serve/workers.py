"""Long-lived provers: local spawn processes, or Ray actors, each loading its keys once and keeping them.

A worker proves one job at a time. Inputs travel in memory (a pipe, or Ray's object store), never through
files. A worker that dies is replaced; one that runs past the job timeout is killed and replaced. A local
worker sends the job's progress events (zkml.support.progress: stage, step, counts and times, never a value)
up its pipe ahead of the proof; the dispatcher keeps the latest (a Ray actor's stay on its node).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from typing import Any

from ..errors import ProveError, ServiceError, ZKMLError
from ..support.scrub import scrub


class WorkerDied(Exception):
    """The worker process or actor went away while it held a job."""


class JobTimeout(Exception):
    """The job ran past its timeout; the worker was killed."""


def _as_zkml_error(err: BaseException) -> ZKMLError:
    """A ZKMLError's text is free of private values already; any other text is scrubbed of every number."""
    if isinstance(err, ZKMLError):
        return err
    return ProveError(f"{type(err).__name__}: {scrub(str(err))}", hint="see the server's log; retry, or report it")


# local processes
def _load_all(keys_paths: list) -> dict:
    """Every served model's keys (Keys or SplitKeys), by the id the service serves it under (its statement)."""
    from ..keys.split import load_keys

    return {model_id: load_keys(p) for model_id, p in keys_paths}


def _send_progress(conn):
    """A progress callback that sends each event of the job at hand to the server, as a public dict."""

    def send(event) -> None:
        try:
            conn.send(("progress", event.to_json()))
        except (OSError, ValueError):  # the server is gone: the proof will not reach it either
            pass

    return send


def _worker_main(conn, keys_paths: list) -> None:
    """A worker process: load every served Keys once, then prove jobs from the pipe until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops its workers
    import json

    try:
        keys = _load_all(keys_paths)
    except BaseException as err:  # report why and stop: the server decides what to do
        conn.send(("fatal", _as_zkml_error(err)))
        return
    conn.send(("ready", os.getpid()))
    from ..support.progress import install

    install(_send_progress(conn))  # from now on: only a job's events, while the server waits for its proof
    while True:
        try:
            model_id, input_json = conn.recv()
        except (EOFError, OSError):  # the server is gone
            return
        try:
            proof = keys[model_id].prove(json.loads(input_json))
            msg = ("ok", proof.to_json())
        except BaseException as err:
            msg = ("error", _as_zkml_error(err))
        del input_json
        try:
            conn.send(msg)
        except (BrokenPipeError, OSError):
            return


class LocalWorker:
    """One spawn process and the pipe to it."""

    POLL_S = 0.1

    def __init__(self, keys_paths: list, start_timeout: float = 300.0):
        self.keys_paths = keys_paths
        self.start_timeout = start_timeout
        self.proc = None
        self.conn = None
        self.pid: int | None = None

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child, self.keys_paths), daemon=True, name="zkml-serve-worker")
        proc.start()
        child.close()
        self.proc, self.conn = proc, parent
        kind, value = self._wait(self.start_timeout, starting=True)
        if kind == "fatal":
            self.stop()
            raise value
        self.pid = value

    def _wait(self, timeout: float | None, starting: bool = False, on_progress=None) -> tuple[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.conn.poll(self.POLL_S):
                try:
                    kind, value = self.conn.recv()
                except (EOFError, OSError):
                    raise WorkerDied() from None
                if kind != "progress":
                    return kind, value
                if on_progress is not None:
                    on_progress(value)
                continue
            if not self.proc.is_alive() and not self.conn.poll():
                raise WorkerDied()
            if deadline is not None and time.monotonic() > deadline:
                self.stop()
                if starting:
                    raise ServiceError(
                        f"a worker did not load its keys within {timeout:.0f} s",
                        hint="the machine may be short of memory or CPU",
                    )
                raise JobTimeout()

    def prove(self, model_id: str, input_json: str, timeout: float | None, on_progress=None) -> tuple[str, Any]:
        """The worker's answer; ``on_progress(event_dict)`` receives the job's progress events as they come."""
        try:
            self.conn.send((model_id, input_json))
        except (BrokenPipeError, OSError):
            raise WorkerDied() from None
        return self._wait(timeout, on_progress=on_progress)

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.proc = self.conn = None


# Ray actors
_ACTOR = None


def _actor_class(ray):
    global _ACTOR
    if _ACTOR is None:

        @ray.remote(num_cpus=1, max_restarts=0)
        class ServeProver:
            def __init__(self, keys_paths: list, home: str | None):
                if home:
                    os.environ["ZKML_HOME"] = home
                self.keys = _load_all(keys_paths)  # once per actor

            def pid(self) -> int:
                return os.getpid()

            def prove(self, model_id: str, input_json: str):
                import json

                try:
                    return "ok", self.keys[model_id].prove(json.loads(input_json)).to_json()
                except BaseException as err:  # one bad input must not kill the actor
                    return "error", _as_zkml_error(err)

        _ACTOR = ServeProver
    return _ACTOR


class RayWorker:
    """One Ray actor on the cluster that ``zkml.batch.ray_backend.connect`` joined."""

    def __init__(self, keys_paths: list, cluster: str):
        self.keys_paths, self.cluster = keys_paths, cluster
        self.actor = None
        self.pid: int | None = None

    def start(self) -> None:
        from ..support.ray import connect

        ray = connect(self.cluster)
        self.actor = _actor_class(ray).remote(self.keys_paths, os.environ.get("ZKML_HOME"))
        try:
            self.pid = ray.get(self.actor.pid.remote(), timeout=300)
        except Exception as err:
            self.stop()
            raise ServiceError(
                f"a Ray worker did not start: {type(err).__name__}: {scrub(str(err))}",
                where="cluster",
                hint="check the cluster's resources and logs",
            ) from None

    def prove(self, model_id: str, input_json: str, timeout: float | None, on_progress=None) -> tuple[str, Any]:
        """The actor's answer (its progress events stay on its node: ``on_progress`` is not called)."""
        from ..support.ray import connect

        ray = connect(self.cluster)
        ref = self.actor.prove.remote(model_id, input_json)
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            self.stop()
            raise JobTimeout() from None
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError):
            self.stop()
            raise WorkerDied() from None

    def stop(self) -> None:
        if self.actor is not None:
            try:
                from ..support.ray import connect

                connect(self.cluster).kill(self.actor)
            except Exception:  # already gone: nothing to stop
                pass
            self.actor = None
