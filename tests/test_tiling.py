"""Tiling one op into pieces (zkml.model.tiling): every rewrite computes what the op computed (onnxruntime), and
the split planner can cut between the tiles."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from zkml.errors import ModelError
from zkml.model.graph import boundaries
from zkml.model.model import load_model
from zkml.model.tiling import tile, tileable, tiled_from

RNG = np.random.default_rng(7)


def _model(nodes, inputs, output, inits):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()],
    )
    proto = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    known = {v.name: v for v in proto.graph.value_info}
    out = proto.graph.output[0]
    if not out.type.tensor_type.HasField("shape") and output in known:
        out.CopyFrom(known[output])
    return load_model(proto.SerializeToString())


def _run(model, feeds):
    sess = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def _conv():
    w, b = RNG.normal(size=(7, 3, 3, 3)), RNG.normal(size=(7,))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    return _model(nodes, [("x", [1, 3, 9, 9])], "z", {"w": w, "b": b}), {"x": [1, 3, 9, 9]}, "y"


def _grouped(groups: int, cin: int, cout: int):
    # a depthwise (groups == channels) or grouped convolution: cut between groups, each tile its groups' channels
    w, b = RNG.normal(size=(cout, cin // groups, 3, 3)), RNG.normal(size=(cout,))
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["y"], group=groups, pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["y", "shift"], ["y2"]),
        helper.make_node("Relu", ["y2"], ["z"]),
    ]
    inits = {"w": w, "b": b, "shift": RNG.normal(size=(cout, 1, 1))}
    return _model(nodes, [("x", [1, cin, 5, 5])], "z", inits), {"x": [1, cin, 5, 5]}, "y"


def _gemm(bias_shape):
    w, c = RNG.normal(size=(6, 5)), RNG.normal(size=bias_shape)
    nodes = [
        helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Sigmoid", ["y"], ["z"]),
    ]
    return _model(nodes, [("x", [2, 5])], "z", {"w": w, "c": c}), {"x": [2, 5]}, "y"


def _gemm_tail():
    # a bias, then a per-column scale and shift (a folded norm): every constant sliced with its tile
    w, c = RNG.normal(size=(5, 6)), RNG.normal(size=(6,))
    nodes = [
        helper.make_node("Gemm", ["x", "w", "c"], ["y"]),
        helper.make_node("Mul", ["y", "scale"], ["y2"]),
        helper.make_node("Add", ["y2", "shift"], ["z"]),
    ]
    inits = {"w": w, "c": c, "scale": RNG.normal(size=(6,)), "shift": RNG.normal(size=(1, 6))}
    return _model(nodes, [("x", [2, 5])], "z", inits), {"x": [2, 5]}, "y"


def _matmul_const():
    w = RNG.normal(size=(4, 9))
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Relu", ["y"], ["z"])]
    return _model(nodes, [("x", [1, 3, 4])], "z", {"w": w}), {"x": [1, 3, 4]}, "y"


def _matmul_scores():
    # attention's scores: q . k^T with both computed from the input
    wq, wk = RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4))
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Softmax", ["s"], ["z"], axis=-1),
    ]
    return _model(nodes, [("x", [1, 6, 4])], "z", {"wq": wq, "wk": wk}), {"x": [1, 6, 4]}, "s"


CASE_OPS = {"conv": "Conv", "depthwise": "Conv", "grouped": "Conv", "matmul_const": "MatMul", "matmul_scores": "MatMul"}
CASE_OPS.update({k: "Gemm" for k in ("gemm_bias_row", "gemm_bias_scalar", "gemm_bias_column", "gemm_tail")})
FUSED = {"conv": "Relu", "depthwise": "Relu", "grouped": "Relu", "matmul_const": "Relu", "matmul_scores": None}
FUSED.update({k: "Sigmoid" for k in ("gemm_bias_row", "gemm_bias_scalar", "gemm_bias_column")}, gemm_tail="Add")


GROUP = {"grouped": 2}  # output channels per group: tiles hold whole groups


def _shape_of(model, name):
    inferred = onnx.shape_inference.infer_shapes(onnx.load_model_from_string(model.onnx_bytes))
    (v,) = [v for v in list(inferred.graph.value_info) + list(inferred.graph.output) if v.name == name]
    return v.type.tensor_type.shape.dim


def _nodes(model):
    return onnx.load_model_from_string(model.onnx_bytes).graph.node


CASES = {
    "conv": _conv,
    "depthwise": lambda: _grouped(6, 6, 6),
    "grouped": lambda: _grouped(5, 10, 10),
    "gemm_bias_row": lambda: _gemm((6,)),
    "gemm_bias_scalar": lambda: _gemm(()),
    "gemm_bias_column": lambda: _gemm((2, 1)),
    "gemm_tail": _gemm_tail,
    "matmul_const": _matmul_const,
    "matmul_scores": _matmul_scores,
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("parts", [2, 3, 5])
def test_tiled_op_computes_what_the_op_computed(case, parts):
    model, shapes, out = CASES[case]()
    feeds = {k: RNG.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    most = {t.output: t.max_parts for t in tileable(model)}
    assert most[out] >= 5
    tiled = tile(model, {out: parts})
    np.testing.assert_allclose(_run(tiled, feeds), _run(model, feeds), rtol=1e-5, atol=1e-5)
    nodes = onnx.load_model_from_string(tiled.onnx_bytes).graph.node
    # the tiles share the op evenly (whole groups for a grouped convolution): none is empty
    inferred = onnx.shape_inference.infer_shapes(onnx.load_model_from_string(tiled.onnx_bytes))
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.graph.value_info}
    whole = dims.get(out) or [d.dim_value for d in _shape_of(model, out)]
    axis = 1 if CASE_OPS[case] in ("Conv", "Gemm") else len(whole) - (2 if case == "matmul_scores" else 1)
    sizes = [
        dims[n.output[0]][axis] for n in nodes if n.op_type == CASE_OPS[case] and n.output[0].startswith("zkml_tile")
    ]
    unit = GROUP.get(case, 1)
    assert len(sizes) == parts and sum(sizes) == whole[axis], sizes
    assert min(sizes) >= unit and max(sizes) - min(sizes) <= unit, sizes
    op = CASE_OPS[case]
    assert sum(n.op_type == op for n in nodes) == parts + sum(n.op_type == op for n in _nodes(model)) - 1
    assert sum(n.op_type == "Concat" for n in nodes) == parts - 1
    assert all(
        tiled_from(n.output[0])[0] == out
        for n in nodes
        if n.op_type in (op, "Concat") and n.output[0] != out and tiled_from(n.output[0])
    )
    # an element-wise op after it (ReLU, sigmoid) is computed on every tile, not once on the joined whole
    after = FUSED[case]
    if after:
        assert sum(n.op_type == after for n in nodes) == parts
        assert out not in {x for n in nodes for x in n.output}
    # the planner can cut after every tile: more cut points than the untiled graph has
    assert len(boundaries(tiled)) >= len(boundaries(model)) + parts - 1


def test_tiling_refuses_what_it_cannot_make():
    model, _, out = _conv()
    with pytest.raises(ModelError, match="cannot be cut into 8 tiles"):
        tile(model, {out: 8})  # 7 output channels
    with pytest.raises(ModelError, match="no node makes"):
        tile(model, {"nope": 2})


def test_what_is_not_tileable():
    # a one-column product, a product of activations by a vector (it has no rows to cut), a convolution whose
    # bias is computed: left alone
    vec = _model(
        [helper.make_node("Relu", ["v"], ["b"]), helper.make_node("MatMul", ["x", "b"], ["y"])],
        [("x", [2, 3, 4]), ("v", [4])],
        "y",
        {},
    )
    assert tileable(vec) == []
    conv = _model(
        [helper.make_node("Relu", ["v"], ["b"]), helper.make_node("Conv", ["x", "w", "b"], ["y"])],
        [("x", [1, 2, 5, 5]), ("v", [3])],
        "y",
        {"w": RNG.normal(size=(3, 2, 3, 3))},
    )
    assert tileable(conv) == []
    one = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", [1, 4])], "y", {"w": RNG.normal(size=(4, 1))})
    assert tileable(one) == []


def test_tile_names_round_trip():
    assert tiled_from("zkml_tile3of8_/conv1/Conv_output_0") == ("/conv1/Conv_output_0", 8)
    assert tiled_from("zkml_join2of8_y") == ("y", 8)
    assert tiled_from("zkml_tile0of2s1_y") == ("y", 2)
    assert tiled_from("y") is None
    assert tiled_from("zkml_tileXofY_y") is None
