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
from ..model.inputs import to_batch
from ..model.model import Model, load_model
from ..srs import dev_srs
from ..support.deps import ezkl_version
from ..support.files import private_tempdir
from ..support.hashing import canonical_json, sha256_bytes
from ..support.progress import emit, step
from ..support.store import Store
from .build import Circuit, build, witness_outputs
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
    if not isinstance(model, Model):
        model = load_model(model)
    store = store or Store()
    vis = Visibility.parse(visibility)
    t_start = time.perf_counter()
    baseline = _compile(model, calibration_data, vis, fixed, store)
    bound = max_error if max_error is not None else max(2 * baseline.report.max_abs_error, 1e-3)
    key = sha256_bytes(
        canonical_json(
            {
                "ezkl": ezkl_version(),
                "baseline": baseline.key,
                "bound": bound,
                "vis": vis.to_json(),
                "search": SEARCH_VERSION,
                "fixed": fixed,
            }
        ).encode()
    )[:40]
    cached = store.get("tune", key)
    if cached is not None:
        emit("tune", "cached search result")
        rec = json.loads((cached / "tune.json").read_text())
        opts = dict(rec["options"])
        return TuneResult(opts, _compile(model, calibration_data, vis, opts, store), rec["table"], bound)

    need_top1 = baseline.report.top1_agreement is not None
    table, feasible, seen = [], [], set()

    def consider(opts: dict) -> None:
        if canonical_json(opts) in seen:  # a fixed option can make two candidates the same
            return
        seen.add(canonical_json(opts))
        row = {"options": dict(opts)}
        table.append(row)
        if time.perf_counter() - t_start > budget_s:
            row["status"] = "skipped (budget)"
            return
        try:
            c = _compile(model, calibration_data, vis, opts, store)
        except ZKMLError as err:
            row["status"] = f"failed: {type(err).__name__}"
            return
        r = c.report
        row.update(logrows=c.logrows, rows=c.num_rows, max_abs_error=round(r.max_abs_error, 6), top1=r.top1_agreement)
        ok = r.max_abs_error <= bound and (not need_top1 or (r.top1_agreement or 0) >= 1.0)
        row["status"] = "feasible" if ok else "over the error bound"
        if ok:
            cost = (2**c.logrows) * (int(opts["num_inner_cols"]) + 3)
            feasible.append((cost, c.num_rows, len(table) - 1, c))

    # round 1: shapes at default scales
    shapes = list(_shapes(fixed))
    with step("tune", "round 1: circuit shapes", total=len(shapes)) as s:
        for opts in shapes:
            consider(opts)
            s.advance()
    # round 2: scales and rebase multiplier around the cheapest shapes that met the bound
    best_shapes = [table[i]["options"] for _, _, i, _ in sorted(feasible, key=lambda f: (f[0], f[1]))[:ROUND2_SHAPES]]
    refinements = [opts for shape in best_shapes for opts in _refinements(shape, fixed)]
    with step("tune", "round 2: scales and rebase", total=len(refinements)) as s:
        for opts in refinements:
            consider(opts)
            s.advance()
    if not feasible:
        raise CompileError(
            f"no settings keep the error within {bound:g}",
            where="max_error",
            hint=f"raise max_error (the default settings reach {baseline.report.max_abs_error:.3g})",
        )
    feasible.sort(key=lambda f: (f[0], f[1]))
    # mock-prove the cheapest, then real proofs for the first few that pass: the predicted cost is not the whole story
    timed = []
    x = _first_sample(model, calibration_data)
    with step("tune", "mock proofs, then timed proofs of the cheapest", total=max(1, proofs)) as s:
        for _cost, _rows, idx, c in feasible:
            if len(timed) >= max(1, proofs):
                break
            failure = _mock(c, x)
            if failure:
                table[idx]["status"] = f"mock proof failed: {failure[:120]}"
                continue
            dt = _time_proof(c, x, store)
            table[idx]["prove_s"] = round(dt, 3)
            timed.append((dt, idx, c))
            s.advance()
    if not timed:
        raise CompileError(
            "every candidate within the error bound failed ezkl's mock proof",
            where="max_error",
            hint="report the model; compile with target='resources' meanwhile",
        )
    _, best_idx, best = _choose(timed)
    table[best_idx]["status"] = "chosen"
    rec = {"options": table[best_idx]["options"], "table": table, "max_error": bound}

    def build(d):
        (d / "tune.json").write_text(json.dumps(rec, indent=1))

    store.get_or_build("tune", key, build)
    return TuneResult(dict(table[best_idx]["options"]), best, table, bound)


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


def _compile(model, data, vis, opts, store) -> Circuit:
    o = dict(opts)
    scales = o.pop("scales", None)
    max_logrows = o.pop("max_logrows", None)
    return build(model, to_batch(model, data), vis, "resources", max_logrows, scales, o, store)


def _first_sample(model: Model, data: Any):
    batch = to_batch(model, data)
    return {name: arr[0] for name, arr in batch.items()}
