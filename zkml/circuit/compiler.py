"""``compile()``: a Model plus calibration data becomes a ``Circuit``: by target, with the decomposition choice."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ..errors import CompileError
from ..model.inputs import to_batch
from ..model.model import Model, load_model
from ..support.store import Store
from .build import DEFAULT_OPTIONS, Circuit, build, check_options
from .tuner import tune
from .visibility import Visibility

TARGETS = ("resources", "accuracy", "fastest")
ALT_DECOMP = (16384, 2)  # ezkl's own default decomposition, tried for large circuits
ALT_DECOMP_FROM_LOGROWS = 16


def compile(model: Model | str | os.PathLike, calibration_data: Any, *, visibility: Visibility | str | Mapping | None = None,
            target: str = "resources", max_logrows: int | None = None, scales: list[int] | None = None,
            store: Store | None = None, max_error: float | None = None, private_data: bool = False, **options: Any) -> Circuit:
    """Compile ``model`` into a circuit calibrated on ``calibration_data`` (one or many samples).

    ``target`` is ``"resources"`` (smallest circuit), ``"accuracy"``, or ``"fastest"`` (search the settings
    for the fastest proof within ``max_error``; :func:`zkml.tune`). ``options`` override ezkl run arguments
    (``decomp_base``, ``decomp_legs``, ``num_inner_cols``, ``lookup_safety_margin``, ``scale_rebase_multiplier``,
    ``input_scale``, ``param_scale``, ``logrows``). The result is cached by the ONNX bytes, the calibration
    data, the options and the ezkl version.

    ``private_data=True`` says the calibration data is a private input (``prove-model run`` without
    ``--calibration``): nothing of it is kept, neither its hash in the cache key nor any error measured on it,
    and a later compile of the same model with ``private_data=True`` reuses this circuit.
    """
    if not isinstance(model, Model):
        model = load_model(model)
    vis = Visibility.parse(visibility)
    if target not in TARGETS:
        raise CompileError(f"unknown target {target!r}", where="target", hint=f"use one of {', '.join(TARGETS)}")
    if max_error is not None and target != "fastest":
        raise CompileError("max_error is a bound for the settings search: it only applies with target='fastest'",
                           where="max_error", hint="pass target='fastest' (CLI --target fastest), or leave max_error out")
    check_options(options)
    store = store or Store()
    if target == "fastest":
        if private_data:
            raise CompileError("the settings search measures accuracy on the calibration data, which is a private input here",
                               where="target", hint="pass separate calibration data (CLI --calibration FILE) to use target fastest")
        fixed = {**options, **({"scales": scales} if scales else {}), **({"max_logrows": max_logrows} if max_logrows else {})}
        return tune(model, calibration_data, max_error=max_error, visibility=vis, store=store, **fixed).circuit
    batch = to_batch(model, calibration_data)
    if target == "resources" and not ({"decomp_base", "decomp_legs", "logrows"} & set(options)):
        return _smaller_of_decomps(model, batch, vis, max_logrows, scales, store, options, private_data)
    return build(model, batch, vis, target, max_logrows, scales, options, store, private_data=private_data)


def _smaller_of_decomps(model, batch, vis, max_logrows, scales, store, options, private_data) -> Circuit:
    """zkml's decomposition (base 1024, 3 legs) keeps the range-check table at 2^10 rows, which is what
    lets small circuits fit in 2^11-2^13 rows. A large circuit is bounded by its own rows instead, and
    there ezkl's decomposition (16384, 2 legs: fewer range-check cells per value) can need half the
    rows: LeNet-5 fits 2^19 rows with it and 2^20 with zkml's. So when the default lands at 2^16 rows
    or more, compile that too (a cached circuit like any other) and keep the smaller circuit; on a tie,
    or when it is less accurate, the default stays."""
    def one(base: int, legs: int) -> Circuit:
        return build(model, batch, vis, "resources", max_logrows, scales,
                     {**options, "decomp_base": base, "decomp_legs": legs}, store, private_data=private_data)

    default = one(DEFAULT_OPTIONS["decomp_base"], DEFAULT_OPTIONS["decomp_legs"])
    if default.logrows < ALT_DECOMP_FROM_LOGROWS:
        return default
    try:
        alt = one(*ALT_DECOMP)
    except CompileError:  # the alternative is an optimisation: the default circuit is complete and valid
        return default
    if alt.logrows >= default.logrows:
        return default
    if private_data:  # no error was measured on a private input: fewer rows decide
        return alt
    better = alt.report.max_abs_error <= default.report.max_abs_error * 1.001 + 1e-12
    return alt if better else default
