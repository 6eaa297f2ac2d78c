"""A small pool of spawned worker processes that never hangs: split segments and ``prove_many`` share it.

Each worker is one spawn process with its own pipe, fed one task at a time by a thread of the parent, so the
parent always knows which task a worker holds and since when. A worker that dies (OOM, SIGKILL) costs only
the task it held, which comes back as ``"died"`` (the caller may submit it again; a new worker replaces the
dead one). A task that gives no answer within the timeout (``ZKML_WORKER_TIMEOUT`` seconds, default
``DEFAULT_TIMEOUT_S``) has its worker killed and comes back as ``"timeout"``. Leaving the ``with`` block ends
every worker: idle ones are asked to stop, and anything still running (or stopped, or stuck) is killed, then
reaped, so no child process outlives the pool and no wait is unbounded.

With ``progress=True`` a worker also sends the progress events of each task (zkml.support.progress: stage,
step, counts and times, never a value) up its pipe ahead of the answer; ``results(on_progress=)`` hands them
over in the caller's thread. ``pool.took(key)`` is how long a worker spent on a task that came back (measured there).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable, Hashable, Iterator

from ..errors import ProveError

DEFAULT_TIMEOUT_S = 7200.0  # one task (a proof); generous: the biggest circuits zkml proves take minutes
STOP_GRACE_S = 10.0  # how long idle workers get to exit on their own before they are killed
ENV = "ZKML_WORKER_TIMEOUT"


def worker_timeout() -> float:
    """Seconds one task may take on a worker: ``$ZKML_WORKER_TIMEOUT``, else ``DEFAULT_TIMEOUT_S``."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ProveError(
            f"{ENV}={raw!r} is not a number of seconds",
            where=ENV,
            hint=f"set it to a positive number of seconds, or unset it ({DEFAULT_TIMEOUT_S:.0f} s)",
        )
    return value


def _send_progress(conn) -> Callable:
    """A progress callback that sends each event of the task at hand up ``conn`` (the parent reads it first)."""
    from multiprocessing.reduction import ForkingPickler

    def send(event) -> None:
        try:
            conn.send_bytes(ForkingPickler.dumps(("progress", event.to_json())))
        except (OSError, ValueError):  # the parent is gone: the task's answer will not arrive either
            pass

    return send


def _serve(conn, fn: Callable, initializer: Callable | None, initargs: tuple, progress: bool = False) -> None:
    """The worker process: run the initializer once, then ``fn(*args)`` for each task from the pipe."""
    from multiprocessing.reduction import ForkingPickler

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which ends its workers
    init_error: BaseException | None = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as err:  # every task then fails with why (a per-task error, not a death)
            init_error = err
    if progress:  # after the initializer: only a task's events travel, while the parent waits for its answer
        from .progress import install

        install(_send_progress(conn))
    while True:
        try:
            args = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if args is None:  # stop: skip the interpreter's teardown (seconds with torch and ezkl loaded)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (AttributeError, OSError, ValueError):
                    pass
            os._exit(0)
        t0 = time.monotonic()
        if init_error is not None:
            reply = ("failed", init_error)
        else:
            try:
                reply = ("done", fn(*args))
            except BaseException as err:
                reply = ("failed", err)
        del args
        try:  # the seconds the task itself took (the parent's clock would count this worker's start too)
            conn.send_bytes(ForkingPickler.dumps(("took", time.monotonic() - t0)))
        except OSError:
            return
        try:
            data = ForkingPickler.dumps(reply)
        except Exception as err:  # the result or the error would not pickle
            data = ForkingPickler.dumps(
                ("failed", RuntimeError(f"the worker's answer could not be sent back: {type(err).__name__}"))
            )
        del reply
        try:
            conn.send_bytes(data)
        except OSError:  # the parent is gone
            return


class _Worker:
    """One spawn process, its pipe, and the parent thread that hands it tasks and reads its answers."""

    def __init__(self, pool: WorkerPool):
        self.pool = pool
        parent, child = pool.ctx.Pipe()
        self.proc = pool.ctx.Process(
            target=_serve,
            args=(child, pool.fn, pool.initializer, pool.initargs, pool.progress),
            daemon=True,
            name="zkml-worker",
        )
        self.proc.start()
        child.close()
        self.conn = parent
        self.task: tuple[Hashable, float] | None = None  # (key, started), under pool.lock
        self.overdue = False
        self.thread = threading.Thread(target=self._feed, daemon=True, name="zkml-worker-feed")
        self.thread.start()

    def _feed(self) -> None:
        try:
            self._serve_tasks()
        except BaseException as err:  # a bug here must not leave a task unanswered: report it, end the worker
            self.kill()
            with self.pool.lock:
                held = self.task
            self._answer(held[0] if held else None, "failed", err, gone=True)

    def _serve_tasks(self) -> None:
        from multiprocessing.reduction import ForkingPickler

        pool = self.pool
        while True:
            item = pool.todo.get()
            if item is None:
                try:
                    self.conn.send(None)
                except (OSError, ValueError):
                    pass
                return
            key, args = item
            with pool.lock:
                self.task = (key, time.monotonic())
            try:
                data = ForkingPickler.dumps(args)
            except Exception as err:  # the task's arguments would not pickle: nothing is sent
                self._answer(key, "failed", err)
                continue
            try:
                self.conn.send_bytes(data)
                del data
                kind, value = self._receive(key)
            except (EOFError, OSError, ValueError):  # the worker is gone (or was killed)
                self._lost(key)
                return
            self._answer(key, kind, value)

    def _receive(self, key: Hashable) -> tuple[str, Any]:
        """The task's answer; its progress events (sent ahead of it) go to the pool's events as they arrive."""
        from multiprocessing.reduction import ForkingPickler

        while True:
            data = self.conn.recv_bytes()
            try:
                kind, value = ForkingPickler.loads(data)
            except Exception as err:  # the answer arrived whole but would not unpickle
                return "failed", err
            if kind == "took":
                with self.pool.lock:
                    self.pool._took[key] = value
            elif kind == "progress":
                self.pool.events.put((self, key, "progress", value, False))
            else:
                return kind, value

    def _answer(self, key: Hashable, kind: str, value: Any, gone: bool = False) -> None:
        with self.pool.lock:
            self.task = None
        self.pool.events.put((self, key, kind, value, gone))

    def _lost(self, key: Hashable) -> None:
        try:
            self.proc.join(STOP_GRACE_S)
            if self.proc.is_alive():  # the pipe broke but the process lives on: it is no use any more
                self.kill()
                self.proc.join(STOP_GRACE_S)
            code = self.proc.exitcode
        except ValueError:  # closed by the pool already
            code = None
        if self.overdue:
            self._answer(key, "timeout", self.pool.timeout, gone=True)
        else:
            self._answer(key, "died", code, gone=True)

    def kill(self) -> None:
        try:
            self.proc.kill()  # SIGKILL ends a stopped (SIGSTOP) or stuck process too
        except (OSError, ValueError, AttributeError):
            pass


class WorkerPool:
    """``with WorkerPool(fn, n) as pool: pool.submit(key, *args); for key, kind, value in pool.results(): ...``

    ``kind`` is ``"done"`` (``value`` is what ``fn`` returned), ``"failed"`` (``value`` is the exception it
    raised, or why its arguments or answer could not travel), ``"died"`` (the worker went away while it held
    the task; ``value`` is its exit code, negative for a signal) or ``"timeout"`` (no answer within
    ``value`` seconds; the worker was killed). A task that died may be submitted again from the loop.
    ``fn`` and ``initializer`` must be importable module-level functions (workers are spawned). ``progress``:
    workers send each task's progress events, for ``results(on_progress=)``."""

    def __init__(
        self,
        fn: Callable,
        workers: int,
        *,
        initializer: Callable | None = None,
        initargs: tuple = (),
        timeout: float | None = None,
        context=None,
        progress: bool = False,
    ):
        if context is None:
            from .spawn import spawn_context

            context = spawn_context()
        self.ctx, self.fn, self.initializer, self.initargs = context, fn, initializer, initargs
        self.progress = bool(progress)
        self._took: dict[Hashable, float] = {}  # seconds a worker spent on each task that came back, until read
        self.size = max(1, int(workers))
        self.timeout = float(timeout) if timeout is not None and timeout > 0 else worker_timeout()
        self.todo: queue.Queue = queue.Queue()
        self.events: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []  # the live ones
        self.started: list[_Worker] = []  # every one, so that close() reaps them all
        self.outstanding = 0
        self.closed = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, key: Hashable, *args: Any) -> None:
        if self.closed:
            raise RuntimeError("the worker pool is closed")
        self.outstanding += 1
        self.todo.put((key, args))
        self._grow()

    def _grow(self) -> None:
        while len(self.workers) < min(self.size, self.outstanding):
            w = _Worker(self)
            self.workers.append(w)
            self.started.append(w)

    def _wait_s(self) -> float:
        """Until the earliest deadline of a running task (at most a second)."""
        now, wait = time.monotonic(), 1.0
        with self.lock:
            for w in self.workers:
                if w.task is not None and not w.overdue:
                    wait = min(wait, w.task[1] + self.timeout - now)
        return max(wait, 0.01)

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        with self.lock:
            late = [w for w in self.workers if w.task is not None and now - w.task[1] > self.timeout and not w.overdue]
        for w in late:
            w.overdue = True
            w.kill()

    def took(self, key: Hashable) -> float | None:
        """Seconds the worker spent on task ``key`` (measured there, its start not counted), once; None if unknown."""
        with self.lock:
            return self._took.pop(key, None)

    def results(
        self, on_progress: Callable[[Hashable, dict], None] | None = None
    ) -> Iterator[tuple[Hashable, str, Any]]:
        """Every submitted task's outcome as it arrives, until none is outstanding. ``on_progress(key, event)``
        receives a task's progress events (``Event.to_json()`` dicts) in this thread, ahead of its outcome."""
        while self.outstanding:
            self._grow()
            self._kill_overdue()
            try:
                w, key, kind, value, gone = self.events.get(timeout=self._wait_s())
            except queue.Empty:
                continue
            if kind == "progress":
                if on_progress is not None:
                    on_progress(key, value)
                continue
            if gone and w in self.workers:
                self.workers.remove(w)
            if key is None:  # a worker's feeding thread failed between tasks
                continue
            self.outstanding -= 1
            yield key, kind, value

    def close(self) -> None:
        """End every worker and reap it: idle ones stop on their own, busy or stuck ones are killed."""
        if self.closed:
            return
        self.closed = True
        live, workers, self.workers = self.workers, self.started, []
        if self.outstanding:  # left early (an error, Ctrl-C): what is still running is not wanted
            for w in workers:
                w.kill()
        for _ in live:
            self.todo.put(None)
        deadline = time.monotonic() + STOP_GRACE_S
        for w in workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
        for w in workers:
            if w.proc.is_alive():
                w.kill()
            w.proc.join(STOP_GRACE_S)
            w.thread.join(1.0)
            try:
                w.conn.close()
            except OSError:
                pass
            try:
                w.proc.close()
            except ValueError:  # still running after SIGKILL and the grace: nothing more can be done
                pass


__all__ = ["DEFAULT_TIMEOUT_S", "WorkerPool", "worker_timeout"]
