"""Cutting an ONNX graph into segments at tensor boundaries, for split proving.

A *cut* is a point in the graph's topological order where exactly one tensor carries everything the
rest of the graph needs from what came before (no weights cross: they live in the segment that uses
them). Segments are extracted as standalone ONNX models whose input is the previous segment's output.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..errors import ModelError
from ..support.deps import need
from .model import Model, TensorSpec, load_model


def _proto(model: Model):
    onnx = need("onnx")
    return onnx.load_model_from_string(model.onnx_bytes)


def cuts(model: Model) -> list[str]:
    """The tensors at which the graph can be cut, in order: each is the only value that nodes before it
    pass to nodes after it (and no graph output is produced before it)."""
    g = _proto(model).graph
    # constants travel with the segment that reads them, like weights: a value computed from weights and
    # constants only (a Constant node, an Identity of a shared initializer) is not state crossing a cut
    inits = {i.name for i in g.initializer}
    for n in g.node:
        if all(x in inits for x in n.input if x):
            inits |= set(n.output)
    outputs = {o.name for o in g.output}
    produced_at = {}
    for i, n in enumerate(g.node):
        for o in n.output:
            produced_at[o] = i
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for x in n.input:
            if x and x not in inits:
                last_use[x] = i
    found = []
    for i in range(len(g.node) - 1):
        # values produced at or before node i (or graph inputs) that a later node still reads
        live = {x for x, j in last_use.items() if j > i and produced_at.get(x, -1) <= i}
        if any(produced_at.get(o, len(g.node)) <= i for o in outputs):
            break  # a graph output is already done: the rest cannot be a single chain
        if len(live) == 1:
            (t,) = live
            if t in produced_at:  # not the graph input itself
                found.append(t)
    return list(dict.fromkeys(found))


def with_outputs(model: Model, names: Sequence[str]) -> bytes:
    """The model's ONNX with ``names`` added as graph outputs (to read intermediate activations)."""
    onnx = need("onnx")
    proto = _proto(model)
    have = {o.name for o in proto.graph.output}
    for n in names:
        if n not in have:
            proto.graph.output.append(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None))
    return proto.SerializeToString()


def activations(model: Model, batch: Mapping, names: Sequence[str]) -> dict:
    """``{name: array of shape (N, *shape)}``: the float model's intermediate values on every sample."""
    np = need("numpy")
    ort = need("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(with_outputs(model, names), opts, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    n = next(iter(batch.values())).shape[0]
    got: dict[str, list] = {name: [] for name in names}
    for i in range(n):
        feeds = {t.name: np.asarray(batch[t.name][i]).astype(np.dtype(t.dtype)) for t in model.inputs}
        for name, value in zip(out_names, sess.run(None, feeds)):
            if name in got:
                got[name].append(np.asarray(value, dtype=np.float64))
    return {name: np.stack(v) for name, v in got.items()}


def extract(model: Model, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> Model:
    """The sub-graph from ``inputs`` to ``outputs`` (both with their static shapes) as a standalone Model."""
    onnx = need("onnx")
    proto = _proto(model)
    g = proto.graph
    wanted = {t.name for t in outputs}
    in_names = {t.name for t in inputs}
    needed = set(wanted)
    nodes = []
    for n in reversed(g.node):  # walk back from the outputs to the inputs, and no further
        if set(n.output) & needed:
            nodes.append(n)
            needed |= {x for x in n.input if x and x not in in_names}
    nodes.reverse()
    inits = [i for i in g.initializer if i.name in needed]
    dangling = {x for n in nodes for x in n.input if x} - {o for n in nodes for o in n.output} - in_names - {i.name for i in inits}
    if dangling:
        raise ModelError(f"the segment needs values from outside it: {sorted(dangling)[:3]}", stage="compile",
                         where="split", hint="report this model: zkml cut it at a point that is not a single tensor")
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE, "int64": onnx.TensorProto.INT64}

    def info(t: TensorSpec):
        return onnx.helper.make_tensor_value_info(t.name, elem.get(t.dtype, onnx.TensorProto.FLOAT), list(t.shape))

    graph = onnx.helper.make_graph(nodes, f"{g.name or 'model'}_segment", [info(t) for t in inputs],
                                   [info(t) for t in outputs], initializer=inits)
    sub = onnx.helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    return load_model(sub.SerializeToString())
