"""``zkml.estimate(model, data, **options)`` takes compile's arguments and means by them what compile means: the
estimate is of the circuit ``zkml.compile`` would make with the same arguments."""

from __future__ import annotations

import pytest

import zkml
from zkml.circuit.compiler import circuit_for_estimate
from zkml.errors import CompileError


def test_a_private_input_is_estimated_as_compile_treats_it(mlp_model, mlp_cal):
    """``private_data=True`` was refused as an unknown compile option; it compiles as for a private input: no error
    measured on it, and a circuit never reused (its key holds a fresh salt, not the data's hash)."""
    x = mlp_cal[:1]
    est = zkml.estimate(mlp_model, x, private_data=True)
    compiled = zkml.compile(mlp_model, x, private_data=True)
    assert (est.logrows, est.rows, est.pk_bytes) == (
        compiled.logrows,
        zkml.estimate(compiled).rows,
        zkml.estimate(compiled).pk_bytes,
    )
    a = circuit_for_estimate(mlp_model, x, private_data=True)
    b = circuit_for_estimate(mlp_model, x, private_data=True)
    assert a.report.private and a.report.max_abs_error is None
    assert a.key != b.key and not b.cached
    public = circuit_for_estimate(mlp_model, x)
    assert not public.report.private and public.report.max_abs_error is not None


def test_what_compile_refuses_for_a_private_input_estimate_refuses_too(mlp_model, mlp_cal):
    with pytest.raises(CompileError, match="private input") as ei:
        zkml.estimate(mlp_model, mlp_cal[:1], private_data=True, target="fastest")
    assert ei.value.hint and "--calibration" in ei.value.hint


def test_compiles_planning_and_search_arguments_are_compiles_to_answer(mlp_model, mlp_cal):
    """workers= plans as compile plans (one worker: a model this small stays one circuit); max_error without
    target='fastest' gets compile's refusal, not 'unknown compile option'."""
    est = zkml.estimate(mlp_model, mlp_cal, workers=1)
    assert est.segments == 1 and est.logrows == zkml.estimate(mlp_model, mlp_cal).logrows
    with pytest.raises(CompileError, match="max_error is a bound"):
        zkml.estimate(mlp_model, mlp_cal, max_error=0.1)
    with pytest.raises(CompileError, match="unknown compile option"):  # a name compile does not know is still refused
        zkml.estimate(mlp_model, mlp_cal, private_dta=True)
