"""TopK with K == 1 is normalised into ReduceMax (values) and ArgMax (indices), which ezkl proves (zkml.model.normalize).

ezkl computes only TopK's values, so a graph that reads TopK's indices is refused at load; top-1 routing (K == 1)
is the same function as ArgMax, and is rewritten into it. Every case is checked against onnxruntime running the
graph as written, exactly (the same values, the same int64 indices, ties included), on random inputs.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import zkml
from zkml import errors
from zkml.model.normalize import normalize, rewrites

RNG = np.random.default_rng(11)


def _topk(
    shape,
    *,
    k=1,
    axis=None,
    largest=None,
    read=("values", "indices"),
    opset=13,
    dtype=T.FLOAT,
    k_as="initializer",
) -> bytes:
    """x -> TopK(x, K) with the outputs named in ``read`` as graph outputs (the other left unread)."""
    attrs = {} if axis is None else {"axis": axis}
    if largest is not None:
        attrs["largest"] = largest
    inits, nodes = [], []
    if opset < 10:
        attrs["k"] = k
        inputs = ["x"]
    else:
        inputs = ["x", "k"]
        kt = nh.from_array(np.array([k], np.int64), "k")
        if k_as == "initializer":
            inits.append(kt)
        else:
            nodes.append(h.make_node("Constant", [], ["k"], value=kt, name="k_const"))
    nodes.append(h.make_node("TopK", inputs, ["values", "indices"], name="topk", **attrs))
    out_shape = list(shape)
    out_shape[-1 if axis is None else axis] = k
    outs = [
        h.make_tensor_value_info(name, dtype if name == "values" else T.INT64, out_shape)
        for name in ("values", "indices")
        if name in read
    ]
    g = h.make_graph(nodes, "topk", [h.make_tensor_value_info("x", dtype, list(shape))], outs, initializer=inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)]).SerializeToString()


def _run(data: bytes, x) -> list:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _inputs(shape, dtype):
    """Random inputs, half of them from three values only (so that ties are frequent: TopK and ArgMax both pick
    the first of equal values)."""
    np_dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
    for i in range(6):
        if i % 2:
            yield RNG.integers(-1, 2, size=shape).astype(np_dtype)
        elif np.issubdtype(np_dtype, np.integer):
            yield RNG.integers(-50, 50, size=shape).astype(np_dtype)
        else:
            yield RNG.standard_normal(shape).astype(np_dtype)


def _ops(data: bytes) -> list[str]:
    return [n.op_type for n in onnx.load_model_from_string(data).graph.node]


@pytest.mark.parametrize(
    "shape, kwargs, ops",
    [
        ((2, 5), {}, ["ReduceMax", "ArgMax"]),  # axis left to its default, -1
        ((2, 5), {"axis": -1}, ["ReduceMax", "ArgMax"]),
        ((2, 4, 3), {"axis": 1}, ["ReduceMax", "ArgMax"]),
        ((2, 4, 3), {"axis": 0, "largest": 0}, ["ReduceMin", "ArgMin"]),
        ((3, 6), {"read": ("values",)}, ["ReduceMax"]),
        ((3, 6), {"read": ("indices",)}, ["ArgMax"]),
        ((3, 6), {"read": ("indices",), "largest": 0}, ["ArgMin"]),
        ((2, 5), {"opset": 18}, ["ReduceMax", "ArgMax"]),  # ReduceMax's axes are an input from opset 18
        ((2, 4, 3), {"opset": 18, "axis": -2, "largest": 0}, ["ReduceMin", "ArgMin"]),
        ((2, 5), {"opset": 11, "dtype": T.INT64}, ["ReduceMax", "ArgMax"]),
        ((2, 5), {"opset": 10}, ["ReduceMax", "ArgMax"]),  # K an input, no `largest` yet
        ((2, 5), {"opset": 9, "axis": 1}, ["ReduceMax", "ArgMax"]),  # K the `k` attribute
        ((2, 5), {"k_as": "constant"}, ["ReduceMax", "ArgMax"]),  # K a Constant node's output
    ],
)
def test_topk_of_one_becomes_reduce_and_arg_and_computes_the_same(shape, kwargs, ops):
    data = _topk(shape, **kwargs)
    out = normalize(data)
    assert _ops(out) == ops  # the TopK is gone, and so is the Constant holding K
    (rw,) = rewrites(out)
    assert rw["rewrite"] == "topk1" and rw["node"] == "topk" and rw["to"] == ops
    assert rw["axis"] == kwargs.get("axis", -1) % len(shape)
    dtype = kwargs.get("dtype", T.FLOAT)
    for x in _inputs(shape, dtype):
        want, got = _run(data, x), _run(out, x)
        assert len(want) == len(got)
        for a, b in zip(want, got):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(b, a)
    assert normalize(out) == out  # normalising twice changes nothing


@pytest.mark.parametrize("read", [("values", "indices"), ("values",)])
def test_topk_of_two_is_left_as_it_is(read):
    data = _topk((2, 5), k=2, read=read)
    assert normalize(data) == data


def test_a_topk_whose_k_is_computed_is_left_as_it_is():
    """K from the graph's own input: not a constant, so not known to be 1."""
    nodes = [h.make_node("TopK", ["x", "k"], ["values", "indices"], name="topk")]
    g = h.make_graph(
        nodes,
        "topk",
        [h.make_tensor_value_info("x", T.FLOAT, [2, 5]), h.make_tensor_value_info("k", T.INT64, [1])],
        [h.make_tensor_value_info("values", T.FLOAT, [2, None])],
    )
    data = h.make_model(g, opset_imports=[h.make_opsetid("", 13)]).SerializeToString()
    assert normalize(data) == data


def _router(k: int) -> bytes:
    """A top-k router: x @ w scores 6 experts, TopK picks k, and the indices select the experts' rows (Gather)."""
    w = nh.from_array(RNG.standard_normal((4, 6)).astype(np.float32), "w")
    experts = nh.from_array(RNG.standard_normal((6, 3)).astype(np.float32), "experts")
    kt = nh.from_array(np.array([k], np.int64), "k")
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["scores"], name="scores"),
        h.make_node("TopK", ["scores", "k"], ["top", "idx"], name="router", axis=-1),
        h.make_node("Gather", ["experts", "idx"], ["chosen"], name="pick", axis=0),
        h.make_node("Cast", ["idx"], ["idx_f"], name="cast", to=T.FLOAT),
    ]
    g = h.make_graph(
        nodes,
        "router",
        [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
        [h.make_tensor_value_info("chosen", T.FLOAT, [1, k, 3]), h.make_tensor_value_info("idx_f", T.FLOAT, [1, k])],
        initializer=[w, experts, kt],
    )
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)]).SerializeToString()


def test_a_top1_router_reading_the_indices_loads_and_proves():
    """Before the rewrite this graph was refused at load ("has its indices output read"); ezkl proves ArgMax and
    a Gather by its result, and the proof's outputs are the router's (the expert's row, the expert's index)."""
    data = _router(1)
    model = zkml.load_model(data)
    assert _ops(model.onnx_bytes) == ["MatMul", "ArgMax", "Gather", "Cast"]
    x = RNG.standard_normal((1, 4)).astype(np.float32)
    want = _run(data, x)
    for a, b in zip(want, model.run({"x": x})):
        np.testing.assert_array_equal(b, a)
    keys = zkml.compile(model, x).setup()
    proof = keys.prove(x)
    assert zkml.verify(proof, keys.vk)
    np.testing.assert_allclose(proof.outputs[0].reshape(-1), want[0].reshape(-1), atol=0.05)
    assert proof.outputs[1].reshape(-1).tolist() == want[1].reshape(-1).tolist()  # the index, exactly


def test_a_top2_router_reading_the_indices_is_still_refused_by_node():
    with pytest.raises(errors.UnsupportedModelError, match="TopK node 'router'") as ei:
        zkml.load_model(_router(2))
    assert ei.value.stage == "load" and "k=1" in ei.value.hint
