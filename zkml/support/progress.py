"""Progress of long work: stage events to a callback (installed per context) and to the ``zkml`` logger.

The library reports what it is doing as :class:`Event` values: the stage (``compile``, ``tune``, ``setup``,
``prove``, ``srs``, ``batch``), the step within it, how much of it is done (``done``/``total`` in ``unit``), the seconds
since the step began, and the seconds left where the cost model or the count gives an estimate.

    from zkml.support.progress import reporting

    def show(event):
        print(event.line())

    with reporting(show):                           # every call below reports to ``show``
        keys = zkml.compile(model, data).setup()
    zkml.setup(circuit, progress=show)              # or for one call

Events say only public things: stage and step names, counts of steps, rows and bytes, and times. A caller
never puts a value of an input (or anything computed from one) into an event. Every event is also logged to
``logging.getLogger("zkml")``: start, done, failed and notes at INFO, updates at DEBUG.

The callback is held in a :mod:`contextvars` variable, so threads and asyncio tasks each see their own, and
library functions need no ``progress`` parameter to report. A callback that raises is logged and dropped for
the rest of that step, never allowed to break the work it watches.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Iterable, Iterator, TypeVar

log = logging.getLogger("zkml")

Callback = Callable[["Event"], Any]
_callback: contextvars.ContextVar[Callback | None] = contextvars.ContextVar("zkml_progress", default=None)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("zkml_progress_depth", default=0)
UPDATE_EVERY_S = 0.2  # updates closer together than this are not reported (the last one always is)

T = TypeVar("T")


@dataclass(frozen=True)
class Event:
    """One report about a step of work. ``status``: ``start``, ``update``, ``done`` or ``failed``; ``note`` for a
    report with no duration of its own (a cached result, why a circuit has its size)."""

    stage: str
    step: str
    status: str
    done: float | None = None
    total: float | None = None
    unit: str = ""
    elapsed: float = 0.0
    eta: float | None = None  # seconds left (predicted), None when nothing predicts it
    depth: int = 0  # how many steps enclose this one
    time: float = 0.0  # wall clock (time.time()) when it was reported

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Event":
        """An event another process reported (``to_json``'s dict); unknown keys are ignored."""
        return cls(**{k: d[k] for k in _FIELDS if k in d})

    def line(self) -> str:
        """One line for a log: ``setup: keys for 2^11 rows: 3.1 s elapsed, ~4 s left``."""
        what = f"{self.stage}: {self.step}" if self.step else self.stage
        count = ""
        if self.done is not None:
            count = f" {_amount(self.done, self.unit)}" + (f"/{_amount(self.total, self.unit)}" if self.total else "")
        if self.status == "note":
            return f"{what}{count}"
        if self.status == "start":
            tail = f"started{f', ~{seconds(self.eta)} predicted' if self.eta else ''}"
        elif self.status == "done":
            tail = f"done in {seconds(self.elapsed)}"
        elif self.status == "failed":
            tail = f"failed after {seconds(self.elapsed)}"
        else:
            tail = f"{seconds(self.elapsed)} elapsed{f', ~{seconds(self.eta)} left' if self.eta is not None else ''}"
        return f"{what}{count}: {tail}"


_FIELDS = ("stage", "step", "status", "done", "total", "unit", "elapsed", "eta", "depth", "time")


def seconds(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    return f"{int(s // 60)} min {int(s % 60):02d} s"


def _amount(n: float | None, unit: str) -> str:
    if n is None:
        return "?"
    if unit == "bytes":
        return f"{n / 1e6:.1f} MB"
    return f"{int(n)}" if float(n).is_integer() else f"{n:.1f}"


# installing a callback
@contextlib.contextmanager
def reporting(callback: Callback | None) -> Iterator[None]:
    """Report every event of the work inside the block to ``callback`` (``None``: to the logger only)."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


def install(callback: Callback | None) -> contextvars.Token:
    """Set the callback for the rest of this context (the CLI's whole command); undo with ``uninstall(token)``."""
    return _callback.set(callback)


def uninstall(token: contextvars.Token) -> None:
    _callback.reset(token)


def accepts_progress(fn: Callable[..., T]) -> Callable[..., T]:
    """Give ``fn`` a ``progress=callback`` keyword: the callback receives the events of that one call."""

    @functools.wraps(fn)
    def wrapper(*args: Any, progress: Callback | None = None, **kwargs: Any) -> T:
        if progress is None:
            return fn(*args, **kwargs)
        with reporting(progress):
            return fn(*args, **kwargs)

    wrapper.__doc__ = (
        fn.__doc__ or ""
    ) + "\n\n``progress=callback`` receives this call's progress events (zkml.support.progress)."
    return wrapper


# reporting
class Step:
    """A step being worked on; :func:`step` opens one. ``update``/``advance`` report how far it is."""

    def __init__(self, stage: str, what: str, total: float | None, unit: str, predicted_s: float | None):
        self.stage, self.what, self.total, self.unit, self.predicted_s = stage, what, total, unit, predicted_s
        self.done: float | None = 0 if total is not None else None
        self.t0 = time.perf_counter()
        self.depth = _depth.get()
        self._last = 0.0
        self._callback = _callback.get()
        self._eta_given: tuple[float, float] | None = None  # (seconds left, perf_counter when said), from update(eta=)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def eta(self) -> float | None:
        el = self.elapsed()
        if self._eta_given is not None:  # the caller's own estimate (a batch's per-item mean over its workers)
            left, at = self._eta_given
            return max(left - (time.perf_counter() - at), 0.0)
        if self.total and self.done:
            return max(el * (self.total - self.done) / self.done, 0.0)
        if self.predicted_s is not None:
            return max(self.predicted_s - el, 0.0)
        return None

    def update(self, done: float, total: float | None = None, *, eta: float | None = None) -> None:
        """Report ``done`` (of ``total``); ``eta``: the caller's estimate of the seconds left, used instead of the
        one from ``done``/``total`` until the next update that gives one."""
        self.done = done
        if total is not None:
            self.total = total
        if eta is not None:
            self._eta_given = (float(eta), time.perf_counter())
        now = time.perf_counter()
        if now - self._last >= UPDATE_EVERY_S or (self.total is not None and done >= self.total):
            self._last = now
            self._send("update")

    def advance(self, n: float = 1) -> None:
        self.update((self.done or 0) + n)

    def _send(self, status: str) -> None:
        eta = self.predicted_s if status == "start" else (0.0 if status == "done" else self.eta())
        ev = Event(
            self.stage,
            self.what,
            status,
            self.done,
            self.total,
            self.unit,
            round(self.elapsed(), 4),
            None if eta is None else round(eta, 2),
            self.depth,
            time.time(),
        )
        _deliver(ev, self)


def _deliver(ev: Event, step: Step | None = None) -> None:
    if ev.status == "update":
        log.debug("%s", ev.line())
    else:
        log.info("%s", ev.line())
    cb = step._callback if step is not None else _callback.get()
    if cb is None:
        return
    try:
        cb(ev)
    except Exception:  # a broken display must not break the proof it shows
        log.exception("progress callback failed; it gets no more events of this step")
        if step is not None:
            step._callback = None


@contextlib.contextmanager
def step(
    stage: str, what: str = "", *, total: float | None = None, unit: str = "", predicted_s: float | None = None
) -> Iterator[Step]:
    """Report a step: ``start`` now, ``done`` (or ``failed``) when the block ends, and updates in between.

    ``predicted_s``: what the cost model predicts the step takes (its ETA until it ends); otherwise the ETA
    comes from ``done``/``total``. ``what`` must hold public things only (counts, rows, names of steps)."""
    s = Step(stage, what, total, unit, predicted_s)
    s._send("start")
    token = _depth.set(s.depth + 1)
    try:
        yield s
    except BaseException:
        _depth.reset(token)
        s._send("failed")
        raise
    _depth.reset(token)
    s._send("done")


def emit(stage: str, what: str = "", *, done: float | None = None, total: float | None = None, unit: str = "") -> None:
    """One report with no duration of its own (a cached result, a choice made)."""
    _deliver(Event(stage, what, "note", done, total, unit, 0.0, None, _depth.get(), time.time()))


def relay(ev: Event, *, depth: int = 0, prefix: str = "") -> None:
    """Report an event that another process reported (a worker's, received as ``Event.from_json``) in this
    context: ``depth`` is added to its own and ``prefix`` goes before its step (``"input 3/8: "``)."""
    _deliver(replace(ev, depth=ev.depth + depth, step=f"{prefix}{ev.step}"))


def each(stage: str, what: str, items: Iterable[T]) -> Iterator[T]:
    """``items`` one by one, reporting ``"<what> i/n"`` (done i-1 of n) before each."""
    seq = list(items)
    for i, item in enumerate(seq):
        emit(stage, f"{what} {i + 1}/{len(seq)}", done=i, total=len(seq))
        yield item
