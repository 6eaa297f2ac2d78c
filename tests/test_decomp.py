"""The default compile's choice of decomposition: zkml's (small table) for small circuits, ezkl's too for
large ones, keeping whichever circuit is smaller."""

import sys

import pytest

import zkml
from conftest import ROOT
from zkml.circuit import build as _circuit

sys.path.insert(0, str(ROOT))
from models import zoo  # noqa: E402

ZKML_DECOMP = dict(decomp_base=1024, decomp_legs=3)


@pytest.fixture(scope="module")
def digits_cnn():
    model, cal, _, _ = zoo.load("digits_cnn")
    return model, cal[:4]


@pytest.fixture
def rows_bound_at_2_14(monkeypatch):
    """digits_cnn is 2^14 rows with zkml's decomposition and 2^13 with (4096, 2): the same situation as
    LeNet-5 at 2^20 / 2^19 with ezkl's (16384, 2), at a size a test can afford."""
    monkeypatch.setattr(_circuit, "ALT_DECOMP", (4096, 2))
    monkeypatch.setattr(_circuit, "ALT_DECOMP_FROM_LOGROWS", 14)


def test_large_circuit_keeps_the_smaller_decomposition(digits_cnn, rows_bound_at_2_14):
    model, cal = digits_cnn
    zkml_own = zkml.compile(model, cal, **ZKML_DECOMP)
    chosen = zkml.compile(model, cal)
    assert zkml_own.logrows >= _circuit.ALT_DECOMP_FROM_LOGROWS  # the situation the fixture sets up
    assert (chosen.options["decomp_base"], chosen.options["decomp_legs"]) == (4096, 2)
    assert chosen.logrows < zkml_own.logrows
    assert chosen.report.max_abs_error <= zkml_own.report.max_abs_error
    keys = chosen.setup()
    assert zkml.verify(keys.prove(cal[0]), keys.vk)


def test_small_circuit_keeps_zkmls_decomposition(mlp_model, mlp_cal, monkeypatch):
    default = zkml.compile(mlp_model, mlp_cal)
    assert default.options["decomp_base"] == 1024
    # even when the other decomposition is compiled, its 2^14-row table makes it the bigger circuit
    monkeypatch.setattr(_circuit, "ALT_DECOMP_FROM_LOGROWS", 0)
    again = zkml.compile(mlp_model, mlp_cal)
    ezkl_own = zkml.compile(mlp_model, mlp_cal, decomp_base=16384, decomp_legs=2)
    assert again.key == default.key and ezkl_own.logrows > default.logrows


def test_explicit_decomposition_is_never_swapped(mlp_model, mlp_cal, monkeypatch):
    monkeypatch.setattr(_circuit, "ALT_DECOMP_FROM_LOGROWS", 0)
    c = zkml.compile(mlp_model, mlp_cal, decomp_base=256, decomp_legs=4)
    assert (c.options["decomp_base"], c.options["decomp_legs"]) == (256, 4)
