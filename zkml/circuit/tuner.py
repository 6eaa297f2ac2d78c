"""``tune()``: search ezkl's settings for the fastest proof whose outputs stay within ``max_error``.

Cheap signals first: each candidate is compiled and calibrated (rows, logrows, and the circuit-vs-
onnxruntime error over the calibration samples, from witnesses; no proving). The search has two
rounds: the circuit's shape (decomposition base and legs, inner columns) at default scales, then
scales and the rebase multiplier around the two cheapest shapes that met the bound. Candidates that
meet the accuracy bound (and keep top-1 agreement for classifiers) are ranked by their predicted
proving cost, 2^logrows x columns; the cheapest few are mock-proved (ezkl's constraint check, no
keys), and those that pass are set up, proved for real and timed. Results are cached.

The lookup safety margin is not searched: a margin below the default only looks good on the
calibration data, and inputs just outside it would then fail to prove.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from .. import engine
from ..errors import CompileError, SetupError, ZKMLError
from ..model.model import Model
from ..srs import dev_srs
from ..support.deps import ezkl_version
from ..support.files import private_tempdir
from ..support.hashing import canonical_json, sha256_bytes
from ..support.progress import emit, step
from ..support.store import Store
from .build import Circuit, build, check_options, witness_outputs
from .prepared import Prepared
from .visibility import Visibility

# round 1: the circuit's shape; round 2: scales and rebase multiplier around the best shapes
DECOMPS = [(1024, 3), (256, 4), (4096, 2), (16384, 2)]
INNER_COLS = [2, 1]
SCALES = [None, [10], [7]]
REBASE = [1, 2]
ROUND2_SHAPES = 2
NOISE = 0.05  # proof times this close are run-to-run noise on two cores
SEARCH_VERSION = 3  # part of the cache key: a changed search (space or choice) is searched again


@dataclass(frozen=True)
class TuneResult:
    options: dict
    circuit: Circuit = field(repr=False)
    table: list = field(repr=False)
    max_error: float = 0.0

    def summary(self) -> str:
        lines = [
            "| options | logrows | rows | max abs error | top-1 | status | prove s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.table:
            lines.append(
                f"| {r['options']} | {r.get('logrows', '-')} | {r.get('rows', '-')} | {r.get('max_abs_error', '-')} | "
                f"{r.get('top1', '-')} | {r['status']} | {r.get('prove_s', '-')} |"
            )
        return "\n".join(lines)


def _shapes(fixed: dict):
    for (base, legs), cols in itertools.product(DECOMPS, INNER_COLS):
        yield {"decomp_base": base, "decomp_legs": legs, "num_inner_cols": cols, **fixed}


def _refinements(shape: dict, fixed: dict):
    scales = [fixed["scales"]] if "scales" in fixed else SCALES
    rebases = [fixed["scale_rebase_multiplier"]] if "scale_rebase_multiplier" in fixed else REBASE
    for sc, rebase in itertools.product(scales, rebases):
        if (sc, rebase) != (shape.get("scales"), shape.get("scale_rebase_multiplier", 1)):  # round 1 had that one
            yield {**shape, **({"scales": sc} if sc else {}), "scale_rebase_multiplier": rebase}


def tune(
    model: Model | str,
    calibration_data: Any,
    *,
    max_error: float | None = None,
    budget_s: float = 300.0,
    visibility: Visibility | str | None = None,
    proofs: int = 2,
    store: Store | None = None,
    **fixed: Any,
) -> TuneResult:
    """Find the settings with the fastest proof within ``max_error`` (default: twice the default settings' error).

    ``fixed`` options (e.g. ``scales=[6]``, ``decomp_base=...``, any ``compile`` option) are kept in every
    candidate and taken out of the search; the baseline is the default compile with them.
    """
    prep = Prepared.of(model, calibration_data, visibility, store)
    check_options({k: v for k, v in fixed.items() if k not in ("scales", "max_logrows")})
    return search(prep, max_error=max_error, budget_s=budget_s, proofs=proofs, **fixed)


def search(
    prep: Prepared, *, max_error: float | None = None, budget_s: float = 300.0, proofs: int = 2, **fixed: Any
) -> TuneResult:
    """:func:`tune` on arguments already prepared (``compile(target="fastest")`` comes here with its own)."""
    t_start = time.perf_counter()
    baseline = _candidate(prep, fixed)
    bound = max_error if max_error is not None else max(2 * baseline.report.max_abs_error, 1e-3)
    key = _search_key(baseline, bound, prep, fixed)
    cached = prep.store.get("tune", key)
    if cached is not None:
        emit("tune", "cached search result")
        rec = json.loads((cached / "tune.json").read_text())
        opts = dict(rec["options"])
        return TuneResult(opts, _candidate(prep, opts), rec["table"], bound)
    found = _Candidates(prep, bound, baseline.report.top1_agreement is not None, t_start + budget_s)
    found.search(fixed)
    if not found.feasible:
        raise CompileError(
            f"no settings keep the error within {bound:g}",
            where="max_error",
            hint=f"raise max_error (the default settings reach {baseline.report.max_abs_error:.3g})",
        )
    timed = _timed(prep, found, proofs)
    if not timed:
        raise CompileError(
            "every candidate within the error bound failed ezkl's mock proof",
            where="max_error",
            hint="report the model; compile with target='resources' meanwhile",
        )
    _, best_idx, best = _choose(timed)
    found.table[best_idx]["status"] = "chosen"
    _remember(prep.store, key, {"options": found.table[best_idx]["options"], "table": found.table, "max_error": bound})
    return TuneResult(dict(found.table[best_idx]["options"]), best, found.table, bound)


def _search_key(baseline: Circuit, bound: float, prep: Prepared, fixed: dict) -> str:
    """The search's cache key: the baseline circuit (model, data, visibility), the bound, the search itself."""
    return sha256_bytes(
        canonical_json(
            {
                "ezkl": ezkl_version(),
                "baseline": baseline.key,
                "bound": bound,
                "vis": prep.vis.to_json(),
                "search": SEARCH_VERSION,
                "fixed": fixed,
            }
        ).encode()
    )[:40]


class _Candidates:
    """The search's state: every candidate tried (the table, in order) and those that met the bound (feasible:
    ``(predicted cost, rows, table index, circuit)``)."""

    def __init__(self, prep: Prepared, bound: float, need_top1: bool, deadline: float):
        self.prep, self.bound, self.need_top1, self.deadline = prep, bound, need_top1, deadline
        self.table: list[dict] = []
        self.feasible: list[tuple[int, int, int, Circuit]] = []
        self.seen: set[str] = set()

    def search(self, fixed: dict) -> None:
        """Round 1: shapes at default scales; round 2: scales and rebase multiplier around the cheapest shapes
        that met the bound."""
        self._round("round 1: circuit shapes", list(_shapes(fixed)))
        best_shapes = [self.table[i]["options"] for _, _, i, _ in self.ranked()[:ROUND2_SHAPES]]
        refinements = [opts for shape in best_shapes for opts in _refinements(shape, fixed)]
        self._round("round 2: scales and rebase", refinements)

    def ranked(self) -> list[tuple[int, int, int, Circuit]]:
        """The feasible candidates, cheapest predicted proof first (then fewer rows)."""
        return sorted(self.feasible, key=lambda f: (f[0], f[1]))

    def _round(self, title: str, candidates: list[dict]) -> None:
        with step("tune", title, total=len(candidates)) as s:
            for opts in candidates:
                self.consider(opts)
                s.advance()

    def consider(self, opts: dict) -> None:
        if canonical_json(opts) in self.seen:  # a fixed option can make two candidates the same
            return
        self.seen.add(canonical_json(opts))
        row = {"options": dict(opts)}
        self.table.append(row)
        if time.perf_counter() > self.deadline:
            row["status"] = "skipped (budget)"
            return
        try:
            c = _candidate(self.prep, opts)
        except ZKMLError as err:
            row["status"] = f"failed: {type(err).__name__}"
            return
        r = c.report
        row.update(logrows=c.logrows, rows=c.num_rows, max_abs_error=round(r.max_abs_error, 6), top1=r.top1_agreement)
        ok = r.max_abs_error <= self.bound and (not self.need_top1 or (r.top1_agreement or 0) >= 1.0)
        row["status"] = "feasible" if ok else "over the error bound"
        if ok:
            cost = (2**c.logrows) * (int(opts["num_inner_cols"]) + 3)
            self.feasible.append((cost, c.num_rows, len(self.table) - 1, c))


def _timed(prep: Prepared, found: _Candidates, proofs: int) -> list[tuple[float, int, Circuit]]:
    """Mock-prove the cheapest, then time real proofs of the first ``proofs`` that pass: the predicted cost is not
    the whole story. ``(prove_s, table index, circuit)`` of each timed one."""
    timed: list[tuple[float, int, Circuit]] = []
    x = prep.first_sample()
    with step("tune", "mock proofs, then timed proofs of the cheapest", total=max(1, proofs)) as s:
        for _cost, _rows, idx, c in found.ranked():
            if len(timed) >= max(1, proofs):
                break
            failure = _mock(c, x)
            if failure:
                found.table[idx]["status"] = f"mock proof failed: {failure[:120]}"
                continue
            dt = _time_proof(c, x, prep.store)
            found.table[idx]["prove_s"] = round(dt, 3)
            timed.append((dt, idx, c))
            s.advance()
    return timed


def _remember(store: Store, key: str, rec: dict) -> None:
    def build(d):
        (d / "tune.json").write_text(json.dumps(rec, indent=1))

    store.get_or_build("tune", key, build)


def _choose(timed: list):
    """Of ``(prove_s, index, circuit)``: proof times within NOISE of the fastest are a tie, and of
    those the most accurate circuit wins (then the faster)."""
    fastest = min(t[0] for t in timed)
    return min((t for t in timed if t[0] <= fastest * (1 + NOISE)), key=lambda t: (t[2].report.max_abs_error, t[0]))


def _mock(c: Circuit, x) -> str | None:
    """ezkl's mock prover on one sample (constraints checked, no keys): None when it passes, else the reason."""
    with private_tempdir() as tmp:
        try:
            witness_outputs(c, x, tmp / "w")
            ok = engine.mock(tmp / "w.witness.json", c.compiled_path)
        except ZKMLError as err:
            return err.message
    return None if ok else "ezkl's mock prover rejected the witness"


def _time_proof(c: Circuit, x, store: Store) -> float:
    """Seconds of one real proof of ``c`` on ``x`` (setup on a dev SRS in a private dir, not timed; keys discarded)."""
    srs = dev_srs(c.logrows, store)
    with private_tempdir() as tmp:
        witness_outputs(c, x, tmp / "w", vk=None, srs=None)
        engine.setup(SetupError, c.compiled_path, tmp / "vk.key", tmp / "pk.key", srs.path, where=c.path)
        t0 = time.perf_counter()
        engine.prove(
            CompileError, tmp / "w.witness.json", c.compiled_path, tmp / "pk.key", tmp / "proof.json", srs.path
        )
        return time.perf_counter() - t0


def _candidate(prep: Prepared, opts: dict) -> Circuit:
    """One candidate's circuit (cached like any compile)."""
    o = dict(opts)
    scales = o.pop("scales", None)
    max_logrows = o.pop("max_logrows", None)
    return build(prep, "resources", max_logrows, scales, o)
