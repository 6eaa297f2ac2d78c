"""``compile()``: a Model plus calibration data becomes a ``Circuit`` (settings, compiled circuit, report)."""

from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ._inputs import ezkl_input_json, to_batch
from ._model import Model, load_model
from ._store import Store
from ._util import (ZKML_FORMAT, canonical_json, captured_native_output, store_error, ezkl_version, need, private_tempdir, read_json, save_dir,
                    sha256_bytes, sha256_file, write_private_json)
from .errors import ArtifactError, CompileError, UnsupportedModelError, VersionMismatchError, VisibilityError

_IO_MODES = ("private", "public", "hashed")
_PARAM_MODES = ("fixed", "private", "hashed")
TARGETS = ("resources", "accuracy", "fastest")
REPORT_SAMPLES = 32
CIRCUIT_FILES = ["network.onnx", "settings.json", "network.compiled", "circuit.json"]

# Defaults that differ from ezkl's: a 1024-entry range-check table with 3 legs covers a larger
# range (2^30) than ezkl's 16384 x 2 and lets small circuits run at 2^11 rows instead of 2^15.
ALT_DECOMP = (16384, 2)  # ezkl's own default decomposition, tried for large circuits
ALT_DECOMP_FROM_LOGROWS = 16
DEFAULT_OPTIONS: dict[str, Any] = {"decomp_base": 1024, "decomp_legs": 3, "lookup_safety_margin": 2.0,
                                   "num_inner_cols": 2, "scale_rebase_multiplier": 1}


@dataclass(frozen=True)
class Visibility:
    """Who sees what: ``input``/``output`` are private, public or hashed; ``params`` fixed, private or hashed."""

    input: str = "private"
    output: str = "public"
    params: str = "fixed"

    def __post_init__(self):
        for fld, allowed in (("input", _IO_MODES), ("output", _IO_MODES), ("params", _PARAM_MODES)):
            v = getattr(self, fld)
            if v not in allowed:
                raise VisibilityError(f"visibility {fld}={v!r} is not supported", where=f"visibility -> {fld}",
                                      hint=f"use one of {', '.join(allowed)}")

    @classmethod
    def parse(cls, spec: "Visibility | str | Mapping | None") -> "Visibility":
        """Accept a Visibility, a dict, or ``"input=private,output=public,params=fixed"``."""
        if spec is None:
            return cls()
        if isinstance(spec, Visibility):
            return spec
        if isinstance(spec, str):
            parts = {}
            for item in filter(None, (s.strip() for s in spec.split(","))):
                k, sep, v = item.partition("=")
                if not sep:
                    raise VisibilityError(f"cannot read {item!r}", where="visibility",
                                          hint="write it as input=private,output=public,params=fixed")
                parts[k.strip()] = v.strip()
            spec = parts
        unknown = set(spec) - {"input", "output", "params"}
        if unknown:
            raise VisibilityError(f"unknown visibility field(s) {sorted(unknown)}", where="visibility",
                                  hint="the fields are input, output and params")
        return cls(**dict(spec))

    def to_json(self) -> dict:
        return {"input": self.input, "output": self.output, "params": self.params}

    def __str__(self) -> str:
        return f"input={self.input},output={self.output},params={self.params}"


@dataclass(frozen=True)
class CalibrationReport:
    """Circuit outputs vs onnxruntime over calibration samples."""

    samples: int
    max_abs_error: float
    max_rel_error: float
    mean_abs_error: float
    top1_agreement: float | None
    input_ranges: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d["input_ranges"] = [list(r) for r in self.input_ranges]
        return d

    @classmethod
    def from_json(cls, d: Mapping) -> "CalibrationReport":
        d = dict(d)
        d["input_ranges"] = tuple(tuple(r) for r in d.get("input_ranges", ()))
        return cls(**d)

    def __str__(self) -> str:
        top1 = "n/a" if self.top1_agreement is None else f"{self.top1_agreement:.1%}"
        return (f"{self.samples} samples: max abs error {self.max_abs_error:.3g}, max rel error "
                f"{self.max_rel_error:.3g}, top-1 agreement {top1}")


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

    @property
    def logrows(self) -> int:
        return int(self.settings["run_args"]["logrows"])

    @property
    def num_rows(self) -> int:
        return int(self.settings["num_rows"])

    @property
    def compiled_path(self) -> Path:
        return self.path / "network.compiled"

    @property
    def settings_path(self) -> Path:
        return self.path / "settings.json"

    def setup(self, srs: str | os.PathLike | None = None, *, store: Store | None = None):
        """Generate (or reuse from the cache) proving and verifying keys. ``srs=None``: a dev SRS."""
        from ._keys import setup

        return setup(self, srs=srs, store=store)

    def save(self, path: str | os.PathLike) -> Path:
        return save_dir(self.path, path, CIRCUIT_FILES)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Circuit":
        return _load_circuit(Path(path))


def _load_circuit(path: Path, cached: bool = False) -> Circuit:
    hint = "compile the model again (zkml.compile or prove-model compile)"
    meta = read_json(path / "circuit.json", error_cls=ArtifactError, stage="load", hint=hint)
    if not isinstance(meta, dict) or meta.get("kind") != "circuit":
        raise ArtifactError("not a zkml circuit directory", where=path, hint=hint)
    check_versions(meta, path / "circuit.json", hint)
    for name in CIRCUIT_FILES:
        if not (path / name).is_file():
            raise ArtifactError(f"missing {name}", where=path / name, hint=hint)
    settings = read_json(path / "settings.json", error_cls=ArtifactError, stage="load", hint=hint)
    model = load_model(path / "network.onnx", variables=dict(meta["model"]["variables"]))
    return Circuit(path=path, model=model, settings=settings, visibility=Visibility(**meta["visibility"]),
                   target=meta["target"], report=CalibrationReport.from_json(meta["report"]),
                   options=meta["options"], key=meta["key"], cached=cached)


def check_versions(meta: Mapping, where: Path, hint: str) -> None:
    if meta.get("format") != ZKML_FORMAT:
        raise VersionMismatchError(f"saved with zkml artifact format {meta.get('format')}, this zkml reads {ZKML_FORMAT}",
                                   where=where, hint=hint)
    have = ezkl_version()
    if meta.get("ezkl_version") != have:
        raise VersionMismatchError(f"made with ezkl {meta.get('ezkl_version')}, but ezkl {have} is installed",
                                   where=where, hint=hint + f" with ezkl {have}, or install ezkl=={meta.get('ezkl_version')}")


def compile(model: Model | str | os.PathLike, calibration_data: Any, *, visibility: Visibility | str | Mapping | None = None,
            target: str = "resources", max_logrows: int | None = None, scales: list[int] | None = None,
            store: Store | None = None, max_error: float | None = None, **options: Any) -> Circuit:
    """Compile ``model`` into a circuit calibrated on ``calibration_data`` (one or many samples).

    ``target`` is ``"resources"`` (smallest circuit) or ``"accuracy"``. ``options`` override
    ezkl run arguments (``decomp_base``, ``decomp_legs``, ``num_inner_cols``, ``lookup_safety_margin``,
    ``scale_rebase_multiplier``, ``input_scale``, ``param_scale``, ``logrows``). The result is cached
    by the ONNX bytes, the calibration data, the options and the ezkl version.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    vis = Visibility.parse(visibility)
    if target not in TARGETS:
        raise CompileError(f"unknown target {target!r}", where="target", hint=f"use one of {', '.join(TARGETS)}")
    if target == "fastest":  # search the settings (zkml.tune), results cached
        from ._tune import tune

        fixed = {**options, **({"scales": scales} if scales else {}), **({"max_logrows": max_logrows} if max_logrows else {})}
        return tune(model, calibration_data, max_error=max_error, visibility=vis, store=store, **fixed).circuit
    unknown = set(options) - set(DEFAULT_OPTIONS) - {"input_scale", "param_scale", "logrows"}
    if unknown:
        raise CompileError(f"unknown compile option(s) {sorted(unknown)}", where="options",
                           hint=f"known options: {sorted(set(DEFAULT_OPTIONS) | {'input_scale', 'param_scale', 'logrows'})}")
    if target == "resources" and not ({"decomp_base", "decomp_legs", "logrows"} & set(options)):
        return _smaller_of_decomps(model, calibration_data, vis, max_logrows, scales, store, options)
    opts = {**DEFAULT_OPTIONS, **options}
    batch = to_batch(model, calibration_data)
    np = need("numpy")
    cal_hash = sha256_bytes(b"".join(np.asarray(batch[t.name], dtype=np.float64).tobytes() for t in model.inputs))
    key = sha256_bytes(canonical_json({
        "format": ZKML_FORMAT, "ezkl": ezkl_version(), "onnx": model.hash, "variables": model.variables,
        "visibility": vis.to_json(), "target": target, "max_logrows": max_logrows, "scales": scales,
        "options": opts, "calibration": cal_hash}).encode())[:40]
    store = store or Store()

    def build(d: Path) -> None:
        _build_circuit(d, model, batch, vis, target, max_logrows, scales, opts, key)

    entry, built = store.get_or_build("circuits", key, build)
    return _load_circuit(entry, cached=not built)


def _smaller_of_decomps(model, calibration_data, vis, max_logrows, scales, store, options) -> Circuit:
    """zkml's decomposition (base 1024, 3 legs) keeps the range-check table at 2^10 rows, which is what
    lets small circuits fit in 2^11-2^13 rows. A large circuit is bounded by its own rows instead, and
    there ezkl's decomposition (16384, 2 legs: fewer range-check cells per value) can need half the
    rows: LeNet-5 fits 2^19 rows with it and 2^20 with zkml's. So when the default lands at 2^16 rows
    or more, compile that too (a cached circuit like any other) and keep the smaller circuit; on a tie,
    or when it is less accurate, the default stays."""
    kw = dict(visibility=vis, target="resources", max_logrows=max_logrows, scales=scales, store=store)
    default = compile(model, calibration_data, **kw, **options, decomp_base=DEFAULT_OPTIONS["decomp_base"],
                      decomp_legs=DEFAULT_OPTIONS["decomp_legs"])
    if default.logrows < ALT_DECOMP_FROM_LOGROWS:
        return default
    try:
        alt = compile(model, calibration_data, **kw, **options, decomp_base=ALT_DECOMP[0], decomp_legs=ALT_DECOMP[1])
    except CompileError:  # the alternative is an optimisation: the default circuit is complete and valid
        return default
    better = alt.logrows < default.logrows and alt.report.max_abs_error <= default.report.max_abs_error * 1.001 + 1e-12
    return alt if better else default


def _run_args(model: Model, vis: Visibility, opts: Mapping[str, Any]):
    ezkl = need("ezkl")
    ra = ezkl.PyRunArgs()
    ra.input_visibility = vis.input
    ra.output_visibility = vis.output
    ra.param_visibility = vis.params
    ra.decomp_base = int(opts["decomp_base"])
    ra.decomp_legs = int(opts["decomp_legs"])
    ra.num_inner_cols = int(opts["num_inner_cols"])
    ra.scale_rebase_multiplier = int(opts["scale_rebase_multiplier"])
    ra.variables = [tuple(v) for v in model.variables]
    for name in ("input_scale", "param_scale", "logrows"):
        if name in opts:
            setattr(ra, name, int(opts[name]))
    return ra


def ezkl_call(stage_error: type, what: str, fn, *args, model: Model | None = None, where: object = None):
    """Call an ezkl function with its native output captured, wrapping its errors with context."""
    ezkl = need("ezkl")
    with captured_native_output() as native:
        try:
            return getattr(ezkl, fn)(*args)
        except Exception as err:
            failure = err
    msg = str(failure)
    for text, code in (("No space left on device", errno.ENOSPC), ("Read-only file system", errno.EROFS),
                        ("Permission denied", errno.EACCES)):
        if text in msg:
            raise store_error(OSError(code, text), where or "ZKML_HOME", stage=stage_error.stage) from failure
    if native:
        msg += " [ezkl log: " + " | ".join(native[-3:])[:400] + "]"
    if model is not None:
        _raise_if_unsupported(model, msg, failure)
    raise stage_error(f"ezkl {fn} failed during {what}: {msg[:700]}", where=where,
                      hint="run with ZKML_DEBUG=1 for details; report the model if this looks like an ezkl bug") from failure


def _raise_if_unsupported(model: Model, msg: str, err: Exception) -> None:
    low = msg.lower()
    if not any(s in low for s in ("unsupported", "not supported", "unknown op", "unimplemented")):
        return
    onnx = need("onnx")
    nodes = onnx.load_model_from_string(model.onnx_bytes).graph.node
    hits = [n for n in nodes if re.search(rf"\b{re.escape(n.op_type)}\b", msg)]
    if hits:
        op = hits[0].op_type
        names = [n.name or f"#{i}" for i, n in enumerate(nodes) if n.op_type == op][:5]
        raise UnsupportedModelError(f"ezkl cannot compile op '{op}' (node {', '.join(names)})", where=f"model -> {names[0]}",
                                    hint=f"replace '{op}' with supported ops, or remove it from the model; ezkl said: {msg[:200]}") from err
    raise UnsupportedModelError(f"ezkl cannot compile this model: {msg[:300]}", where="model",
                                hint="replace the unsupported operation with supported ones") from err


def _build_circuit(d: Path, model: Model, batch: Mapping, vis: Visibility, target: str, max_logrows: int | None,
                   scales: list[int] | None, opts: Mapping[str, Any], key: str) -> None:
    np = need("numpy")
    onnx_path, settings_path, compiled = d / "network.onnx", d / "settings.json", d / "network.compiled"
    onnx_path.write_bytes(model.onnx_bytes)
    n = next(iter(batch.values())).shape[0]
    with private_tempdir() as tmp:
        # settings
        ezkl_call(CompileError, "settings", "gen_settings", str(onnx_path), str(settings_path), _run_args(model, vis, opts), model=model)
        # calibrate (the data may be private: it only ever lives in the private temp dir)
        cal = write_private_json(tmp / "calibration.json", ezkl_input_json_batch(model, batch))
        ezkl_call(CompileError, "calibration", "calibrate_settings", str(cal), str(onnx_path), str(settings_path), target,
                  float(opts["lookup_safety_margin"]), scales, [int(opts["scale_rebase_multiplier"])], max_logrows, model=model)
        # compile
        ezkl_call(CompileError, "compile", "compile_circuit", str(onnx_path), str(compiled), str(settings_path), model=model)
        # report: circuit vs onnxruntime on (up to) REPORT_SAMPLES calibration samples
        abs_errs, rel_errs, agree, scored = [], [], 0, 0
        for i in range(min(n, REPORT_SAMPLES)):
            feeds = {name: arr[i] for name, arr in batch.items()}
            ref = model.run(feeds)
            got, _ = witness_outputs(compiled, model, feeds, tmp / f"w{i}")
            for r, g in zip(ref, got):
                r = np.asarray(r, dtype=np.float64).reshape(-1)
                err = np.abs(r - g.reshape(-1))
                abs_errs.append(float(err.max(initial=0.0)))
                rel_errs.append(float((err / np.maximum(np.abs(r), 1e-6)).max(initial=0.0)))
            if _looks_like_scores(model):
                scored += 1
                agree += int(np.argmax(ref[0]) == np.argmax(got[0]))
    report = CalibrationReport(
        samples=min(n, REPORT_SAMPLES), max_abs_error=max(abs_errs, default=0.0), max_rel_error=max(rel_errs, default=0.0),
        mean_abs_error=float(np.mean(abs_errs)) if abs_errs else 0.0,
        top1_agreement=(agree / scored) if scored else None,
        input_ranges=tuple((float(batch[t.name].min()), float(batch[t.name].max())) for t in model.inputs))
    meta = {"format": ZKML_FORMAT, "kind": "circuit", "key": key, "ezkl_version": ezkl_version(),
            "model": model.meta(), "visibility": vis.to_json(), "target": target, "options": dict(opts),
            "report": report.to_json(), "settings_sha256": sha256_file(settings_path)}
    (d / "circuit.json").write_text(json.dumps(meta, indent=2))


def ezkl_input_json_batch(model: Model, batch: Mapping) -> dict:
    return {"input_data": [[float(v) for v in batch[t.name].reshape(-1)] for t in model.inputs]}


def _looks_like_scores(model: Model) -> bool:
    return len(model.outputs) == 1 and model.outputs[0].size >= 2 and model.outputs[0].size == max(model.outputs[0].shape)


def witness_outputs(compiled: Path, model: Model, feeds: Mapping, base: Path, stage_error: type = CompileError):
    """Generate a witness for one sample (in a private dir) and return its rescaled outputs as arrays."""
    np = need("numpy")
    inp = write_private_json(base.with_suffix(".input.json"), ezkl_input_json(model, feeds))
    wpath = base.with_suffix(".witness.json")
    ezkl_call(stage_error, "witness generation", "gen_witness", str(inp), str(compiled), str(wpath), None, None)
    os.chmod(wpath, 0o600)
    w = json.loads(wpath.read_text())
    rescaled = w["pretty_elements"]["rescaled_outputs"]
    return [np.asarray([float(v) for v in vals], dtype=np.float64).reshape(spec.shape)
            for vals, spec in zip(rescaled, model.outputs)], w
