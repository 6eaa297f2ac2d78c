"""The proving service's core, without HTTP: served models, admission, the journal, workers and metrics.

One dispatcher thread per worker takes job ids from the queue, proves them on its worker (a spawn process
or a Ray actor that keeps its keys loaded) and writes the outcome to the journal. A worker that dies is
replaced and its job retried (``MAX_ATTEMPTS`` in all, restarts of the server included); a job that runs
past the timeout fails and its worker is replaced. A job's progress (its place in the queue, or the latest event
its worker reported) is kept in memory by a Tracker and shown by ``job_json``; the journal never holds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputShapeError, ServiceError, ZKMLError
from ..keys.keys import Keys
from ..model.inputs import to_feeds
from .journal import Journal
from .problems import from_error, kind_of
from .tracker import Tracker, queued
from .workers import JobTimeout, LocalWorker, RayWorker, WorkerDied

log = logging.getLogger("zkml.serve")
MAX_ATTEMPTS = 3
OUTPUTS_KEPT = 4096  # decoded outputs of the last jobs, so GET /v1/jobs/{id} does not verify again
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, math.inf)


@dataclass(frozen=True)
class Served:
    """One model the service knows, as a statement: its verifying key(s) (one unit or every segment of a split
    model) and, when the weights are committed, the fingerprint it pins (None: unpinned, the weights of a proof
    are then reported, never checked). Its proving keys when it may prove (``source`` is their directory)."""

    vk: Any  # VerifyingKey | SplitVerifyingKey, pinned with pin_weights where the weights are known
    keys: Any = None  # Keys | SplitKeys
    source: str = ""

    @property
    def id(self) -> str:
        return self.vk.id

    @property
    def segments(self) -> tuple:
        return tuple(getattr(self.vk, "segments", None) or (self.vk,))

    def statement(self) -> dict:
        """What a verdict of this model is checked against (the model id is its hash)."""
        return {
            "model_id": self.id,
            "key_id": self.vk.key_id,
            "segments": len(self.segments),
            "committed": bool(self.vk.committed),
            "weights_commitment": self.vk.weights_commitment,
            "weights_pinned": self.vk.weights_commitment is not None,
        }

    @property
    def inputs(self) -> list:
        """The model's inputs as a client sends them (a split model's own blinding input is zkml's, not the client's)."""
        own = _blind_input() if len(self.segments) > 1 else None
        return [t for t in self.segments[0].meta["inputs"] if t["name"] != own]

    def srs(self) -> dict:
        """The SRS as this server (the verifier here) sees it: ceremony / pinned / unknown, from the digest alone."""
        status = getattr(self.vk, "srs_status", None)
        if status is None:
            return {"srs_status": "unknown", "srs_name": None, "srs_message": None}
        return {"srs_status": status.kind, "srs_name": status.name, "srs_message": status.message}

    def to_json(self) -> dict:
        last = self.segments[-1].meta
        return {
            "id": self.id,
            **self.statement(),
            "inputs": self.inputs,
            "outputs": last["outputs"],
            "visibility": dict(self.vk.visibility),
            "dev_srs": self.vk.dev_srs,
            **self.srs(),
            "core_cid": getattr(self.vk, "core_cid", None),
            "can_prove": self.keys is not None,
        }


def _blind_input() -> str | None:
    from ..model import graph

    return getattr(graph, "BLIND_INPUT", None)


def check_input(keys: Any, x: Any) -> None:
    """Raise the library's InputError for an input these keys would refuse (a split model: its first segment's)."""
    if getattr(keys, "segments", None) is not None:
        from ..circuit import split as split_circuit

        first = getattr(split_circuit, "first_feeds", None)  # with the links' blinding values, when the chain has them
        if first is not None:
            first(keys.circuit, x)
            return
    to_feeds(keys.circuit.model, x)


def _kind_of_dir(p: Path) -> str | None:
    """``keys`` / ``split_keys`` for a (split) keys directory, else None (a verifying-key directory)."""
    if (p / "keys.json").is_file():
        return "keys"
    if (p / "split.json").is_file():
        try:
            kind = json.loads((p / "split.json").read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            return None  # the loader below says what is wrong with it
        return "split_keys" if kind == "split_keys" else None
    return None


def load_served(path: str | os.PathLike) -> Served:
    """A keys directory, single or split (proves and verifies), a verifying-key directory or a ``.car`` bundle
    (verifies only). Keys with committed weights serve the statement of their own weights: the fingerprint of
    the weights they prove with is computed here and pinned, so a proof made with other weights is refused."""
    from ..batch.common import own_fingerprint
    from ..keys.split import SplitKeys, load_vk

    p = Path(path)
    kind = _kind_of_dir(p) if p.is_dir() else None
    if kind is not None:
        keys = Keys.load(p) if kind == "keys" else SplitKeys.load(p)
        vk = keys.vk
        if vk.committed:
            own = own_fingerprint(keys)
            if vk.weights_commitment is not None and vk.weights_commitment != own:
                raise ServiceError(
                    "these keys prove with weights whose fingerprint is not the one their verifying key pins",
                    where=p,
                    hint="serve the keys of the published weights (keys.with_weights(model)"
                    ".save(dir)), or a verifying key without that pin",
                )
            vk = vk.pin_weights(own)
        return Served(vk, keys, str(p))
    if p.is_file():
        from ..verifier.bundles import Bundle

        return Served(Bundle.load(p).verifying_key(), None, str(p))
    return Served(load_vk(p), None, str(p))


def service_error(message: str, status: int, hint: str | None = None, **kw) -> ServiceError:
    err = ServiceError(message, hint=hint, **kw)
    err.status = status
    return err


class Busy(ServiceError):
    """The queue is full (429)."""

    status = 429


class Service:
    def __init__(
        self,
        models: list[Served],
        journal: Journal,
        *,
        workers: int = 1,
        cluster: str | None = None,
        queue_size: int = 16,
        job_timeout: float | None = 600.0,
    ):
        self.models: dict[str, Served] = {}
        for m in models:
            if m.id in self.models and self.models[m.id].keys is not None:
                continue  # the same model twice: keep the copy that can prove
            self.models[m.id] = m
        self.journal = journal
        self.n_workers, self.cluster = max(1, workers), cluster
        self.queue_size, self.job_timeout = max(0, queue_size), job_timeout
        self._q: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._inflight = 0  # accepted and not ended: queued + running
        self._running = 0
        self._ready = 0
        self._threads: list[threading.Thread] = []
        self._workers: list[Any] = []
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._recent: list[float] = []  # seconds of the last jobs, for Retry-After
        self._outputs: dict[str, list] = {}  # job id -> outputs read from the proof's verification
        self._progress = Tracker()  # job id -> the latest progress its worker reported (memory only)
        self._add_metrics()

    def _add_metrics(self) -> None:
        """Metrics: counts and timings only, never an input, an output or a message."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        Gauge("zkml_serve_queue_depth", "jobs accepted and waiting for a worker", registry=self.registry).set_function(
            lambda: self._q.qsize()
        )
        Gauge("zkml_serve_jobs_running", "jobs being proved now", registry=self.registry).set_function(
            lambda: self._running
        )
        Gauge("zkml_serve_workers_ready", "workers with their keys loaded", registry=self.registry).set_function(
            lambda: self._ready
        )
        self.m_latency = Histogram(
            "zkml_serve_job_seconds",
            "time from acceptance to a stored proof",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.m_prove = Histogram(
            "zkml_serve_prove_seconds",
            "time a worker spent on one attempt",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.m_jobs = Counter("zkml_serve_jobs", "jobs ended, by outcome", ["outcome"], registry=self.registry)
        self.m_failures = Counter("zkml_serve_failures", "failed jobs by kind", ["kind"], registry=self.registry)
        self.m_rejected = Counter(
            "zkml_serve_rejected",
            "requests refused before a job was made, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.m_restarts = Counter(
            "zkml_serve_worker_restarts", "workers replaced after dying or timing out", registry=self.registry
        )

    @property
    def provers(self) -> list[Served]:
        return [m for m in self.models.values() if m.keys is not None]

    # lifecycle
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        recovered = self.journal.recover()
        with self._lock:
            self._inflight += len(recovered)
        for job_id in recovered:
            self._q.put(job_id)
        if recovered:
            log.info("resuming %d unfinished job(s) from the journal", len(recovered))
        if not self.provers:
            return
        paths = [(m.id, m.source) for m in self.provers]  # each worker loads them once, under the served id
        for i in range(self.n_workers):
            w = RayWorker(paths, self.cluster) if self.cluster else LocalWorker(paths)
            self._workers.append(w)
            t = threading.Thread(target=self._dispatch, args=(w,), name=f"zkml-serve-dispatch-{i}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._q.put(None)
        for w in self._workers:
            w.stop()
        for t in self._threads:
            t.join(2)

    @property
    def workers_ready(self) -> int:
        return self._ready

    # admission
    def model(self, model_id: str) -> Served:
        m = self.models.get(model_id.lower().removeprefix("0x"))
        if m is None:
            raise KeyError(model_id)
        return m

    def submit(self, model_id: str, x: Any) -> str:
        """Validate ``x``, journal the job and queue it; raises InputError (422) or Busy (429)."""
        m = self.model(model_id)
        if m.keys is None:
            raise service_error(
                "this model is served for verification only: the server was given its verifying key or "
                "bundle, not its proving keys",
                409,
                "start prove-model serve with the keys directory to prove",
                where=f"model {m.id[:12]}",
            )
        names = [t["name"] for t in m.inputs]
        if isinstance(x, dict) and sorted(x) != sorted(names):  # named without echoing the names sent
            raise InputShapeError(
                f"the input's names are not the model's {len(names)} input name(s)",
                stage="prove",
                where="input",
                hint="use the names GET /v1/models/{id} lists under 'inputs', or pass the array alone",
            )
        check_input(m.keys, x)  # shapes, types, NaN: the library's own errors, before anything is stored
        with self._lock:
            if self._inflight >= self.queue_size + self.n_workers:
                self.m_rejected.labels("queue_full").inc()
                err = Busy(
                    f"the queue is full ({self.queue_size} waiting, {self.n_workers} proving)",
                    hint=f"retry after {self.retry_after()} s, or start the server with more --workers or --queue-size",
                )
                err.retry_after = self.retry_after()
                raise err
            self._inflight += 1
        try:
            job_id = self.journal.add(m.id, json.dumps(x))  # durable before the client hears of it
        except BaseException:
            with self._lock:
                self._inflight -= 1
            raise
        self._q.put(job_id)
        return job_id

    def retry_after(self) -> int:
        recent = self._recent[-20:]
        per_job = sum(recent) / len(recent) if recent else 1.0
        return max(1, math.ceil(per_job * (self._q.qsize() + 1) / self.n_workers))

    # waiting (on the event loop)
    async def wait(self, job_id: str, timeout: float) -> None:
        fut = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiters.setdefault(job_id, []).append(fut)
        try:
            job = self.journal.get(job_id)
            if job is None or job.status in ("done", "failed"):
                return
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                lst = self._waiters.get(job_id, [])
                if fut in lst:
                    lst.remove(fut)
                if not lst:
                    self._waiters.pop(job_id, None)

    def _notify(self, job_id: str) -> None:
        with self._lock:
            futs = list(self._waiters.get(job_id, []))
        if futs and self._loop is not None:

            def wake():
                for f in futs:
                    if not f.done():
                        f.set_result(None)

            try:
                self._loop.call_soon_threadsafe(wake)
            except RuntimeError:  # the loop closed: the server is stopping, nobody waits any more
                pass

    # dispatching (one thread per worker)
    def _start_worker(self, w) -> bool:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                w.start()
                with self._lock:
                    self._ready += 1
                return True
            except ZKMLError as err:
                log.error("a worker failed to start: %s", err)
            except WorkerDied:
                log.error("a worker died while loading its keys")
            self._stopping.wait(delay)
            delay = min(delay * 2, 30.0)
        return False

    def _restart(self, w) -> bool:
        with self._lock:
            self._ready -= 1
        self.m_restarts.inc()
        w.stop()
        return self._start_worker(w)

    def _dispatch(self, w) -> None:
        if not self._start_worker(w):
            return
        while True:
            job_id = self._q.get()
            if job_id is None or self._stopping.is_set():
                return
            with self._lock:
                self._running += 1
            try:
                self._run(w, job_id)
            except Exception as err:  # a bug here must not stop the dispatcher; the job ends failed
                if self._stopping.is_set():  # the journal may be closed: the job stays unfinished, resumed next start
                    return
                log.error("job %s: internal error %s", job_id, from_error(err)["detail"])
                self._end(job_id, error=err)
            finally:
                with self._lock:
                    self._running -= 1

    def _run(self, w, job_id: str) -> None:
        model_id, input_json, _ = self.journal.input_of(job_id)
        if input_json is None:  # ended already (a duplicate in the queue)
            with self._lock:
                self._inflight -= 1
            return
        while True:
            attempt = self.journal.start(job_id)
            if attempt > MAX_ATTEMPTS:
                self._end(
                    job_id,
                    error=service_error(
                        f"the worker proving this job died {MAX_ATTEMPTS} times",
                        500,
                        "the machine may be short of memory for this model",
                    ),
                    kind="worker_died",
                )
                return
            if not self._attempt(w, job_id, model_id, input_json, attempt):
                return

    def _attempt(self, w, job_id: str, model_id: str, input_json: str, attempt: int) -> bool:
        """One attempt at a job on worker ``w``; True when it should be tried again (its worker died and was
        replaced), False when it ended (or the server is stopping)."""
        t0 = time.perf_counter()
        served = self.models.get(model_id)  # (a journaled job of a model no longer served: the worker says so)
        self._progress.start(job_id, len(served.segments) if served is not None else 1)
        try:
            kind, value = w.prove(
                model_id, input_json, self.job_timeout, on_progress=lambda ev: self._progress.event(job_id, ev)
            )
        except WorkerDied:
            if self._stopping.is_set():  # stopped by the server's shutdown: resumed on the next start
                return False
            log.warning(
                "job %s: its worker died (attempt %d of %d); replacing the worker", job_id, attempt, MAX_ATTEMPTS
            )
            return self._restart(w)
        except JobTimeout:
            log.warning("job %s: ran past %s s; replacing its worker", job_id, self.job_timeout)
            self._end(
                job_id,
                error=service_error(
                    f"the job ran past the server's timeout of {self.job_timeout:g} s",
                    504,
                    "start the server with a larger --job-timeout",
                ),
                kind="timeout",
            )
            self._restart(w)
            return False
        self.m_prove.observe(time.perf_counter() - t0)
        if kind == "ok":
            self._end(job_id, proof=value)
        else:
            self._end(job_id, error=value)
        return False

    def _end(
        self, job_id: str, *, proof: dict | None = None, error: BaseException | None = None, kind: str | None = None
    ):
        if proof is not None:  # the worker's proof is checked against the served statement before anyone gets it
            model_id = self.journal.get(job_id).model_id
            v = self.check(self.models[model_id], proof)
            if v:
                with self._lock:
                    self._outputs[job_id] = [o.tolist() for o in v.outputs]
            else:
                log.error("job %s: the worker's proof did not verify against the served model", job_id)
                proof, error = (
                    None,
                    service_error(
                        "the proof the worker made does not verify against the served model",
                        500,
                        "report this: the worker's keys may not be the served ones",
                    ),
                )
                kind = "unverified"
        self._progress.end(job_id, ok=proof is not None)  # before the journal says it ended
        if proof is not None:
            self.journal.finish(job_id, proof=proof)
            self.m_jobs.labels("done").inc()
        else:
            body = from_error(error)
            self.journal.finish(job_id, error=body)
            self.m_jobs.labels("failed").inc()
            self.m_failures.labels(kind or kind_of(error)).inc()
            log.info("job %s failed: %s", job_id, body["error"])
        job = self.journal.get(job_id)
        if job is not None and job.finished and proof is not None:
            self.m_latency.observe(job.finished - job.created)
            self._recent = (self._recent + [job.finished - (job.started or job.created)])[-20:]
        with self._lock:
            self._inflight -= 1
        self._notify(job_id)

    # results
    def job_json(self, job_id: str) -> dict | None:
        job = self.journal.get(job_id)
        if job is None:
            return None
        body: dict[str, Any] = {
            "job_id": job.id,
            "model_id": job.model_id,
            "status": job.status,
            "attempts": job.attempts,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
        }
        progress = self.progress_of(job)
        if progress is not None:
            body["progress"] = progress
        if job.proof is not None:
            body["proof"] = job.proof
            body["outputs"] = self.outputs_of(job.model_id, job.proof, job.id)
        if job.error is not None:
            body["error"] = job.error
        return body

    def progress_of(self, job) -> dict | None:
        """A queued job's place in the queue, a running job's latest progress, an ended job's last (while kept)."""
        recent = self._recent[-20:]
        mean = sum(recent) / len(recent) if recent else None
        if job.status == "queued":
            with self._q.mutex:
                waiting = [j for j in self._q.queue if j is not None]
            position = waiting.index(job.id) + 1 if job.id in waiting else 1
            ahead_s = None if mean is None else mean * ((position - 1) / self.n_workers + 1)
            return queued(position, ahead_s, job.created)
        return self._progress.running(job.id, mean)

    def outputs_of(self, model_id: str, proof_json: dict, job_id: str | None = None) -> list:
        """The proof's public outputs, read from its verification against the served statement (once per job)."""
        with self._lock:
            if job_id is not None and job_id in self._outputs:
                return self._outputs[job_id]
        m = self.models.get(model_id)
        if m is None:
            return []
        v = self.check(m, proof_json)
        outs = [o.tolist() for o in v.outputs] if v else []
        if job_id is not None:
            with self._lock:
                self._outputs[job_id] = outs
                while len(self._outputs) > OUTPUTS_KEPT:
                    self._outputs.pop(next(iter(self._outputs)))
        return outs

    @staticmethod
    def check(m: Served, proof_json: dict):
        from ..proof.proof import Proof
        from ..verifier.verification import verify

        return verify(Proof.from_json(proof_json, vk=m.vk), m.vk)
