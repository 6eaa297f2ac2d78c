"""What ``GET /v1/jobs/{id}`` says about a job's progress: where it waits in the queue, or what its worker is doing.

The worker process reports its progress events (zkml.support.progress) up its pipe as it proves; the dispatcher
hands each to :meth:`Tracker.event`, which keeps only the latest, in memory (never in the journal: a restart
forgets it, and the job's status says the rest). Only public things are kept: stage and step names, counts and
times, never an input or anything computed from one.

``done``/``total`` count the job's proofs (``unit``: ``proofs``): one per circuit, so a split model's job counts
its segments. ``elapsed`` runs from the start of the current attempt; ``eta`` is the mean time of the last jobs
less that, or, before any job ended, what the cost model predicted for the step the worker is in.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

KEPT = 4096  # the last ended jobs whose final progress is kept


class _Job:
    def __init__(self, units: int):
        self.units = max(1, int(units))
        self.t0 = time.time()
        self.proofs = 0
        self.stage, self.step, self.status = "prove", "sent to a worker", "start"
        self.eta: float | None = None  # the latest event's own ETA, and when it was said
        self.at = self.t0
        self.ended: dict | None = None

    def event(self, ev: dict) -> None:
        stage, step, status = ev.get("stage"), ev.get("step"), ev.get("status")
        if not (isinstance(stage, str) and isinstance(step, str) and isinstance(status, str)):
            return
        self.stage, self.step, self.status = stage[:64], step[:200], status[:16]
        eta = ev.get("eta")
        self.eta = float(eta) if isinstance(eta, (int, float)) and math.isfinite(eta) else None
        self.at = time.time()
        # a proof (one per circuit) ended at the top of the job: the worker's own "proof of 2^k rows" step
        if status == "done" and ev.get("depth") == 0 and step.startswith("proof"):
            self.proofs = min(self.proofs + 1, self.units)

    def to_json(self, mean_s: float | None) -> dict:
        if self.ended is not None:
            return self.ended
        now = time.time()
        elapsed = now - self.t0
        if mean_s is not None and mean_s > elapsed:
            eta: float | None = mean_s - elapsed
        elif self.eta is not None and self.status in ("start", "update"):
            eta = max(self.eta - (now - self.at), 0.0)
        else:
            eta = None
        return {
            "stage": self.stage,
            "step": self.step,
            "status": self.status,
            "done": self.proofs,
            "total": self.units,
            "unit": "proofs",
            "elapsed": round(elapsed, 3),
            "eta": None if eta is None else round(eta, 2),
        }


class Tracker:
    """The latest progress of every job being proved, and the final one of the last ``KEPT`` that ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}

    def start(self, job_id: str, units: int) -> None:
        """A new attempt at ``job_id`` (its counts start again)."""
        with self._lock:
            self._jobs.pop(job_id, None)
            self._jobs[job_id] = _Job(units)
            self._trim()

    def event(self, job_id: str, ev: Any) -> None:
        """One progress event from the worker proving ``job_id`` (an ``Event.to_json()`` dict)."""
        if not isinstance(ev, dict):
            return
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.ended is None:
                job.event(ev)

    def end(self, job_id: str, ok: bool) -> None:
        """The job ended: keep its last progress, with every proof counted when it succeeded."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.ended is not None:
                return
            if ok:
                job.proofs = job.units
            final = job.to_json(None)
            final.update(status="done" if ok else "failed", eta=0.0 if ok else None)
            job.ended = final

    def running(self, job_id: str, mean_s: float | None) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_json(mean_s)

    def _trim(self) -> None:
        ended = [k for k, j in self._jobs.items() if j.ended is not None]
        for k in ended[: max(0, len(ended) - KEPT)]:
            del self._jobs[k]


def queued(position: int, ahead_s: float | None, created: float) -> dict:
    """A job still waiting for a worker: its place in the queue (1: next) and when it may end."""
    return {
        "stage": "queued",
        "step": "waiting for a worker",
        "status": "waiting",
        "position": position,
        "done": 0,
        "total": None,
        "unit": "proofs",
        "elapsed": round(max(time.time() - created, 0.0), 3),
        "eta": None if ahead_s is None else round(ahead_s, 2),
    }
