"""ezkl's own example models (shared/corpus/ezkl-examples): what ezkl proves, zkml proves; the rest is refused clearly.

Each model goes through zkml end to end (load, compile calibrated on its sample input, setup with a
dev SRS, prove, verify), and its circuit must be no larger than the one ezkl's recommended flow
needed. Models up to 3,000 rows in ezkl run by default (but for a few with large lookup tables);
up to 60,000 rows are marked slow; the six
largest (2^18 to 2^20 rows) are left to `python -m benchmarks corpus`.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.corpus import corpus_dir, ezkl_status, prove_example

import zkml
from zkml import errors

CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(CORPUS is None, reason="the ezkl example corpus is not beside the clone (set ZKML_CORPUS)")
STATUS = ezkl_status(CORPUS) if CORPUS else {}
# the input file holds four inputs for a two-input graph: zkml refuses the file (ezkl ignores the extras)
WRONG_INPUT_FILE = {"bitwise_ops"}
# a graph with no input at all: nothing private to prove about; zkml refuses it (ezkl proves the constant)
NO_INPUT = {"arange"}
FAST_ROWS, SLOW_ROWS = 3_000, 60_000
# few rows, but exp/log/tanh lookup tables put them at 2^14-2^15 in zkml (10-50 s each): slow run
LOOKUP_HEAVY = {"1l_tanh", "log", "logsumexp", "mish", "trig", "softplus"}


def _provable(lo: int, hi: int, heavy: bool = False) -> list[str]:
    return [n for n, s in sorted(STATUS.items()) if s["passes"] and (lo < s["rows"] <= hi or heavy and n in LOOKUP_HEAVY)
            and n not in WRONG_INPUT_FILE | NO_INPUT and (heavy or n not in LOOKUP_HEAVY)]


def _check_proved(name: str) -> None:
    r = prove_example(CORPUS / name)
    assert r["verified"], r
    assert r["logrows"] <= STATUS[name]["logrows"], f"zkml needs 2^{r['logrows']} rows, ezkl's flow 2^{STATUS[name]['logrows']}"


@pytest.mark.parametrize("name", _provable(0, FAST_ROWS))
def test_ezkl_example_proves_through_zkml(name):
    _check_proved(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", _provable(FAST_ROWS, SLOW_ROWS, heavy=True))
def test_larger_ezkl_example_proves_through_zkml(name):
    _check_proved(name)


def test_corpus_is_read_whole():
    """The status table covers the corpus: a parsing slip must not shrink the tests above to nothing."""
    assert len(STATUS) == len([d for d in CORPUS.iterdir() if d.is_dir()]) >= 100
    assert len(_provable(0, FAST_ROWS)) >= 60 and LOOKUP_HEAVY <= set(_provable(FAST_ROWS, SLOW_ROWS, heavy=True))


@pytest.mark.parametrize("name", ["self_attention", "nanoGPT"])
def test_models_ezkl_cannot_prove_are_refused_clearly(name):
    """ezkl fails on these (or times out); zkml refuses them at load, naming onnxruntime's reason."""
    assert not STATUS[name]["passes"]
    with pytest.raises(errors.ModelFileError, match="onnxruntime cannot load the model") as ei:
        prove_example(CORPUS / name)
    assert str(CORPUS / name / "network.onnx") in str(ei.value) and ei.value.hint


def test_model_without_inputs_is_refused():
    with pytest.raises(errors.ModelFileError, match="no inputs") as ei:
        zkml.load_model(CORPUS / "arange" / "network.onnx")
    assert "input" in ei.value.hint


def test_input_file_with_extra_inputs_is_refused_then_the_right_inputs_prove():
    d = CORPUS / "bitwise_ops"
    model = zkml.load_model(d / "network.onnx")
    data = json.loads((d / "input.json").read_text())["input_data"]
    assert len(data) == 4 and len(model.inputs) == 2
    with pytest.raises(errors.InputShapeError, match="2 inputs"):
        zkml.compile(model, data)
    keys = zkml.compile(model, data[:2]).setup()
    proof = keys.prove(data[:2])
    assert zkml.verify(proof, keys.vk)
    expected = model.run({t.name: [v] for t, v in zip(model.inputs, data[:2])})[0]
    assert (proof.outputs[0].reshape(-1) == expected.reshape(-1).astype(float)).all()
