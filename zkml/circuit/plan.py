"""Planning a split for workers, not only for memory: which ``max_logrows`` to cut at, from the cost model.

A split circuit is proved in two phases (``zkml.keys.split``): the witness chain, segment after segment in one
process (cheap: onnxruntime-sized work), then every segment's proof, each independent of the others, on
``workers`` one-core workers. The critical path is the witness chain plus the proofs scheduled longest first,
each worker first paying a start-up (a spawned process importing zkml and loading its keys).

More, smaller segments shorten the longest proof but add segments, links and start-ups; past the number of
workers they queue, and the critical path falls only through rounding while setup, proof size, verification
and gas grow with every segment. :func:`choose_logrows` asks the cost model (``zkml.circuit.estimate``) for
each candidate ``K`` between the smallest a split allows and the largest that fits ``max_memory``: how many
segments of ``2^K`` rows the model needs, and the critical path on ``workers`` workers. Among the sizes that
need at most one segment per worker it keeps the fastest, preferring fewer segments within 5%; when the memory
cap needs more segments than workers, the fewest (the largest ``K`` that fits). Only the chosen ``K`` is compiled, so planning costs one compile of the whole model
(which ``compile`` does anyway) and arithmetic.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import CompileError
from .estimate import PROVE_S_FIXED, _memory, for_settings, gb, machine_memory, width

WORKER_STARTUP_S = 4.0  # a spawned worker importing zkml and ezkl and loading one segment's keys (measured: 3-5 s)
FILL = 0.85  # the rows a segment uses of its 2^K: cuts fall only at boundaries, and links add rows
MIN_SPLIT_LOGROWS = 11  # below this a segment is mostly ezkl's fixed tables and blinding rows
MAX_MEMORY = 2**60  # bytes: a bound far above any machine, below float and int trouble
MAX_WORKERS = 2**20
NEAR = 1.05  # a plan within 5% of the fastest but with fewer segments is preferred (less total work)


def critical_path(prove_s: Sequence[float], workers: int, witness_s: float = 0.0, startup_s: float = 0.0) -> float:
    """The witness chain, then the proofs scheduled longest first on ``workers`` one-core workers, each of which
    first pays ``startup_s``: when the last proof ends. One worker is zkml's in-process sequence: no start-up."""
    n = max(1, min(workers, len(prove_s)))
    ends = [0.0 if workers == 1 else startup_s] * n
    heapq.heapify(ends)
    for t in sorted(prove_s, reverse=True):
        heapq.heappush(ends, heapq.heappop(ends) + t)
    return witness_s + max(ends)


def parse_memory(value: int | float | str | None, *, where: str = "max_memory") -> int | None:
    """Bytes from ``4000000000``, ``"4GB"``, ``"3.5 GiB"``, ``"512MB"`` (GB = 10^9 bytes, GiB = 2^30)."""
    if value is None:
        return None
    n: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = float(value)
    elif isinstance(value, str):
        units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20}
        units |= {"GIB": 2**30, "TIB": 2**40}
        m = re.fullmatch(r"\s*([0-9]{1,15}(?:\.[0-9]{1,15})?)\s*([A-Za-z]*)\s*", value)
        if m and m.group(2).upper() in units:
            n = float(m.group(1)) * units[m.group(2).upper()]
    if n is not None and math.isfinite(n) and 1 <= n <= MAX_MEMORY:
        return int(n)
    raise CompileError(
        f"{where} must be a positive size in bytes or with a unit, not {value!r}",
        where=where,
        hint="e.g. 4GB (10^9 bytes), 3.5GiB or 512MB (at least 1 byte, at most 2^60)",
    )


def check_workers(workers: Any) -> int:
    """``workers`` as a count of workers (a positive int, not a bool), or a CompileError naming it."""
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise CompileError(
            f"workers must be a number from 1 to {MAX_WORKERS}, not {workers!r}", where="workers", hint="e.g. 4"
        )
    return workers


@dataclass(frozen=True)
class Plan:
    """What a split at ``2^logrows`` rows per segment costs on ``workers`` workers (predicted)."""

    logrows: int
    segments: int
    workers: int
    worker_memory_bytes: int  # the peak of the largest segment's proof: what each worker needs
    prove_s: float  # one segment's proof on one core
    critical_path_s: float  # the whole proof on ``workers`` one-core workers
    sequential_s: float  # the same segments one after another in one process

    def to_json(self) -> dict:
        return dict(self.__dict__)

    def __str__(self) -> str:
        return (
            f"{self.segments} segment{'s' if self.segments != 1 else ''} of 2^{self.logrows} rows on "
            f"{self.workers} worker{'s' if self.workers != 1 else ''}: {gb(self.worker_memory_bytes)} per worker, "
            f"critical path ~{self.critical_path_s:.0f} s (in sequence ~{self.sequential_s:.0f} s)"
        )


def predict(whole: Mapping[str, Any], logrows: int, workers: int) -> Plan:
    """The plan for cutting a model whose one circuit has settings ``whole`` into segments of ``2^logrows``."""
    used = int(whole.get("num_rows") or 2 ** int(whole["run_args"]["logrows"]))
    w = width(whole)
    segments = 1 if used <= 2**logrows else max(2, math.ceil(used / (FILL * 2**logrows)))
    one = for_settings({**whole, "run_args": {**whole["run_args"], "logrows": logrows}}, n_cores=1).prove_s
    witness = PROVE_S_FIXED * segments
    return Plan(
        logrows,
        segments,
        workers,
        _memory(2**logrows, w),
        round(one, 2),
        round(critical_path([one] * segments, workers, witness, WORKER_STARTUP_S if segments > 1 else 0.0), 2),
        round(witness + one * segments, 2),
    )


def memory_logrows(whole: Mapping[str, Any], max_memory: int) -> int:
    """The largest ``K`` whose proof of this width stays under ``max_memory`` bytes (0 when none does)."""
    w, k = width(whole), 0
    for cand in range(MIN_SPLIT_LOGROWS - 1, 27):
        if _memory(2**cand, w) <= max_memory:
            k = cand
    return k


def choose_logrows(
    whole: Mapping[str, Any],
    *,
    workers: int = 1,
    max_memory: int | None = None,
    max_logrows: int | None = None,
) -> Plan:
    """The segment size that minimises the critical path on ``workers`` workers under ``max_memory`` per worker
    (default: this machine's memory shared by the workers) and ``max_logrows``."""
    check_workers(workers)
    k_whole = int(whole["run_args"]["logrows"])
    if max_logrows is not None and max_logrows < min(MIN_SPLIT_LOGROWS, k_whole):
        raise CompileError(
            f"max_logrows {max_logrows} is below the smallest segment a split plan uses (2^{MIN_SPLIT_LOGROWS} rows)",
            where="max_logrows",
            hint=f"pass max_logrows={MIN_SPLIT_LOGROWS} or more, or leave it out and let max_memory bound the plan",
        )
    cap = max_memory if max_memory is not None else machine_memory() * 4 // (5 * workers)
    top = min(k_whole, memory_logrows(whole, cap), max_logrows or k_whole)
    if top < MIN_SPLIT_LOGROWS and top < k_whole:
        raise CompileError(
            f"no segment size fits {gb(cap)} per worker: a segment of 2^{MIN_SPLIT_LOGROWS} rows of this circuit "
            f"needs {gb(_memory(2**MIN_SPLIT_LOGROWS, width(whole)))}",
            where="max_memory",
            hint="raise max_memory, or use fewer workers on this machine",
        )
    plans = [predict(whole, k, workers) for k in range(min(top, MIN_SPLIT_LOGROWS), top + 1)]
    one_round = [p for p in plans if p.segments <= workers]
    if not one_round:  # the memory cap needs more segments than workers: the fewest, proved in rounds
        return plans[-1]
    fastest = min(p.critical_path_s for p in one_round)
    return min((p for p in one_round if p.critical_path_s <= NEAR * fastest), key=lambda p: (p.segments, -p.logrows))


def for_segments(settings: Sequence[Mapping[str, Any]], workers: int = 1) -> Plan:
    """The plan of compiled units (one circuit, or a split circuit's segments) on ``workers`` workers."""
    parts = [for_settings(s, n_cores=1) for s in settings]
    witness = PROVE_S_FIXED * len(parts)
    prove = [p.prove_s for p in parts]
    return Plan(
        max(p.logrows for p in parts),
        len(parts),
        workers,
        max(p.peak_memory_bytes for p in parts),
        round(max(prove), 2),
        round(critical_path(prove, workers, witness, WORKER_STARTUP_S if len(parts) > 1 else 0.0), 2),
        round(witness + sum(prove), 2),
    )


def plan(circuit: Any, workers: int = 1) -> Plan:
    """``zkml.plan(circuit, workers=N)``: a compiled circuit's segments on N one-core workers (predicted): per
    worker memory, the critical path, and the same proof in sequence."""
    check_workers(workers)
    units = getattr(circuit, "segments", None) or (circuit,)
    return for_segments([u.settings for u in units], workers)
