"""Models as users bring them: the exporter chosen automatically (TorchScript, else dynamo, with the reason
recorded), a Hugging Face model's ModelOutput proved on its first field, and an additive attention mask of
finfo(float32).min made finite at load (the ``mask`` rewrite), each against onnxruntime and torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import zkml
from zkml import errors
from zkml.model.masks import MARGIN
from zkml.model.normalize import rewrites

pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript (in the dev and architectures extras)")


def _gqa_block():
    """torch's own RMSNorm and grouped-query scaled_dot_product_attention: TorchScript exports neither."""
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.RMSNorm(8)
            self.q, self.k, self.v = torch.nn.Linear(8, 8), torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
            self.out = torch.nn.Linear(8, 3)

        def forward(self, x):
            h_ = self.norm(x)
            q = self.q(h_).reshape(1, 4, 4, 2).transpose(1, 2)  # 4 query heads
            k = self.k(h_).reshape(1, 4, 2, 2).transpose(1, 2)  # 2 key/value heads
            v = self.v(h_).reshape(1, 4, 2, 2).transpose(1, 2)
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
            return self.out(a.transpose(1, 2).reshape(1, 4, 8))

    torch.manual_seed(0)
    return Block().eval()


def test_auto_falls_back_to_dynamo_where_torchscript_cannot_export_and_the_graph_proves():
    import torch

    block, x = _gqa_block(), torch.randn(1, 4, 8)
    model = zkml.export(block, x)
    assert model.parity["exporter"] == "dynamo" and "aten::rms_norm" in model.parity["exporter_note"]
    with torch.no_grad():
        ref = block(x).numpy()
    np.testing.assert_allclose(model.run({model.inputs[0].name: x.numpy()})[0], ref, atol=1e-5)
    cal = np.random.default_rng(0).normal(size=(4, 4, 8))
    keys = zkml.compile(model, cal).setup()
    proof = keys.prove(x.numpy())
    result = zkml.verify(proof, keys.vk)
    assert result and np.abs(result.outputs[0].reshape(ref.shape) - ref).max() < 0.1


def test_asking_for_one_exporter_uses_that_one_and_says_why_it_failed():
    import torch

    block, x = _gqa_block(), torch.randn(1, 4, 8)
    with pytest.raises(errors.ModelError, match="aten::rms_norm") as ei:
        zkml.export(block, x, exporter="torchscript")
    assert "exporter='dynamo'" in ei.value.hint
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    auto = zkml.export(mlp, torch.zeros(1, 4))
    assert auto.parity["exporter"] == "torchscript" and "tried first" in auto.parity["exporter_note"]
    dyn = zkml.export(mlp, torch.zeros(1, 4), exporter="dynamo")
    assert dyn.parity["exporter"] == "dynamo" and dyn.parity["exporter_note"] == "exporter='dynamo' was asked for"
    np.testing.assert_allclose(dyn.run({"input": np.ones((1, 4), "float32")})[0], mlp(torch.ones(1, 4)).detach())


@pytest.mark.parametrize("bad", ["jit", "", None, "TorchScript"])
def test_an_unknown_exporter_is_refused_by_name(bad):
    import torch

    with pytest.raises(errors.ModelError, match="unknown exporter") as ei:
        zkml.export(torch.nn.Linear(2, 2), torch.zeros(1, 2), exporter=bad)
    assert ei.value.where == "exporter" and "'auto'" in ei.value.hint


def test_an_exporter_for_an_onnx_file_is_refused(mlp_model):
    with pytest.raises(errors.ModelError, match="not exported again") as ei:
        zkml.export(mlp_model.onnx_bytes, exporter="dynamo")
    assert ei.value.where == "exporter"
    assert zkml.export(mlp_model.onnx_bytes).hash == mlp_model.hash  # the default stays a plain load


def test_when_neither_exporter_works_both_reasons_are_given():
    import torch

    class Histogram(torch.nn.Module):  # aten::histc: no TorchScript symbolic, no dynamo decomposition
        def forward(self, x):
            return torch.histc(x, bins=4)

    with pytest.raises(errors.ModelError) as ei:
        zkml.export(Histogram(), torch.randn(1, 8))
    assert "aten::histc" in ei.value.message and "dynamo" in ei.value.message and "Traceback" not in str(ei.value)


def test_a_hugging_face_causal_lm_exports_as_it_is():
    """A plain LlamaForCausalLM and token ids: its logits with use_cache=False, int64 input, the library's own
    finfo.min causal mask made finite at load, and onnxruntime on the loaded graph agrees with the library."""
    pytest.importorskip("transformers")
    import torch

    from models import architectures as A

    A.offline()
    A.torchvision_import_fix()
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    net = LlamaForCausalLM(LlamaConfig(**A._DECODER)).eval()
    ids = A._tokens(A.VOCAB, A.TOKENS)
    model = zkml.export(net, ids)
    assert model.inputs[0].dtype == "int64" and model.inputs[0].shape == (1, A.TOKENS)
    assert "'logits'" in model.parity["output_note"] and "use_cache=False" in model.parity["output_note"]
    assert model.parity["exporter"] in ("torchscript", "dynamo") and model.parity["exporter_note"]
    (mask,) = [r for r in rewrites(model) if r["rewrite"] == "mask"]
    assert float(mask["from"]) < -1e38 and mask["values"] == A.TOKENS * (A.TOKENS - 1) // 2
    for seed in range(3):
        x = A._tokens(A.VOCAB, A.TOKENS, seed=seed)
        with torch.no_grad():
            ref = net(x, use_cache=False).logits.numpy()
        np.testing.assert_allclose(model.run({model.inputs[0].name: x.numpy()})[0], ref, atol=1e-4, rtol=1e-3)


# the mask rewrite on hand-written graphs


def _attention(mask: np.ndarray, *, via: str = "Add", then: str = "Softmax", opset: int = 17) -> bytes:
    scores = h.make_tensor_value_info("scores", T.FLOAT, [1, 2, 4, 4])
    out = h.make_tensor_value_info("out", T.FLOAT, [1, 2, 4, 4])
    nodes = [h.make_node(via, ["scores", "mask"], ["masked"], name="apply_mask")]
    nodes.append(h.make_node(then, ["masked"], ["out"], name="attend", **({"axis": -1} if then == "Softmax" else {})))
    graph = h.make_graph(nodes, "attention", [scores], [out], [nh.from_array(mask.astype(np.float32), "mask")])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)]).SerializeToString()


def _causal(value: float) -> np.ndarray:
    return np.triu(np.full((4, 4), value, dtype=np.float32), 1)[None, None]


def _ort(data: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"scores": x})[0]


def _adversarial(seed: int = 0) -> np.ndarray:
    """Scores spread wide (std 5) and every masked score 30 above its row: what a fixed finite mask would leak."""
    x = np.random.default_rng(seed).normal(scale=5.0, size=(1, 2, 4, 4)).astype(np.float32)
    return (x + 30.0 * (_causal(1.0) > 0)).astype(np.float32)


@pytest.mark.parametrize("value", [np.finfo(np.float32).min, -np.inf, -1e9, -1e4])
@pytest.mark.parametrize("opset", [12, 17, 18])
def test_a_huge_additive_mask_before_softmax_becomes_exact_for_every_input(value, opset):
    data = _attention(_causal(value), opset=opset)
    model = zkml.load_model(data)
    (r,) = rewrites(model)
    assert r["rewrite"] == "mask" and r["constant"] == "mask" and r["node"] == "apply_mask" and r["values"] == 6
    g = onnx.load_model_from_string(model.onnx_bytes).graph
    assert "ReduceMin" in {n.op_type for n in g.node} and "mask" not in {i.name for i in g.initializer}
    assert all(np.isfinite(nh.to_array(i)).all() and np.abs(nh.to_array(i)).max() < 100 for i in g.initializer)
    for x in (np.random.default_rng(0).normal(size=(1, 2, 4, 4)).astype(np.float32), _adversarial(), _adversarial(1)):
        want = _ort(data, x)
        np.testing.assert_allclose(model.run({"scores": x})[0], want, atol=np.exp(-MARGIN) * 1.01)


def test_a_masked_graph_that_was_refused_at_settings_now_proves():
    data = _attention(_causal(np.finfo(np.float32).min))
    cal = np.random.default_rng(1).normal(size=(4, 2, 4, 4))
    # at ezkl's default scale 7: 2^13 rows, a 7 s proof (zkml's own choice, scale 11, needs 2^17 for the exp table)
    keys = zkml.compile(zkml.load_model(data), cal, scales=[7]).setup()
    x = cal[0][None]
    result = zkml.verify(keys.prove(x), keys.vk)
    got = result.outputs[0].reshape(1, 2, 4, 4)
    assert result and np.abs(got - _ort(data, x.astype(np.float32))).max() < 0.05
    assert np.abs(got * (_causal(1.0) > 0)).max() < 0.01  # what is masked gets no weight in the proof either


def _with_if(mask: np.ndarray) -> bytes:
    """The mask also read, by outer-scope name, inside an If's branch: invisible to a look at the top graph."""
    data = onnx.load_model_from_string(_attention(mask))
    g = data.graph
    branch = h.make_graph(
        [h.make_node("Identity", ["mask"], ["m_out"])], "then", [], [h.make_tensor_value_info("m_out", T.FLOAT, None)]
    )
    other = h.make_graph(
        [h.make_node("Identity", ["scores"], ["s_out"])], "else", [], [h.make_tensor_value_info("s_out", T.FLOAT, None)]
    )
    g.initializer.append(nh.from_array(np.array(True), "cond"))
    g.node.append(h.make_node("If", ["cond"], ["picked"], then_branch=branch, else_branch=other))
    g.output.append(h.make_tensor_value_info("picked", T.FLOAT, None))
    return data.SerializeToString()


@pytest.mark.parametrize(
    "case",
    [
        dict(mask=_causal(np.finfo(np.float32).min), via="Mul"),  # a huge factor, not a mask
        dict(mask=_causal(np.finfo(np.float32).min), then="Relu"),  # no softmax after it
        dict(mask=_causal(-1e9) + 0.5, via="Add"),  # not 0-or-huge: a learnt bias with huge entries
    ],
    ids=["mul", "no-softmax", "not-a-mask"],
)
def test_what_is_not_an_additive_mask_is_left_as_it_is(case):
    mask = case.pop("mask")
    data = _attention(mask, **case)
    assert not [r for r in rewrites(zkml.load_model(data)) if r["rewrite"] == "mask"]


def test_a_mask_a_subgraph_could_read_is_left_as_it_is():
    from zkml.model.normalize import normalize

    assert not [r for r in rewrites(normalize(_with_if(_causal(np.finfo(np.float32).min)))) if r["rewrite"] == "mask"]


def test_a_malformed_constant_is_still_the_loaders_error(tmp_path):
    """A float initializer whose bytes are short: the mask search skips it, the loader refuses the file."""
    data = onnx.load_model_from_string(_attention(_causal(-1e9)))
    bad = nh.from_array(np.zeros((2, 2), np.float32), "short")
    bad.raw_data = bad.raw_data[:5]
    data.graph.initializer.append(bad)
    with pytest.raises(errors.ZKMLError) as ei:
        zkml.load_model(data.SerializeToString())
    assert type(ei.value).__name__ in ("ModelFileError", "ModelError")


def test_a_trace_that_holds_the_samples_values_is_not_exported():
    """TorchScript traces the branch the sample takes and bakes in values read as Python numbers: the graph then
    matches torch on the sample only. Checked on the sample permuted and negated too, such a graph is refused;
    auto then takes dynamo's graph, which computes the value read (a Gather), or refuses with both reasons when
    dynamo refuses the code too (a branch on the values)."""
    import torch

    class Branches(torch.nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else -x

    class ReadsAValue(torch.nn.Module):
        def forward(self, x):
            return x * float(x[0, 1])

    x = torch.tensor([[0.5, 0.25, 1.0]])
    for module in (Branches(), ReadsAValue()):
        with pytest.raises(errors.ParityError, match="matches torch on the sample but differs") as ei:
            zkml.export(module, x, exporter="torchscript")
        assert "exporter='dynamo'" in ei.value.hint
    with pytest.raises(errors.ModelError) as ei:
        zkml.export(Branches(), x)
    assert "matches torch on the sample" in ei.value.message and "dynamo" in ei.value.message
    model = zkml.export(ReadsAValue(), x)
    assert model.parity["exporter"] == "dynamo" and "differs by" in model.parity["exporter_note"]
    other = torch.tensor([[-1.0, 3.0, 2.0]])
    np.testing.assert_allclose(model.run({"input": other.numpy()})[0], ReadsAValue()(other).numpy())
