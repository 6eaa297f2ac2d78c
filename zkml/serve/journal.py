"""The service's job journal: one SQLite file (mode 0600, WAL) that outlives a crash of the server.

A job is written (with its input) before its id is returned to the client; a restarted server runs
every job that is still queued or running. The input is erased the moment the job ends: the column is
set to NULL with ``secure_delete`` on (SQLite zeroes the freed bytes) and the WAL is checkpointed and
truncated, so no copy of a private input stays in the file or its WAL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServiceError, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    status TEXT NOT NULL,            -- queued | running | done | failed
    input TEXT,                      -- JSON; NULL once the job has ended
    proof TEXT,                      -- Proof.to_json(), public
    error TEXT,                      -- a problem-details object, already free of private values
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, created);
"""

UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class Job:
    id: str
    model_id: str
    status: str
    attempts: int
    created: float
    started: float | None
    finished: float | None
    proof: dict | None
    error: dict | None


class Journal:
    """Thread-safe: one connection behind a lock (every statement is short)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # the file exists with mode 0600 before SQLite opens it; SQLite gives its -wal/-shm the same mode
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(self.path, 0o600)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
            self._db.execute("PRAGMA secure_delete=ON")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise ServiceError(
                    f"the journal's file system does not support SQLite's WAL mode (got {mode})",
                    where=self.path,
                    hint="put ZKML_HOME (or --journal) on a local disk",
                )
            self._db.execute("PRAGMA synchronous=FULL")  # an accepted job survives a power cut, not only a crash
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(
                f"cannot open the job journal: {err}",
                stage="serve",
                where=self.path,
                hint="check that ZKML_HOME is writable, or pass --journal FILE",
            ) from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # writes
    def add(self, model_id: str, input_json: str) -> str:
        job_id = uuid.uuid4().hex
        self._exec(
            "INSERT INTO jobs (id, model_id, status, input, created) VALUES (?, ?, 'queued', ?, ?)",
            (job_id, model_id, input_json, time.time()),
        )
        return job_id

    def start(self, job_id: str) -> int:
        """Mark running and count an attempt; returns the attempts so far (this one included)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status='running', started=?, attempts=attempts+1 WHERE id=?", (time.time(), job_id)
            )
            return self._db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0]

    def finish(self, job_id: str, *, proof: dict | None = None, error: dict | None = None) -> None:
        """Store the proof (or the error) and erase the input in the same transaction."""
        status = "done" if proof is not None else "failed"
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, proof=?, error=?, input=NULL, finished=? WHERE id=?",
                (
                    status,
                    None if proof is None else json.dumps(proof),
                    None if error is None else json.dumps(error),
                    time.time(),
                    job_id,
                ),
            )
            # the old page images (with the input) sit in the WAL until a checkpoint: copy back and truncate it
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def recover(self) -> list[str]:
        """Jobs a previous server accepted and did not finish, oldest first, all set back to queued."""
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created"
                ).fetchall()
            ]
            self._db.execute("UPDATE jobs SET status='queued' WHERE status='running'")
        return ids

    # reads
    def input_of(self, job_id: str) -> tuple[str, str | None, int]:
        rows = self._exec("SELECT model_id, input, attempts FROM jobs WHERE id=?", (job_id,))
        if not rows:
            raise KeyError(job_id)
        return rows[0]

    def get(self, job_id: str) -> Job | None:
        rows = self._exec(
            "SELECT id, model_id, status, attempts, created, started, finished, proof, error FROM jobs WHERE id=?",
            (job_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return Job(*r[:7], json.loads(r[7]) if r[7] else None, json.loads(r[8]) if r[8] else None)

    def counts(self) -> dict[str, int]:
        return dict(self._exec("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
