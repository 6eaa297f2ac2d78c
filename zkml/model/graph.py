"""Cutting an ONNX graph into segments at tensor boundaries, for split proving.

A *cut* is a point in the graph's topological order where exactly one tensor carries everything the
rest of the graph needs from what came before (no weights cross: they live in the segment that uses
them). Segments are extracted as standalone ONNX models whose input is the previous segment's output.
"""

from __future__ import annotations

import os
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


# Hiding links. A link's commitment (ezkl's polycommit) is unblinded: the same tensor gives the same point. So
# every link also carries fresh random values that the model ignores: the first segment takes them all as a
# private input (``BLIND_INPUT``) and appends them to its output; each later segment drops the block that hid
# the link it read and hands the rest on. Link i carries blocks i..n-2: a block is BLIND_VALUES values of
# BLIND_BITS bits (256 bits per link), so a guessed input reproduces a link's commitment only with a guess of
# every block it carries (generic attacks on a 256-bit exponent box take about 2^128 group operations).
BLIND_INPUT = "zkml_blind"
LINK_IN, LINK_OUT = "zkml_link_in", "zkml_link_out"
BLIND_VALUES, BLIND_BITS = 16, 16


def fresh_blinds(links: int, scale: int):
    """``links`` blocks of fresh randomness (os.urandom), as the float values a circuit at ``scale`` reads exactly."""
    np = need("numpy")
    raw = np.frombuffer(os.urandom(2 * BLIND_VALUES * links), dtype="<u2").astype(np.float64)
    return (raw / 2.0 ** int(scale)).reshape(1, BLIND_VALUES * links)


def segment(model: Model, inp: TensorSpec, out: TensorSpec, blind_in: int = 0, blind_out: int = 0) -> Model:
    """The sub-graph from ``inp`` to ``out`` as a standalone Model, its links carrying blinding values.

    ``blind_in``: how many blinding values the input link carries (0: the input is the model's own, or links are
    not blinded); the segment drops the first block of them and appends the rest to its output. ``blind_out``:
    how many its output link carries; where ``blind_in`` is 0 and ``blind_out`` is not, the segment is the first,
    and the values come in as a second input, ``BLIND_INPUT``."""
    if not blind_in and not blind_out:
        return extract(model, [inp], [out])
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    proto = onnx.load_model_from_string(extract(model, [inp], [out]).onnx_bytes)
    g = proto.graph
    front, back, inits, inputs = [], [], [], []

    def const(name: str, values: list[int]) -> str:
        inits.append(helper.make_tensor(name, T.INT64, [len(values)], values))
        return name

    if blind_in:  # the link: this segment's input, flattened, then the blinding values
        n_in = inp.size
        inputs.append(helper.make_tensor_value_info(LINK_IN, T.FLOAT, [1, n_in + blind_in]))
        ax = const("zkml_axis1", [1])
        front += [helper.make_node("Slice", [LINK_IN, const("zkml_in_start", [0]), const("zkml_in_end", [n_in]), ax],
                                   ["zkml_in_flat"]),
                  helper.make_node("Reshape", ["zkml_in_flat", const("zkml_in_shape", list(inp.shape))], [inp.name])]
        carried = "zkml_carry"
        if blind_out:
            front.append(helper.make_node("Slice", [LINK_IN, const("zkml_carry_start", [n_in + blind_in - blind_out]),
                                                    const("zkml_carry_end", [n_in + blind_in]), ax], [carried]))
    else:
        inputs.append(g.input[0])
        inputs.append(helper.make_tensor_value_info(BLIND_INPUT, T.FLOAT, [1, blind_out]))
        carried = BLIND_INPUT
    outputs = [g.output[0]]
    if blind_out:
        back += [helper.make_node("Flatten", [out.name], ["zkml_out_flat"], axis=1),
                 helper.make_node("Concat", ["zkml_out_flat", carried], [LINK_OUT], axis=1)]
        outputs = [helper.make_tensor_value_info(LINK_OUT, T.FLOAT, [1, out.size + blind_out])]
    graph = helper.make_graph(front + list(g.node) + back, g.name, inputs, outputs, initializer=list(g.initializer) + inits)
    sub = helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    return load_model(sub.SerializeToString())
