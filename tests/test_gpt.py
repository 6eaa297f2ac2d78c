"""The zoo's GPT-style model: its artifacts, its retraining, and decoder blocks proved in linked segments."""

import json
import sys

import numpy as np
import pytest

import zkml
from conftest import ROOT
from zkml import errors

sys.path.insert(0, str(ROOT))
from models import zoo  # noqa: E402
from models.tiny_gpt import train as gpt  # noqa: E402

D = zoo.folder("tiny_gpt")


def test_folder_is_complete_and_matches_its_metadata():
    meta = json.loads((D / "metadata.json").read_text())
    model = zkml.load_model(D / "model.onnx")
    assert meta["onnx_sha256"] == model.hash
    assert model.inputs[0].shape == (1, gpt.CONTEXT, len(gpt.vocabulary())) and model.outputs[0].shape == (
        1,
        len(gpt.vocabulary()),
    )
    import onnx

    ops = {n.op_type for n in onnx.load(str(D / "model.onnx")).graph.node}
    assert {"LayerNormalization", "Softmax", "Erf", "MatMul"} <= ops  # decoder blocks: attention, layernorm, GELU
    # the recorded accuracy is what the committed ONNX scores now, on the held-out windows
    _, X_test, _, y_test, _ = gpt.data()
    measured = gpt.next_char_accuracy(lambda x: model.run({model.inputs[0].name: x})[0], X_test, y_test)
    assert measured == pytest.approx(meta["float_test_accuracy"], abs=0.01) and measured >= 0.5
    sample = json.loads((D / "sample_input.json").read_text())["input_data"][0]
    assert np.array_equal(
        np.asarray(sample, np.float32).reshape(model.inputs[0].shape), gpt.encode(gpt.corpus()[: gpt.CONTEXT])
    )
    # what the metadata says about the single circuit is what the spec is for
    assert meta["single_circuit"]["fits"] is False and meta["segments"] >= 2
    assert zoo.spec("tiny_gpt")["options"]["max_logrows"] >= meta["logrows"]


def test_retraining_reproduces_the_committed_model():
    import torch

    net, (_, X_test, _, _) = gpt.train()
    committed = zkml.load_model(D / "model.onnx")
    with torch.no_grad():
        new = net(torch.tensor(X_test[:20])).numpy()
    old = np.concatenate([committed.run({committed.inputs[0].name: x[None]})[0] for x in X_test[:20]])
    # training's float sums differ in the last bits from one CPU's vector units to another's, and training grows
    # that: 4.8e-3 at most on one machine here, where another machine matched within 1e-3. Another model (other
    # data, seed or steps) differs by far more than 2e-2.
    np.testing.assert_allclose(new, old, atol=2e-2, rtol=1e-2)
    assert (new.argmax(-1) == old.argmax(-1)).mean() >= 0.95


def test_prompts_are_checked():
    prompt = "the zen of python, by tim"
    assert gpt.encode(prompt)[0].argmax(-1).tolist() == [gpt.vocabulary().index(c) for c in prompt[-gpt.CONTEXT :]]
    with pytest.raises(ValueError, match="unknown 'Z'"):
        gpt.encode("the Zen of python, by tim")
    with pytest.raises(ValueError, match=f"{gpt.CONTEXT} or more characters"):
        gpt.encode("short")


@pytest.fixture(scope="module")
def small_gpt():
    """The zoo's architecture at a size the default run proves in seconds: two blocks, width 8, context 4."""
    import torch

    net, (X_train, X_test, _, _) = gpt.train(steps=40, context=4, width=8, layers=2)
    model = zkml.export(net, torch.tensor(X_test[:1]))
    return model, X_train[:4], X_test


def test_decoder_blocks_prove_in_linked_segments(small_gpt):
    model, cal, X_test = small_gpt
    whole = zkml.compile(model, cal)
    sc = zkml.compile(model, cal, max_logrows=whole.logrows - 2)
    assert isinstance(sc, zkml.SplitCircuit) and len(sc.segments) >= 2
    assert all(c.logrows <= whole.logrows - 2 for c in sc.segments)
    # cuts fall on the residual stream, between the attention and the MLP halves of a block
    assert all("Add" in c or "tok" in c or "LayerNormalization" in c or "Gather" in c for c in sc.cuts)
    keys = sc.setup()
    x = X_test[0][None]
    proof = keys.prove(x)
    result = zkml.verify(proof, keys.vk)
    assert result and len(proof.segments) == len(sc.segments)
    np.testing.assert_allclose(result.outputs[0], sc.run(x)[0], atol=1e-9)  # the proof shows what the chain computes
    ref = model.run({model.inputs[0].name: x})[0]
    assert np.abs(result.outputs[0].reshape(ref.shape) - ref).max() <= 4 * sc.report.max_abs_error + 0.05
    # the same segments, each valid on its own, in another order break the links (a segment from another
    # inference is refused by test_split's link tampering on a cheaper model: a second proof here costs 40 s)
    swapped = zkml.Proof(b"", (), {}, None, (proof.segments[1], proof.segments[0], *proof.segments[2:]))
    bad = zkml.verify(swapped, keys.vk)
    assert not bad and bad.reason


def test_a_later_segment_that_needs_a_coarser_scale_restarts_the_chain(small_gpt):
    """The scale handed over a cut is the previous segment's; when a later segment only fits at a coarser one
    (softmax's exp table doubles with every bit), the chain restarts at that scale instead of refusing."""
    model, cal, _ = small_gpt
    whole = zkml.compile(model, cal)
    free = int(whole.settings["run_args"]["input_scale"])
    sc = zkml.compile(model, cal, max_logrows=whole.logrows - 2)
    scales = {int(c.settings["run_args"]["input_scale"]) for c in sc.segments}
    assert len(scales) == 1 and scales.pop() < free
    # a scale the user pins is kept: no restart, a refusal that says what to change
    with pytest.raises(errors.CompileError, match="does not fit") as ei:
        zkml.compile(model, cal, max_logrows=whole.logrows - 2, scales=[free])
    assert "lower scales" in ei.value.hint


@pytest.mark.slow
def test_the_zoo_gpt_does_not_fit_one_circuit_and_splits_into_segments_that_do():
    """What the metadata and README say of the zoo model, measured again (compile only: its proof takes minutes)."""
    model, cal, _, meta = zoo.load("tiny_gpt")
    whole = zkml.estimate(model, cal)
    assert whole.logrows == meta["single_circuit"]["logrows"]
    if whole.fits:
        pytest.skip(f"this machine has {whole.machine_memory_bytes / 2**30:.0f} GB: it could hold the single circuit")
    with pytest.raises(errors.CompileError, match="would not fit this machine") as ei:
        zkml.compile(model, cal)
    assert "max-logrows auto" in ei.value.hint
    sc = zoo.compile_zoo("tiny_gpt")
    k = zoo.spec("tiny_gpt")["options"]["max_logrows"]
    assert isinstance(sc, zkml.SplitCircuit) and len(sc.segments) == meta["segments"]
    assert all(c.logrows <= k for c in sc.segments) and zkml.estimate(sc).fits
    assert sc.report.top1_agreement == 1.0
