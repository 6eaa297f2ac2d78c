"""``compile()``: a Model plus calibration data becomes a ``Circuit``: by target, with the decomposition choice."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..errors import CompileError
from ..model.model import Model
from ..support.progress import accepts_progress, emit, step
from ..support.store import Store
from .build import Circuit, build, build_smallest, check_options
from .estimate import Estimate, auto_max_logrows, for_settings, for_split
from .plan import check_workers, choose_logrows, parse_memory, predict
from .prepared import Prepared
from .sizes import summary as size_summary
from .split import SplitCircuit, split_compile
from .tuner import search
from .visibility import Visibility

TARGETS = ("resources", "accuracy", "fastest")


@accepts_progress
def compile(
    model: Model | str | os.PathLike,
    calibration_data: Any,
    *,
    visibility: Visibility | str | Mapping | None = None,
    target: str = "resources",
    max_logrows: int | str | None = None,
    scales: list[int] | None = None,
    store: Store | None = None,
    max_error: float | None = None,
    private_data: bool = False,
    workers: int | None = None,
    max_memory: int | str | None = None,
    **options: Any,
) -> Circuit | SplitCircuit:
    """Compile ``model`` into a circuit calibrated on ``calibration_data`` (one or many samples).

    ``max_logrows=K``: a circuit over ``2^K`` rows is split into the fewest segments that each fit (a
    :class:`SplitCircuit`, proved as one inference); a model that fits stays one circuit. ``"auto"``: the
    largest K whose proof fits this machine's memory (:func:`zkml.estimate`'s cost model). Without it, a
    circuit whose predicted peak memory exceeds the machine's is refused with the numbers.

    ``workers=N`` and/or ``max_memory=M`` (bytes, or ``"4GB"``) plan the split for proving on N one-core workers
    with at most M each (:mod:`zkml.circuit.plan`): the segment size that minimises the predicted critical path,
    at most one segment per worker unless the memory cap needs more; ``max_logrows`` (a number) stays an upper
    bound. The plan is reported as a progress note; ``zkml.plan(circuit, workers=N)`` gives the compiled circuit's.

    ``target`` is ``"resources"`` (smallest circuit), ``"accuracy"``, or ``"fastest"`` (search the settings
    for the fastest proof within ``max_error``; :func:`zkml.tune`). ``options`` override ezkl run arguments
    (``decomp_base``, ``decomp_legs``, ``num_inner_cols``, ``lookup_safety_margin``, ``scale_rebase_multiplier``,
    ``input_scale``, ``param_scale``, ``logrows``). The result is cached by the ONNX bytes, the calibration
    data, the options and the ezkl version.

    ``private_data=True`` says the calibration data is a private input (``prove-model run`` without
    ``--calibration``): nothing of it is kept, neither its hash in the cache key nor any error measured on it,
    and the circuit is never reused for another compile (its settings were chosen for this input).
    """
    prep = Prepared.of(model, calibration_data, visibility, store, private_data=private_data)
    if target not in TARGETS:
        raise CompileError(f"unknown target {target!r}", where="target", hint=f"use one of {', '.join(TARGETS)}")
    if max_error is not None and target != "fastest":
        raise CompileError(
            "max_error is a bound for the settings search: it only applies with target='fastest'",
            where="max_error",
            hint="pass target='fastest' (CLI --target fastest), or leave max_error out",
        )
    check_options(options)
    with step("compile", f"target {target}"):
        if workers is not None or max_memory is not None:
            if target == "fastest":
                raise CompileError(
                    "workers= and max_memory= plan a split; the settings search (target='fastest') plans its own",
                    where="workers" if workers is not None else "max_memory",
                    hint="pass max_logrows=K with target='fastest', or plan with the default target",
                )
            n = check_workers(1 if workers is None else workers)
            result = _planned(prep, target, max_logrows, scales, options, n, parse_memory(max_memory))
        else:
            result = _compile(prep, target, max_logrows, scales, max_error, options)
    segments = getattr(result, "segments", None) or (result,)
    for i, c in enumerate(segments):  # why this size, from the settings alone (a warm, cached compile skips it:
        if c.cached:  # it would load the onnx package only to say it again)
            continue
        emit(
            "compile",
            f"{f'segment {i}: ' if len(segments) > 1 else ''}{size_summary(c.settings, private=private_data, model=c.model)}",
        )
    return result


def _compile(
    prep: Prepared,
    target: str,
    max_logrows: int | str | None,
    scales: list[int] | None,
    max_error: float | None,
    options: Mapping[str, Any],
) -> Circuit | SplitCircuit:
    if target == "fastest":
        if prep.private_data:
            raise CompileError(
                "the settings search measures accuracy on the calibration data, which is a private input here",
                where="target",
                hint="pass separate calibration data (CLI --calibration FILE) to use target fastest",
            )
        fixed = {
            **options,
            **({"scales": scales} if scales else {}),
            **({"max_logrows": max_logrows} if max_logrows else {}),
        }
        return search(prep, max_error=max_error, **fixed).circuit
    whole = _whole(prep, target, scales, options)
    if max_logrows == "auto":
        max_logrows = auto_max_logrows(whole.settings)
    elif max_logrows is not None and not _is_logrows(max_logrows):
        raise CompileError(
            f"max_logrows must be a number of rows' log2 or 'auto', not {max_logrows!r}",
            where="max_logrows",
            hint="pass e.g. max_logrows=17, or max_logrows='auto'",
        )
    if max_logrows is None:
        cost = for_settings(whole.settings)
        if not cost.fits:
            raise CompileError(
                f"this circuit would not fit this machine: {cost}",
                where="max_logrows",
                hint="split it: compile(..., max_logrows='auto') (CLI --max-logrows auto), or use a "
                "machine with more memory",
            )
        return whole
    if whole.logrows <= max_logrows:
        return whole  # a model that fits stays one circuit
    if prep.private_data:
        raise CompileError(
            f"the circuit needs 2^{whole.logrows} rows, over max_logrows {max_logrows}; splitting it "
            "calibrates every segment on intermediate values, which would be those of a private input",
            where="max_logrows",
            hint="pass separate calibration data (CLI --calibration FILE) to split",
        )
    return split_compile(prep, max_logrows, scales, options)


def _planned(
    prep: Prepared,
    target: str,
    max_logrows: int | str | None,
    scales: list[int] | None,
    options: Mapping[str, Any],
    workers: int,
    max_memory: int | None,
) -> Circuit | SplitCircuit:
    """Compile at the segment size the worker planner chooses from the whole circuit's settings; when a single
    step of the model does not fit that size, the next larger one (up to the plan's cap)."""
    if max_logrows is not None and max_logrows != "auto" and not _is_logrows(max_logrows):
        return _compile(prep, target, max_logrows, scales, None, options)  # its refusal names max_logrows
    whole = _whole(prep, target, scales, options)
    cap = max_logrows if isinstance(max_logrows, int) else None
    plan = choose_logrows(whole.settings, workers=workers, max_memory=max_memory, max_logrows=cap)
    top = choose_logrows(whole.settings, workers=1, max_memory=max_memory, max_logrows=cap).logrows
    k = plan.logrows
    if prep.private_data and k < whole.logrows:
        raise CompileError(
            f"the plan for {workers} worker(s) cuts this 2^{whole.logrows}-row circuit into segments of 2^{k} rows; "
            "splitting calibrates every segment on intermediate values, which would be those of a private input",
            where="workers" if max_memory is None else "max_memory",
            hint="pass separate calibration data (CLI --calibration FILE) to plan a split",
        )
    while True:
        emit("compile", f"plan: {predict(whole.settings, k, workers)}")
        try:
            result = _compile(prep, target, k, scales, None, options)
            break
        except CompileError as err:
            if k >= top or "does not fit" not in err.message:
                raise
            k += 1  # one step of the model needs more rows than the plan's segments: the next size up
    return result


def _is_logrows(k: Any) -> bool:
    return isinstance(k, int) and not isinstance(k, bool) and k >= 1


def _whole(prep: Prepared, target: str, scales: list[int] | None, options: Mapping[str, Any]) -> Circuit:
    """The model as one circuit, however big (``compile`` decides whether to keep, refuse or split it)."""
    if target == "resources" and not ({"decomp_base", "decomp_legs", "logrows"} & set(options)):
        return build_smallest(prep, scales, options)
    return build(prep, target, None, scales, options)


def estimate(model_or_circuit: Any, calibration_data: Any = None, **compile_options: Any) -> Estimate:
    """Predicted logrows, rows, proving-key size, peak memory, setup and prove time, and verifier size on this
    machine (:mod:`zkml.circuit.estimate` states the cost model and its error).

    Takes a Circuit, a SplitCircuit (its largest segment's memory; sizes and times add up), or a Model with
    its calibration data, which is compiled first (cached, and cheap next to setup).
    """
    if isinstance(model_or_circuit, SplitCircuit):
        return for_split(model_or_circuit.segments)
    if isinstance(model_or_circuit, Circuit):
        return for_settings(model_or_circuit.settings)
    if calibration_data is None:
        raise CompileError(
            "estimating a model compiles it first: pass calibration data",
            where="calibration_data",
            hint="zkml.estimate(model, calibration_data) or zkml.estimate(circuit)",
        )
    return estimate(circuit_for_estimate(model_or_circuit, calibration_data, **compile_options))


def circuit_for_estimate(model: Any, calibration_data: Any, **compile_options: Any) -> Circuit | SplitCircuit:
    """The circuit :func:`estimate` estimates for a model: one circuit without ``max_logrows`` (even one this
    machine cannot hold: the estimate says so), else what ``compile`` makes (cached either way). Every argument of
    ``compile`` means here what it means there: ``private_data=True`` compiles as ``compile`` does for a private
    input (nothing of it kept); ``workers``, ``max_memory`` and ``max_error`` are ``compile``'s to plan or refuse."""
    if compile_options.get("target", "resources") == "fastest" or any(
        compile_options.get(k) is not None for k in ("max_logrows", "workers", "max_memory", "max_error")
    ):
        return compile(model, calibration_data, **compile_options)
    prep = Prepared.of(
        model,
        calibration_data,
        compile_options.get("visibility"),
        compile_options.get("store"),
        private_data=bool(compile_options.get("private_data", False)),
    )
    named = (
        "visibility",
        "target",
        "scales",
        "store",
        "private_data",
        "max_logrows",
        "workers",
        "max_memory",
        "max_error",
    )
    opts = {k: v for k, v in compile_options.items() if k not in named}
    check_options(opts)
    return _whole(prep, compile_options.get("target", "resources"), compile_options.get("scales"), opts)
