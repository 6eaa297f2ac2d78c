"""``Circuit`` and building one: fixed options in, settings + compiled circuit + report out (cached)."""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import engine
from ..errors import ArtifactError, CompileError, VersionMismatchError, ZKMLError
from ..model.compare import compare
from ..model.graph import activations
from ..model.inputs import ezkl_input_json, to_feeds
from ..model.model import Model, load_model
from ..support.deps import ezkl_version, need
from ..support.files import ZKML_FORMAT, atomic_write_text, private_tempdir, read_json, save_dir, write_private_json
from ..support.hashing import canonical_json, sha256_bytes, sha256_file
from ..support.progress import emit, step
from ..support.store import Store
from .prepared import Prepared
from .report import CalibrationReport
from .visibility import Visibility

REPORT_SAMPLES = 32
CIRCUIT_FILES = ["network.onnx", "settings.json", "network.compiled", "circuit.json"]
# Defaults that differ from ezkl's: a 1024-entry range-check table with 3 legs covers a larger
# range (2^30) than ezkl's 16384 x 2 and lets small circuits run at 2^11 rows instead of 2^15.
DEFAULT_OPTIONS: dict[str, Any] = {
    "decomp_base": 1024,
    "decomp_legs": 3,
    "lookup_safety_margin": 2.0,
    "num_inner_cols": 2,
    "scale_rebase_multiplier": 1,
}
EXTRA_OPTIONS = ("input_scale", "param_scale", "logrows", "min_logrows")
ALT_DECOMP = (16384, 2)  # ezkl's own default decomposition, tried for large circuits
ALT_DECOMP_FROM_LOGROWS = 16
PER_OUTPUT_MAX = 256  # output elements whose calibration error circuit.json records one by one
# When ezkl fails at the scales its calibration tries and the failure is one a coarser fixed point cures (a value
# too large for its column, a lookup or range check it overflows, a constant truncated), these scales are tried in
# turn, highest (most accurate) first, and the first that compiles is kept. The floor is split.MIN_SCALE's.
SEARCH_SCALES = (12, 10, 8, 7, 6, 5, 4)
SCALE_FLOOR = SEARCH_SCALES[-1]
SEARCH_MEMO = "scale-"  # the search's choice is a settings-search entry ("tune" kind) named after the failed key


@dataclass(frozen=True, eq=False)
class Circuit:
    """A compiled circuit. Backed by an immutable directory (a cache entry or a saved copy)."""

    path: Path
    model: Model = field(repr=False)
    settings: Mapping[str, Any] = field(repr=False)
    visibility: Visibility
    target: str
    report: CalibrationReport
    options: Mapping[str, Any] = field(repr=False)
    key: str = field(repr=False)
    cached: bool = False
    scale_search: Mapping[str, Any] | None = field(default=None, repr=False)  # why and how the scale was searched

    @property
    def logrows(self) -> int:
        return int(self.settings["run_args"]["logrows"])

    @property
    def num_rows(self) -> int:
        return int(self.settings["num_rows"])

    @property
    def units(self) -> int:
        """How many circuits prove one inference: 1 (a SplitCircuit says how many segments)."""
        return 1

    @property
    def compiled_path(self) -> Path:
        return self.path / "network.compiled"

    @property
    def settings_path(self) -> Path:
        return self.path / "settings.json"

    def setup(
        self,
        srs: str | os.PathLike | None = None,
        *,
        store: Store | None = None,
        production: bool = False,
        srs_sha256: str | None = None,
    ):
        """Generate (or reuse from the cache) proving and verifying keys: :func:`zkml.setup`. ``srs=None``: a dev SRS.

        The keys stage sits above this one: it registers its setup here when it loads (no upward import).
        """
        return next_stage("setup")(self, srs=srs, store=store, production=production, srs_sha256=srs_sha256)

    def run(self, x: Any) -> list:
        """What the circuit computes on one input ``x`` (its rescaled outputs), from a witness in a private dir."""
        with private_tempdir() as tmp:
            return witness_outputs(self, to_feeds(self.model, x, stage="compile"), tmp / "w")[0]

    def save(self, path: str | os.PathLike) -> Path:
        return save_dir(self.path, path, CIRCUIT_FILES)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Circuit":
        return load_circuit(Path(path))


_NEXT_STAGES: dict[str, Any] = {}  # what the stages above register when they load: {"setup": zkml.setup}


def register_next_stage(**functions: Any) -> None:
    """The keys stage hands its setup to this one (Circuit.setup), so that no stage imports one above it."""
    _NEXT_STAGES.update(functions)


def next_stage(name: str):
    fn = _NEXT_STAGES.get(name)
    if fn is None:
        raise ZKMLError(
            f"the keys stage is not loaded, so circuit.{name}() has nothing to call",
            stage=name,
            hint=f"call zkml.{name}(circuit) (import zkml), which loads it",
        )
    return fn


def load_circuit(path: Path, cached: bool = False) -> Circuit:
    hint = "compile the model again (zkml.compile or prove-model compile)"
    meta = read_json(path / "circuit.json", error_cls=ArtifactError, stage="load", hint=hint)
    if not isinstance(meta, dict) or meta.get("kind") != "circuit":
        raise ArtifactError("not a zkml circuit directory", where=path, hint=hint)
    check_versions(meta, path / "circuit.json", hint)
    for name in CIRCUIT_FILES:
        if not (path / name).is_file():
            raise ArtifactError(f"missing {name}", where=path / name, hint=hint)
    for name, field_ in (
        ("settings.json", "settings_sha256"),
        ("network.compiled", "compiled_sha256"),
        ("network.onnx", "onnx_sha256"),
    ):
        if sha256_file(path / name) != meta.get(field_):
            raise ArtifactError(
                f"{name} does not match the hash recorded in circuit.json: it was edited or replaced",
                where=path / name,
                hint=hint,
            )
    settings = read_json(path / "settings.json", error_cls=ArtifactError, stage="load", hint=hint)
    model = load_model(path / "network.onnx", variables=dict(meta["model"]["variables"]))
    return Circuit(
        path=path,
        model=model,
        settings=settings,
        visibility=Visibility.from_json(meta["visibility"]),
        target=meta["target"],
        report=CalibrationReport.from_json(meta["report"]),
        options=meta["options"],
        key=meta["key"],
        cached=cached,
        scale_search=meta.get("scale_search"),
    )


def check_versions(meta: Mapping, where: Path, hint: str) -> None:
    if meta.get("format") != ZKML_FORMAT:
        raise VersionMismatchError(
            f"saved with zkml artifact format {meta.get('format')}, this zkml reads {ZKML_FORMAT}",
            where=where,
            hint=hint,
        )
    have = ezkl_version()
    if meta.get("ezkl_version") != have:
        raise VersionMismatchError(
            f"made with ezkl {meta.get('ezkl_version')}, but ezkl {have} is installed",
            where=where,
            hint=hint + f" with ezkl {have}, or install ezkl=={meta.get('ezkl_version')}",
        )


def check_options(options: Mapping[str, Any]) -> None:
    unknown = set(options) - set(DEFAULT_OPTIONS) - set(EXTRA_OPTIONS)
    if unknown:
        raise CompileError(
            f"unknown compile option(s) {sorted(unknown)}",
            where="options",
            hint=f"known options: {sorted({*DEFAULT_OPTIONS, *EXTRA_OPTIONS})}",
        )


def build(
    prep: Prepared,
    target: str,
    max_logrows: int | None,
    scales: list[int] | None,
    options: Mapping[str, Any],
) -> Circuit:
    """One compile with fixed options (checked by the entry point: compile, tune, estimate), cached by the ONNX
    bytes, the options, the ezkl version and the calibration data's hash. For a private input the key holds no
    trace of the data but a fresh random salt (:meth:`Prepared.data_id`): a circuit calibrated on one private
    input is never reused for another (its settings were chosen for that input, and would tell about it in
    another's proof).

    When ezkl fails in a way a coarser fixed point cures (:func:`zkml.engine.lower_scale_may_help`) and no scale
    was pinned (``scales``, ``input_scale``, ``param_scale``), :data:`SEARCH_SCALES` are tried highest first and the
    first that compiles is kept (:func:`_scale_search`; the choice is cached, so the same inputs find the same
    circuit without failing again). A pinned scale that fails is refused with the hint to lower it; a constant no
    scale holds (an infinite or float32-min attention mask) is refused naming its node, without a search."""
    pinned = scales is not None or bool({"input_scale", "param_scale"} & set(options))
    base_key = _key(prep, target, max_logrows, scales, {**DEFAULT_OPTIONS, **options}, None)
    if not pinned:
        search = _read_memo(prep.store, base_key)
        if search is not None:
            return _searched(prep, target, max_logrows, options, search)
    try:
        return _build_once(prep, target, max_logrows, scales, options, base_key, None)
    except CompileError as err:
        if not engine.lower_scale_may_help(err.message):
            raise
        start = SEARCH_SCALES[0]
        if engine.truncation(err.message):
            start = min(start, _constant_scale_limit(prep.model, err))
        if pinned:
            given = scales or [options.get("input_scale"), options.get("param_scale")]
            lower = max(min(int(v) for v in given if v is not None) - 2, 1)
            where_ = _largest_value(prep)
            raise CompileError(
                f"{err.message} (at the pinned scale {sorted({int(v) for v in given if v is not None})})"
                + (f"; {where_}" if where_ else ""),
                where="scales" if scales is not None else "options",
                hint=f"lower the pinned scale (e.g. scales=[{lower}]), or leave scales, input_scale and param_scale "
                "unset so that zkml searches them",
            ) from None
        return _scale_search(prep, target, max_logrows, options, err, start, base_key)


def _key(
    prep: Prepared,
    target: str,
    max_logrows: int | None,
    scales: list[int] | None,
    opts: Mapping[str, Any],
    search: Mapping[str, Any] | None,
) -> str:
    fields = {
        "format": ZKML_FORMAT,
        "ezkl": ezkl_version(),
        "onnx": prep.model.hash,
        "variables": prep.model.variables,
        "visibility": prep.vis.to_json(),
        "target": target,
        "max_logrows": max_logrows,
        "scales": scales,
        "options": dict(opts),
        "calibration": prep.data_id(),
    }
    if search is not None:  # a searched circuit: its own entry (keys of every other circuit are unchanged)
        fields["scale_search"] = dict(search)
    return sha256_bytes(canonical_json(fields).encode())[:40]


def _searched(
    prep: Prepared, target: str, max_logrows: int | None, options: Mapping[str, Any], search: Mapping[str, Any]
) -> Circuit:
    s = int(search["chosen"])
    opts = {**options, "input_scale": s, "param_scale": s}
    key = _key(prep, target, max_logrows, [s], {**DEFAULT_OPTIONS, **opts}, search)
    return _build_once(prep, target, max_logrows, [s], opts, key, search)


def _scale_search(
    prep: Prepared,
    target: str,
    max_logrows: int | None,
    options: Mapping[str, Any],
    first: CompileError,
    start: int,
    base_key: str,
) -> Circuit:
    """The scales of :data:`SEARCH_SCALES` at or below ``start``, highest first; the first that compiles is kept
    (and remembered under ``base_key``, the failed default's cache key), with why in ``circuit.scale_search``."""
    reason = _ezkl_reason(first.message)
    tried: list[int] = []
    last = first
    emit("compile", f"scale search: ezkl failed at the scales it tried ({reason}); trying lower scales")
    for s in [v for v in SEARCH_SCALES if v <= start]:
        search = {"reason": reason, "tried": list(tried), "chosen": s}
        emit("compile", f"scale search: trying scale {s}")
        try:
            circuit = _searched(prep, target, max_logrows, options, search)
        except CompileError as err:
            if not engine.lower_scale_may_help(err.message):
                raise
            tried.append(s)
            last = err
            continue
        emit(
            "compile",
            f"scale search: scale {s} compiles (input and param scale 2^{s}; "
            f"{'tried ' + ', '.join(map(str, tried)) + ' first; ' if tried else ''}"
            f"ezkl failed at the scales it tried: {reason})",
        )
        if not prep.private_data:  # a private input's key is salted afresh on every call: nothing would find it
            entry, built = prep.store.get_or_build(
                "tune",
                SEARCH_MEMO + base_key,
                lambda d, rec=search: (d / "search.json").write_text(json.dumps(rec)),
            )
            if not built and _read_memo(prep.store, base_key) != search:  # an unreadable memo was there: replace it
                with contextlib.suppress(OSError):  # StoreError included: the memo only spares the next search
                    atomic_write_text(entry / "search.json", json.dumps(search))
        return circuit
    where = _largest_value(prep)
    raise CompileError(
        f"no scale from {min(start, SEARCH_SCALES[0])} down to {SCALE_FLOOR} compiles this model "
        f"(tried {', '.join(map(str, tried)) or 'none'}): {_ezkl_reason(last.message)}"
        + (f"; {where}" if where else "")
        + f" [ezkl{f' at scale {tried[-1]}' if tried else ''}: {last.message.split('failed during ', 1)[-1][:300]}]",
        where="scales",
        hint="the values are too large for ezkl's fixed point at any scale from "
        f"{SCALE_FLOOR}: normalise the inputs (e.g. standardise the features) or rescale the layer that makes them, "
        f"or pass scales=[{SCALE_FLOOR - 1}] to accept a coarser fixed point (larger error)",
    ) from None


def _read_memo(store: Store, base_key: str) -> dict | None:
    """The scale search remembered under ``base_key``, or None when there is none or it cannot be what
    :func:`_scale_search` wrote (truncated, not JSON, a chosen scale not searched): a cache miss, searched again."""
    memo = store.get("tune", SEARCH_MEMO + base_key)
    if memo is None:
        return None
    try:
        search = json.loads((memo / "search.json").read_text())
    except (OSError, ValueError):  # missing, unreadable, not UTF-8 or not JSON
        return None
    if not isinstance(search, dict) or not isinstance(search.get("reason"), str):
        return None
    chosen, tried = search.get("chosen"), search.get("tried")
    if not _a_scale(chosen) or not isinstance(tried, list) or not all(_a_scale(v) and v > chosen for v in tried):
        return None
    return search


def _a_scale(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v in SEARCH_SCALES


def _ezkl_reason(message: str) -> str:
    """What ezkl's failure was, shortly: the stage and the phrases that made it one a lower scale can cure
    (``"calibration: general synthesis error, could not find any suitable parameters"``)."""
    text = message.split("failed during ", 1)[-1]
    stage = text.split(":", 1)[0]
    low = text.lower()
    phrases = [p for p in engine.LOWER_SCALE_FAILURES if p in low]
    return f"{stage}: {', '.join(phrases)}" if phrases else text[:200]


def _constants(model: Model) -> list[tuple[float, str, str]]:
    """(largest magnitude, tensor name, the node (and op) that reads it) of every constant of the model."""
    np, onnx = need("numpy"), need("onnx")
    from_array = onnx.numpy_helper.to_array
    g = onnx.load_model_from_string(model.onnx_bytes).graph
    readers: dict[str, str] = {}
    for i, n in enumerate(g.node):
        for x in n.input:
            readers.setdefault(x, f"{n.name or '#' + str(i)} ({n.op_type})")
    found = []
    tensors = [(t, t.name) for t in g.initializer]
    tensors += [(a.t, n.output[0]) for n in g.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    for t, name in tensors:
        arr = np.asarray(from_array(t))
        if arr.size and arr.dtype.kind == "f":
            found.append((float(np.max(np.abs(arr.astype(np.float64)))), name, readers.get(name, "no node")))
    return found


def _constant_scale_limit(model: Model, err: CompileError) -> int:
    """The highest scale at which every constant fits ezkl's fixed point; refuses (naming the constant and the node
    that reads it) when not even :data:`SCALE_FLOOR` does: no scale search can help then."""
    worst = max(_constants(model), default=None)
    if worst is None or worst[0] == 0:
        return SEARCH_SCALES[0]
    mag, name, reader = worst
    limit = -(10**9) if not math.isfinite(mag) else math.ceil(engine.FIXED_POINT_BITS - math.log2(mag)) - 1
    if limit >= SCALE_FLOOR:
        return limit
    shown = "infinite" if not math.isfinite(mag) else f"{mag:.3g} in magnitude"
    raise CompileError(
        f"the model's constant '{name}' (read by node {reader}) is {shown}: no fixed-point scale holds it "
        f"(ezkl: {_ezkl_reason(err.message)})",
        where=f"model -> {reader.split(' (')[0]}",
        hint="replace it with a finite value the circuit can hold; for an additive attention mask, -8 to -30 instead "
        "of -inf or finfo(float32).min masks as well (exp of it is below the circuit's resolution)",
    ) from None


def _largest_value(prep: Prepared) -> str:
    """Where the model's largest value is: the largest intermediate on the calibration data (public data only: a
    private input's magnitudes stay unsaid) and the largest constant when it is larger; empty when unreadable."""
    np, onnx = need("numpy"), need("onnx")
    g = onnx.load_model_from_string(prep.model.onnx_bytes).graph
    said = []
    top_value = 0.0
    if not prep.private_data:
        outs = {
            o: f"{n.name or '#' + str(i)} ({n.op_type})"
            for i, n in enumerate(g.node)
            if n.op_type != "Constant"
            for o in n.output
            if o
        }
        try:
            acts = activations(prep.model, prep.batch, list(outs))
        except Exception:  # an output ORT cannot expose (a non-float tensor): the refusal stands without it
            acts = {}
        mags = {name: float(np.max(np.abs(v))) for name, v in acts.items() if v.size and np.isfinite(v).all()}
        if mags:
            top = max(mags, key=mags.get)
            top_value = mags[top]
            said.append(f"the largest value computed is {top_value:.3g}, at node {outs[top]}")
    worst = max(_constants(prep.model), default=None)
    if worst is not None and worst[0] > top_value:
        said.append(f"the largest constant is {worst[0]:.3g} ('{worst[1]}', read by node {worst[2]})")
    return "; ".join(said)


def _build_once(
    prep: Prepared,
    target: str,
    max_logrows: int | None,
    scales: list[int] | None,
    options: Mapping[str, Any],
    key: str,
    search: Mapping[str, Any] | None,
) -> Circuit:
    opts = {**DEFAULT_OPTIONS, **options}

    def fill(d: Path) -> None:
        with step(
            "compile",
            f"build (decomposition {opts['decomp_base']}x{opts['decomp_legs']}, {opts['num_inner_cols']} columns)",
        ):
            _build_dir(d, prep, target, max_logrows, scales, opts, key, search)

    entry, built = prep.store.get_or_build("circuits", key, fill)
    if not built:
        emit("compile", f"cached circuit (decomposition {opts['decomp_base']}x{opts['decomp_legs']})")
    return load_circuit(entry, cached=not built)


def _ops(model: Model) -> list[tuple[str, str]]:
    """(op type, node name) of every node: the model's own structure, to name an op ezkl refuses."""
    onnx = need("onnx")
    return [(n.op_type, n.name) for n in onnx.load_model_from_string(model.onnx_bytes).graph.node]


def _build_dir(
    d: Path,
    prep: Prepared,
    target: str,
    max_logrows: int | None,
    scales: list[int] | None,
    opts: Mapping[str, Any],
    key: str,
    search: Mapping[str, Any] | None = None,
) -> None:
    model, batch, vis, private_data = prep.model, prep.batch, prep.vis, prep.private_data
    onnx_path, settings_path, compiled = d / "network.onnx", d / "settings.json", d / "network.compiled"
    onnx_path.write_bytes(model.onnx_bytes)
    n = prep.samples
    with private_tempdir() as tmp:
        # settings, calibration (the data may be private: it only ever lives in the private temp dir), compile
        cal = write_private_json(tmp / "calibration.json", ezkl_input_json(model, batch))
        with step("compile", f"settings, calibration on {n} samples, circuit (ezkl)"):
            engine.compile_model(
                onnx_path,
                settings_path,
                compiled,
                engine.run_args(vis.to_json(), opts, model.variables),
                cal,
                target=target,
                margin=float(opts["lookup_safety_margin"]),
                scales=scales,
                rebase=int(opts["scale_rebase_multiplier"]),
                max_logrows=max_logrows,
                ops=lambda: _ops(model),
                min_logrows=opts.get("min_logrows"),
            )
        # report: circuit vs onnxruntime on (up to) REPORT_SAMPLES calibration samples; nothing of a private input
        if private_data:
            report, per_output = CalibrationReport.of_private_input(), None
        else:
            report, per_output = _calibration_report(prep, _Partial(model, compiled), tmp)
    meta = {
        "format": ZKML_FORMAT,
        "kind": "circuit",
        "key": key,
        "ezkl_version": ezkl_version(),
        "model": model.meta(),
        "visibility": vis.to_json(),
        "target": target,
        "options": dict(opts),
        "report": report.to_json(),
        "calibration_per_output": None if per_output is None else [[round(float(v), 8) for v in e] for e in per_output],
        "settings_sha256": sha256_file(settings_path),
        "compiled_sha256": sha256_file(compiled),
        "onnx_sha256": sha256_file(onnx_path),
    }
    if search is not None:
        meta["scale_search"] = dict(search)
    (d / "circuit.json").write_text(json.dumps(meta, indent=2))


def _calibration_report(prep: Prepared, circuit: "_Partial", tmp: Path) -> tuple[CalibrationReport, list]:
    """The circuit against onnxruntime on (up to) REPORT_SAMPLES calibration samples (public ones only), and per
    output element the largest error over them (the report page plots it). Witnesses live in ``tmp``."""
    np = need("numpy")
    model, batch = prep.model, prep.batch
    n = min(prep.samples, REPORT_SAMPLES)
    abs_errs, rel_errs, agree, scored = [], [], 0, 0
    per_output: list | None = None
    with step("compile", "calibration report: circuit vs onnxruntime", total=n) as s:
        for i in range(n):
            feeds = {name: arr[i] for name, arr in batch.items()}
            ref = model.run(feeds)
            got, _ = witness_outputs(circuit, feeds, tmp / f"w{i}")
            cmp = compare(ref, got)
            abs_errs.append(cmp.max_abs_error)
            rel_errs.append(cmp.max_rel_error)
            errs = [
                np.abs(np.asarray(r, np.float64) - np.asarray(g, np.float64)).reshape(-1)[:PER_OUTPUT_MAX]
                for r, g in zip(ref, got)
            ]
            per_output = errs if per_output is None else [np.maximum(a, b) for a, b in zip(per_output, errs)]
            if looks_like_scores(model):
                scored += 1
                agree += int(np.argmax(ref[0]) == np.argmax(got[0]))
            s.advance()
    report = CalibrationReport(
        samples=n,
        max_abs_error=max(abs_errs, default=0.0),
        max_rel_error=max(rel_errs, default=0.0),
        mean_abs_error=sum(abs_errs) / len(abs_errs) if abs_errs else 0.0,
        top1_agreement=(agree / scored) if scored else None,
    )
    return report, per_output


@dataclass(frozen=True)
class _Partial:  # what witness_outputs needs of a circuit that is still being built
    model: Model
    compiled_path: Path


def looks_like_scores(model: Model) -> bool:
    return (
        len(model.outputs) == 1 and model.outputs[0].size >= 2 and model.outputs[0].size == max(model.outputs[0].shape)
    )


def witness_outputs(
    circuit: Circuit | _Partial,
    feeds: Mapping,
    base: Path,
    stage_error: type = CompileError,
    vk: Path | None = None,
    srs: Path | None = None,
) -> tuple[list, dict]:
    """A witness for one sample (in a private dir, ``base`` names its files) and its rescaled outputs as arrays."""
    np = need("numpy")
    model = circuit.model
    inp = write_private_json(base.with_suffix(".input.json"), ezkl_input_json(model, feeds))
    w = engine.gen_witness(stage_error, inp, circuit.compiled_path, base.with_suffix(".witness.json"), vk, srs)
    rescaled = w["pretty_elements"]["rescaled_outputs"]
    return [
        np.asarray([float(v) for v in vals], dtype=np.float64).reshape(spec.shape)
        for vals, spec in zip(rescaled, model.outputs)
    ], w


def build_smallest(prep: Prepared, scales: list[int] | None, options: Mapping[str, Any]) -> Circuit:
    """zkml's decomposition (base 1024, 3 legs) keeps the range-check table at 2^10 rows, which is what
    lets small circuits fit in 2^11-2^13 rows. A large circuit is bounded by its own rows instead, and
    there ezkl's decomposition (16384, 2 legs: fewer range-check cells per value) can need half the
    rows: LeNet-5 fits 2^19 rows with it and 2^20 with zkml's. So when the default lands at 2^16 rows
    or more, compile that too (a cached circuit like any other) and keep the smaller circuit; on a tie,
    or when it is less accurate, the default stays."""

    def one(base: int, legs: int) -> Circuit:
        return build(prep, "resources", None, scales, {**options, "decomp_base": base, "decomp_legs": legs})

    default = one(DEFAULT_OPTIONS["decomp_base"], DEFAULT_OPTIONS["decomp_legs"])
    if default.logrows < ALT_DECOMP_FROM_LOGROWS:
        return default
    try:
        alt = one(*ALT_DECOMP)
    except CompileError:  # the alternative is an optimisation: the default circuit is complete and valid
        return default
    if alt.logrows >= default.logrows:
        return default
    if prep.private_data:  # no error was measured on a private input: fewer rows decide
        return alt
    better = alt.report.max_abs_error <= default.report.max_abs_error * 1.001 + 1e-12
    return alt if better else default
