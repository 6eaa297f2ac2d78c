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


MAX_LINK_TENSORS = 4  # a cut may hand over this many tensors (a residual stream and a branch, attention's inputs)


def boundaries(model: Model, max_tensors: int = MAX_LINK_TENSORS) -> list[tuple[str, ...]]:
    """The places in the graph's topological order where it can be cut, in order: at each, the values that nodes
    before it pass to nodes after it (at most ``max_tensors``; a graph input still read later counts too), before
    any graph output is produced. Each is the tuple of those names, in the order they were made."""
    g = _proto(model).graph
    # constants travel with the segment that reads them, like weights: a value computed from weights and
    # constants only (a Constant node, an Identity of a shared initializer) is not state crossing a cut
    inits = {i.name for i in g.initializer}
    for n in g.node:
        if all(x in inits for x in n.input if x):
            inits |= set(n.output)
    outputs = {o.name for o in g.output}
    order = {i.name: -1 for i in g.input if i.name not in inits}
    for i, n in enumerate(g.node):
        for o in n.output:
            order.setdefault(o, i)
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for x in n.input:
            if x and x not in inits:
                last_use[x] = i
    found = []
    for i in range(len(g.node) - 1):
        if any(order.get(o, len(g.node)) <= i for o in outputs):
            break  # a graph output is already done: the rest cannot be a chain
        live = sorted(
            (x for x, j in last_use.items() if j > i and order.get(x, len(g.node)) <= i), key=lambda x: (order[x], x)
        )
        if 0 < len(live) <= max_tensors and any(order[x] >= 0 for x in live):  # not the graph's inputs alone
            found.append(tuple(live))
    return list(dict.fromkeys(found))


def cuts(model: Model) -> list[str]:
    """The single-tensor cuts: places where exactly one tensor carries everything forward."""
    return [b[0] for b in boundaries(model, 1)]


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
    needed = wanted - in_names  # an output that is also an input passes through: nothing computes it here
    nodes = []
    for n in reversed(g.node):  # walk back from the outputs to the inputs, and no further
        if set(n.output) & needed:
            nodes.append(n)
            needed |= {x for x in n.input if x and x not in in_names}
    nodes.reverse()
    inits = [i for i in g.initializer if i.name in needed]
    dangling = (
        {x for n in nodes for x in n.input if x}
        - {o for n in nodes for o in n.output}
        - in_names
        - {i.name for i in inits}
    )
    if dangling:
        raise ModelError(
            f"the segment needs values from outside it: {sorted(dangling)[:3]}",
            stage="compile",
            where="split",
            hint="report this model: zkml cut it at a point that is not a single tensor",
        )
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE, "int64": onnx.TensorProto.INT64}

    def info(t: TensorSpec):
        return onnx.helper.make_tensor_value_info(t.name, elem.get(t.dtype, onnx.TensorProto.FLOAT), list(t.shape))

    graph = onnx.helper.make_graph(
        nodes, f"{g.name or 'model'}_segment", [info(t) for t in inputs], [info(t) for t in outputs], initializer=inits
    )
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


def calibration_blinds(links: int, scale: int, samples: int):
    """Stand-ins for the blinding values in a calibration batch: ``samples`` rows of ``links`` blocks spanning the
    whole range fresh_blinds draws from (0 and 65535 included), the same on every call, so a segment's circuit,
    and the keys set up for it, are found in the cache again. Proofs never read them (fresh_blinds does that)."""
    np = need("numpy")
    raw = np.random.default_rng(0).integers(0, 2**16, size=(samples, BLIND_VALUES * links)).astype(np.float64)
    raw[0, 0], raw[0, -1] = 0.0, 2.0**16 - 1
    return raw / 2.0 ** int(scale)


def segment(
    model: Model,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    blind_in: int = 0,
    blind_out: int = 0,
    *,
    link_in: bool = False,
    link_out: bool = False,
) -> Model:
    """The sub-graph from ``inputs`` to ``outputs`` as a standalone Model, its links packed and blinded.

    A *link* is one tensor ``[1, n]``: every tensor the cut hands over, flattened and concatenated, then the
    blinding values. ``link_in``: the segment reads its inputs from such a link (``LINK_IN``) carrying
    ``blind_in`` blinding values, drops the first block of them and appends the rest to its output; otherwise
    it takes ``inputs`` as they are (the model's own) and, when ``blind_out``, the blinding values as a second
    input (``BLIND_INPUT``). ``link_out``: its outputs leave packed in one link (``LINK_OUT``) with ``blind_out``
    values; otherwise they are the model's own outputs. A single tensor with no blinding stays as it is."""
    inputs, outputs = list(inputs), list(outputs)
    link_in = link_in and (bool(blind_in) or len(inputs) > 1)
    link_out = link_out and (bool(blind_out) or len(outputs) > 1)
    if not link_in and not link_out and not blind_out:
        return extract(model, inputs, outputs)
    onnx = need("onnx")
    helper, T = onnx.helper, onnx.TensorProto
    proto = onnx.load_model_from_string(extract(model, inputs, outputs).onnx_bytes)
    g = proto.graph
    front, back, inits, graph_inputs = [], [], [], []

    def const(name: str, values: list[int]) -> str:
        inits.append(helper.make_tensor(name, T.INT64, [len(values)], values))
        return name

    if link_in:  # the link: every handed-over tensor flattened, then the blinding values
        axis = const("zkml_axis1", [1])
        total = sum(t.size for t in inputs)
        graph_inputs.append(helper.make_tensor_value_info(LINK_IN, T.FLOAT, [1, total + blind_in]))
        pos = 0
        for k, t in enumerate(inputs):
            front += [
                helper.make_node(
                    "Slice",
                    [LINK_IN, const(f"zkml_in{k}_start", [pos]), const(f"zkml_in{k}_end", [pos + t.size]), axis],
                    [f"zkml_in{k}_flat"],
                ),
                helper.make_node("Reshape", [f"zkml_in{k}_flat", const(f"zkml_in{k}_shape", list(t.shape))], [t.name]),
            ]
            pos += t.size
        carried = "zkml_carry"
        if blind_out:
            front.append(
                helper.make_node(
                    "Slice",
                    [
                        LINK_IN,
                        const("zkml_carry_start", [total + blind_in - blind_out]),
                        const("zkml_carry_end", [total + blind_in]),
                        axis,
                    ],
                    [carried],
                )
            )
    else:
        graph_inputs += list(g.input)
        carried = BLIND_INPUT
        if blind_out:
            graph_inputs.append(helper.make_tensor_value_info(BLIND_INPUT, T.FLOAT, [1, blind_out]))
    graph_outputs = list(g.output)
    if link_out:
        parts = []
        for k, t in enumerate(outputs):
            back.append(helper.make_node("Flatten", [t.name], [f"zkml_out{k}_flat"], axis=1))
            parts.append(f"zkml_out{k}_flat")
        if blind_out:
            parts.append(carried)
        back.append(helper.make_node("Concat", parts, [LINK_OUT], axis=1))
        graph_outputs = [
            helper.make_tensor_value_info(LINK_OUT, T.FLOAT, [1, sum(t.size for t in outputs) + blind_out])
        ]
    graph = helper.make_graph(
        front + list(g.node) + back, g.name, graph_inputs, graph_outputs, initializer=list(g.initializer) + inits
    )
    sub = helper.make_model(graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version)
    return load_model(sub.SerializeToString())
