"""The graph as ezkl reads it (zkml.model.normalize), and Rust panics as ZKMLErrors (zkml.engine).

Every rewrite is checked against onnxruntime: the normalised graph computes what the original computes
on random inputs (the original run by onnxruntime, or by onnx's reference evaluator where onnxruntime
refuses it). Graphs are built with onnx.helper, so each test states exactly what it feeds ezkl.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import zkml
from zkml import engine, errors
from zkml.model.normalize import REWRITES_KEY, normalize, rewrites

RNG = np.random.default_rng(7)


def _graph(nodes, inputs, output, inits=(), opset=13, out_shape=None) -> bytes:
    g = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [h.make_tensor_value_info(output, T.FLOAT, out_shape)],
        initializer=list(inits),
    )
    if out_shape is not None:
        return h.make_model(g, opset_imports=[h.make_opsetid("", opset)]).SerializeToString()
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    try:  # the output's shape as ONNX infers it (the checker wants one)
        typed = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        m.graph.output[0].CopyFrom(typed.graph.output[0])
    except Exception:  # a graph the tests feed as ONNX wrote it (an opset-10 float Equal): a rank-less output
        m.graph.output[0].type.tensor_type.shape.SetInParent()
    return m.SerializeToString()


def _conv_without_strides() -> bytes:
    """A valid Conv (3x3 from its weights) with every optional attribute left to the ONNX defaults."""
    w = nh.from_array(RNG.standard_normal((2, 1, 3, 3)).astype(np.float32), "w")
    b = nh.from_array(RNG.standard_normal(2).astype(np.float32), "b")
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv0"), h.make_node("Relu", ["c"], ["y"], name="relu0")]
    return _graph(nodes, [("x", T.FLOAT, [1, 1, 5, 5])], "y", [w, b])


def _ort(data: bytes, feeds: dict) -> list:
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)


def _same_on_random_inputs(original: bytes, model: zkml.Model, reference: bool = False) -> None:
    for _ in range(3):
        feeds = {t.name: RNG.standard_normal(t.shape).astype(t.dtype) for t in model.inputs}
        if reference:  # onnxruntime refuses the original: onnx's own evaluator runs it
            from onnx.reference import ReferenceEvaluator

            want = ReferenceEvaluator(onnx.load_model_from_string(original)).run(None, feeds)
        else:
            want = _ort(original, feeds)
        for a, b in zip(want, model.run(feeds)):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


# defaults: Conv without strides (ezkl: "a node is missing required params: stride")
def test_ezkl_refuses_conv_without_strides_as_exported(tmp_path):
    """Why the rewrite exists: ezkl's own settings step fails on the spec-valid graph."""
    path = tmp_path / "conv.onnx"
    path.write_bytes(_conv_without_strides())
    ra = engine.run_args(
        {"input": "private", "output": "public", "params": "fixed"},
        {"decomp_base": 16384, "decomp_legs": 2, "num_inner_cols": 2, "scale_rebase_multiplier": 1},
        [("batch_size", 1)],
    )
    with pytest.raises(errors.CompileError, match="stride"):
        engine.call(errors.CompileError, "settings", "gen_settings", str(path), str(tmp_path / "settings.json"), ra)


def test_conv_without_strides_gets_its_defaults_and_proves():
    data = _conv_without_strides()
    model = zkml.load_model(data)
    node = onnx.load_model_from_string(model.onnx_bytes).graph.node[0]
    attrs = {a.name: h.get_attribute_value(a) for a in node.attribute}
    assert attrs == {"kernel_shape": [3, 3], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0], "group": 1}
    assert rewrites(model) == [
        {
            "rewrite": "defaults",
            "op": "Conv",
            "node": "conv0",
            "filled": ["dilations", "group", "kernel_shape", "pads", "strides"],
        }
    ]
    _same_on_random_inputs(data, model)
    x = RNG.standard_normal((1, 1, 5, 5)).astype(np.float32)
    keys = zkml.compile(model, x).setup()
    proof = keys.prove(x)
    assert zkml.verify(proof, keys.vk)
    np.testing.assert_allclose(proof.outputs[0].reshape(-1), model.run({"x": x})[0].reshape(-1), atol=0.1)


def test_rewrites_survive_save_and_load(tmp_path):
    model = zkml.load_model(_conv_without_strides())
    again = zkml.load_model(model.save(tmp_path / "m"))
    assert again.hash == model.hash and rewrites(again) == rewrites(model)
    assert normalize(model.onnx_bytes) == model.onnx_bytes  # normalising twice changes nothing


@pytest.mark.parametrize(
    "op, attrs, filled",
    [
        ("MaxPool", {"kernel_shape": [2, 2]}, ["pads", "strides"]),  # MaxPool-12 has dilations; ezkl needs strides
        ("AveragePool", {"kernel_shape": [3, 3]}, ["pads", "strides"]),
        ("ConvTranspose", {}, ["dilations", "group", "kernel_shape", "pads", "strides"]),
        (
            "Conv",
            {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
            ["dilations", "group", "kernel_shape", "pads", "auto_pad SAME_UPPER -> pads"],
        ),
        (
            "Conv",
            {"strides": [2, 2], "auto_pad": "SAME_LOWER", "kernel_shape": [2, 2]},
            ["dilations", "group", "pads", "auto_pad SAME_LOWER -> pads"],
        ),
    ],
)
def test_window_ops_get_their_defaults_and_compute_the_same(op, attrs, filled):
    inits, ins = [], ["x"]
    if op.startswith("Conv"):
        k = attrs.get("kernel_shape", [3, 3])
        inits = [nh.from_array(RNG.standard_normal((2, 2, *k)).astype(np.float32), "w")]
        ins.append("w")
    data = _graph([h.make_node(op, ins, ["y"], name="win", **attrs)], [("x", T.FLOAT, [1, 2, 7, 7])], "y", inits)
    model = zkml.load_model(data)
    (rw,) = rewrites(model)
    if op == "MaxPool":
        filled = ["dilations", *filled]
    assert rw["op"] == op and rw["filled"] == sorted(filled, key=lambda s: (s.startswith("auto_pad"), s))
    attrs_now = {a.name for a in onnx.load_model_from_string(model.onnx_bytes).graph.node[0].attribute}
    assert {"strides", "pads"} <= attrs_now and ("auto_pad" not in attrs or "auto_pad" in attrs_now)
    _same_on_random_inputs(data, model)


def test_a_graph_with_nothing_to_rewrite_keeps_its_bytes():
    w = nh.from_array(RNG.standard_normal((4, 3)).astype(np.float32), "w")
    data = _graph([h.make_node("MatMul", ["x", "w"], ["y"])], [("x", T.FLOAT, [1, 4])], "y", [w])
    model = zkml.load_model(data)
    assert model.onnx_bytes == data and rewrites(model) == []


# opset: Equal on floats is defined from opset 11 (the corpus's nanoGPT and self_attention masks)
def _float_equal_mask_opset10() -> bytes:
    mask = nh.from_array(np.tril(np.ones((4, 4), np.float32)), "mask")
    zero = nh.from_array(np.zeros((1,), np.float32), "zero")
    neg = nh.from_array(np.full((1,), -9.0, np.float32), "neg")
    nodes = [
        h.make_node("Equal", ["mask", "zero"], ["eq"], name="/attn/Equal"),
        h.make_node("Where", ["eq", "neg", "x"], ["masked"], name="/attn/Where"),
        h.make_node("Softmax", ["masked"], ["y"], axis=1, name="/attn/Softmax"),
    ]
    return _graph(nodes, [("x", T.FLOAT, [4, 4])], "y", [mask, zero, neg], opset=10)


def test_float_equal_at_opset_10_is_converted_to_opset_11():
    import onnxruntime as ort

    data = _float_equal_mask_opset10()
    with pytest.raises(Exception, match="Equal"):  # what onnxruntime says about the graph as written
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model = zkml.load_model(data)
    (rw,) = rewrites(model)
    assert (rw["rewrite"], rw["from"], rw["to"]) == ("opset", 10, 11) and "/attn/Equal" in rw["why"]
    _same_on_random_inputs(data, model, reference=True)


# fold: shapes computed at run time, fixed by the input's static shape
def _reshape_by_runtime_shape() -> bytes:
    """x.view(x.size(0), -1) as torch exports it with a symbolic batch: Shape -> Gather -> Concat -> Reshape."""
    idx = nh.from_array(np.array(0, np.int64), "idx")
    minus1 = nh.from_array(np.array([-1], np.int64), "minus1")
    axes = nh.from_array(np.array([0], np.int64), "axes")
    w = nh.from_array(RNG.standard_normal((12, 2)).astype(np.float32), "w")
    nodes = [
        h.make_node("Shape", ["x"], ["s"], name="shape"),
        h.make_node("Gather", ["s", "idx"], ["n"], axis=0, name="gather"),
        h.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
        h.make_node("Concat", ["n1", "minus1"], ["shape2"], axis=0, name="concat"),
        h.make_node("Reshape", ["x", "shape2"], ["flat"], name="reshape"),
        h.make_node("MatMul", ["flat", "w"], ["y"], name="mm"),
    ]
    return _graph(
        nodes, [("x", T.FLOAT, ["batch_size", 3, 4])], "y", [idx, minus1, axes, w], out_shape=["batch_size", 2]
    )


def test_runtime_shapes_are_folded_once_the_input_shape_is_static():
    data = _reshape_by_runtime_shape()
    model = zkml.load_model(data)
    ops = [n.op_type for n in onnx.load_model_from_string(model.onnx_bytes).graph.node]
    assert "Shape" not in ops and "Gather" not in ops and "Reshape" in ops and "MatMul" in ops
    (rw,) = rewrites(model)
    assert rw["rewrite"] == "fold" and rw["static_inputs"] == {"x[0]": 1} and rw["removed"]["Shape"] == 1
    _same_on_random_inputs(data, model)
    x = RNG.standard_normal((1, 3, 4)).astype(np.float32)
    keys = zkml.compile(model, x).setup()
    assert zkml.verify(keys.prove(x), keys.vk)  # and ezkl proves the folded graph


def test_a_shape_nobody_fixed_is_not_folded_but_refused_by_name():
    data = _reshape_by_runtime_shape().replace(b"batch_size", b"batch_sizf")
    with pytest.raises(errors.DynamicShapeError, match="batch_sizf"):
        zkml.load_model(data)


# what is still unsupported is refused by op name and node name
def test_an_op_ezkl_lacks_is_refused_by_op_and_node():
    data = _graph([h.make_node("LpNormalization", ["x"], ["y"], name="my_lpnorm")], [("x", T.FLOAT, [1, 4])], "y")
    model = zkml.load_model(data)
    with pytest.raises(errors.UnsupportedModelError, match="LpNormalization") as ei:
        zkml.compile(model, RNG.standard_normal((1, 4)).astype(np.float32))
    assert "my_lpnorm" in str(ei.value) and ei.value.hint


# Rust panics: pyo3's PanicException is a BaseException; zkml turns it into the stage's ZKMLError
def test_a_rust_panic_becomes_the_stages_error_without_backtrace_or_numbers(tmp_path):
    """A Gather whose index (7) is past its axis: ezkl's gen_settings panics (`assertion failed:
    self.dims[i] > indices[i]`). onnxruntime would refuse the graph at load, so this goes to ezkl directly."""
    idx = nh.from_array(np.array([0, 7], np.int64), "idx")
    path = tmp_path / "gather.onnx"
    path.write_bytes(
        _graph([h.make_node("Gather", ["x", "idx"], ["y"], axis=1, name="oob")], [("x", T.FLOAT, [1, 4])], "y", [idx])
    )
    ra = engine.run_args(
        {"input": "private", "output": "public", "params": "fixed"},
        {"decomp_base": 16384, "decomp_legs": 2, "num_inner_cols": 2, "scale_rebase_multiplier": 1},
        [("batch_size", 1)],
    )
    with pytest.raises(errors.CompileError) as ei:
        engine.call(errors.CompileError, "settings", "gen_settings", str(path), str(tmp_path / "s.json"), ra)
    text = str(ei.value)
    assert ei.value.stage == "compile" and "Rust panic" in text and "gen_settings" in text, text
    assert "rayon" not in text and "core::panicking" not in text and "7" not in text, text
    assert ei.value.__cause__ is None and ei.value.hint
    good = tmp_path / "good.onnx"  # and ezkl still works in this process after the panic
    good.write_bytes(zkml.load_model(_conv_without_strides()).onnx_bytes)
    engine.call(errors.CompileError, "settings", "gen_settings", str(good), str(tmp_path / "good.json"), ra)
    assert json.loads((tmp_path / "good.json").read_text())["num_rows"] > 0


def test_interrupts_still_stop_a_call():
    assert not engine._is_failure(KeyboardInterrupt()) and not engine._is_failure(SystemExit(1))
    assert engine._is_failure(RuntimeError("x"))


def test_rewrites_are_json_in_the_onnx_metadata():
    proto = onnx.load_model_from_string(zkml.load_model(_conv_without_strides()).onnx_bytes)
    (entry,) = [p for p in proto.metadata_props if p.key == REWRITES_KEY]
    assert json.loads(entry.value)[0]["node"] == "conv0"


def test_a_topk_whose_indices_are_read_is_refused_by_node_and_its_values_alone_load(tmp_path):
    """ezkl computes only TopK's values: a graph that reads the indices (a mixture-of-experts router) is refused
    at load naming the node; the corpus's 1l_topk, which reads only the values, loads."""
    import torch

    class Router(torch.nn.Module):
        def forward(self, x):
            values, idx = torch.topk(x, 2, dim=-1)
            return values + idx.to(x.dtype)

    with pytest.raises(zkml.errors.UnsupportedModelError, match="TopK node") as e:
        zkml.export(Router(), torch.zeros(1, 6))
    assert e.value.stage == "load"

    class Values(torch.nn.Module):
        def forward(self, x):
            return torch.topk(x, 2, dim=-1).values * 2

    assert zkml.export(Values(), torch.zeros(1, 6)).outputs


def test_a_topk_whose_indices_feed_only_a_dead_node_loads():
    """Only live reads count: indices cast by a node whose output nothing reads do not make the model unprovable."""
    g = h.make_graph(
        [
            h.make_node("TopK", ["x", "k"], ["vals", "idx"], name="router", axis=-1),
            h.make_node("Cast", ["idx"], ["idx_f"], to=T.FLOAT),
        ],
        "dead_indices",
        [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
        [h.make_tensor_value_info("vals", T.FLOAT, [1, 2])],
        [nh.from_array(np.array([2], dtype=np.int64), "k")],
    )
    model = zkml.load_model(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]).SerializeToString())
    assert [o.shape for o in model.outputs] == [(1, 2)]
