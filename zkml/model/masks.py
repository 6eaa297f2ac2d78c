"""The ``mask`` rewrite: an additive attention mask of ``finfo(float32).min`` (or ``-inf``, ``-1e9``) made finite.

Hugging Face models (and many hand-written attention blocks) mask a score by adding a huge negative constant
before the softmax. No fixed-point scale holds -3.4e38, and ezkl refuses the graph ("significant bit truncation").

``Softmax(s + mask)`` becomes ``Softmax(s * keep + (ReduceMin(s) - c) * (1 - keep))``, the minimum taken along the
Softmax's axis, ``keep`` the mask's zeros (1 where a score counts, 0 where it is masked) and ``c = MARGIN +
ln(n)`` for ``n`` scores per softmax. A masked score then sits ``c`` below the row's lowest score, so below every
unmasked one, whatever the scores are: the masked weights sum to at most ``n * e^-c = e^-MARGIN`` (6.1e-6) of
the row's largest weight, for every input, which rounds to zero in the circuit (its resolution is coarser at
every scale up to 2^17). A row masked entirely stays uniform, as it is in floats with finfo.min. A fixed finite
mask value (-12) would not do: scores the mask does not lift leave masked weights of e^(-12 + their spread),
which trained models' attention scores make large.

Rewritten only where it is such a mask: a float constant whose values are 0 or at most :data:`HUGE`, read only by
``Add`` nodes whose result only ``Softmax`` nodes read, in a graph without subgraphs (an ``If`` body could read
the constant unseen), with the scores' shape known. Kept only if the graph checks and computes what the original
computes on random inputs (normalize.same_function, within :data:`TOLERANCE`).
"""

from __future__ import annotations

import math

from ..support.deps import need
from .onnx_edit import drop_unread, fresh_name

HUGE = -1e4  # a mask value: at most this (finfo.min, -inf, -1e9, the -10000 of older code)
MARGIN = 12.0  # how many e-folds the masked weights sum below the row's largest weight
TOLERANCE = 1e-4  # the rewritten graph against the original on random inputs (the bound above is e^-12 = 6.1e-6)


def finite_masks(proto, done: list[dict], same_function, opens):
    """``proto`` with its additive masks rewritten (a copy), or ``proto`` itself when it has none."""
    onnx = need("onnx")
    g = proto.graph
    if not any(n.op_type == "Add" for n in g.node) or _has_subgraphs(g):
        return proto
    if not _masks(proto):
        return proto
    new = onnx.ModelProto()
    new.CopyFrom(proto)
    found = _masks(new)  # on the copy: its nodes are the ones replaced
    ranks = _shapes(new)
    opset = next((o.version for o in new.opset_import if o.domain in ("", "ai.onnx")), 1)
    specs: dict[str, set] = {}
    for node in new.graph.node:
        if node.op_type == "Softmax":
            specs.setdefault(node.input[0], set()).add(_softmax_axes(node, opset))
    softmax_axis = {k: next(iter(v)) for k, v in specs.items() if len(v) == 1}  # two axes: not rewritten
    taken = {n.name for n in new.graph.node} | {v for n in new.graph.node for v in n.output}
    taken |= {t.name for t in new.graph.initializer}
    records, replaced = [], {}
    for name, arr, users in found:
        for add in users:
            scores = add.input[1] if add.input[0] == name else add.input[0]
            shape = ranks.get(add.output[0])
            axes = _axes(softmax_axis.get(add.output[0]), shape)
            if axes is None or scores == name:
                return proto  # a shape it cannot see, or softmaxes over other axes: the graph stays as it is
            n = math.prod(shape[a] for a in axes)
            replaced[id(add)] = _exact(onnx, new, add, scores, arr, axes, n, opset, taken)
            lowest = float(arr.min())
            records.append(
                {
                    "rewrite": "mask",
                    "constant": name,
                    "node": add.name or add.op_type,
                    "from": "-inf" if lowest == float("-inf") else f"{lowest:.3g}",
                    "to": f"row minimum - {MARGIN:g} - ln({n})",
                    "values": int((arr <= HUGE).sum()),
                }
            )
    nodes = []
    for node in new.graph.node:
        nodes.extend(replaced.get(id(node), [node]))
    del new.graph.node[:]
    new.graph.node.extend(nodes)
    drop_unread(new, {name for name, _, _ in found})
    try:
        onnx.checker.check_model(new, full_check=True)
    except Exception:  # the checker refuses the copy: the constants stay (compile names them)
        return proto
    if not same_function(proto, new, atol=TOLERANCE, rtol=TOLERANCE) or not opens(new):
        return proto
    done.extend(records)
    return new


def _masks(proto) -> list:
    """(name, values, the Add nodes reading it) of every constant that is an additive mask before a Softmax."""
    np, onnx = need("numpy"), need("onnx")
    g = proto.graph
    readers: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    outputs = {o.name for o in g.output} | {i.name for i in g.input}
    wanted = {x for n in g.node if _before_softmax(n, readers, outputs) for x in n.input}  # read before a Softmax
    tensors = [(t.name, t) for t in g.initializer if t.name in wanted]  # a model's weights are not converted
    tensors += [
        (n.output[0], a.t)
        for n in g.node
        if n.op_type == "Constant" and n.output and n.output[0] in wanted
        for a in n.attribute
        if a.name == "value"
    ]
    found = []
    for name, t in tensors:
        if t.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE) or name in outputs:
            continue
        if t.data_location == onnx.TensorProto.EXTERNAL:
            continue  # its values live in another file: not read here
        try:
            arr = onnx.numpy_helper.to_array(t)
        except Exception:  # a malformed tensor: the loader's own check reports it
            continue
        huge = arr <= HUGE
        if not arr.size or not huge.any() or not np.all(huge | (arr == 0)):
            continue
        users = readers.get(name, [])
        if users and all(_before_softmax(u, readers, outputs) for u in users):
            found.append((name, arr, users))
    return found


def _before_softmax(node, readers: dict, outputs: set) -> bool:
    if node.op_type != "Add" or len(node.input) != 2 or node.input[0] == node.input[1]:
        return False
    out = node.output[0]
    nxt = readers.get(out, [])
    return out not in outputs and bool(nxt) and all(m.op_type == "Softmax" and m.input[0] == out for m in nxt)


def _exact(onnx, proto, add, scores: str, arr, axes: list[int], n: int, opset: int, taken: set) -> list:
    """The nodes computing ``scores * keep + (ReduceMin(scores, axes) - c) * (1 - keep)`` into ``add``'s output."""
    np = need("numpy")
    label = add.name or "mask"

    def fresh(what: str) -> str:
        return fresh_name(f"{label}/{what}", taken)

    keep = (arr == 0).astype(arr.dtype)
    consts = {"keep": keep, "drop": (1 - keep).astype(arr.dtype), "c": np.array(-(MARGIN + math.log(n)), arr.dtype)}
    names = {}
    for what, value in consts.items():
        names[what] = fresh(what)
        proto.graph.initializer.append(onnx.numpy_helper.from_array(value, names[what]))
    kept, low, shifted, dropped = fresh("kept"), fresh("row_min"), fresh("below"), fresh("masked")
    if opset >= 18:  # ReduceMin takes its axes as an input from opset 18
        names["axes"] = fresh("axes")
        proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array(axes, "int64"), names["axes"]))
        reduce = onnx.helper.make_node("ReduceMin", [scores, names["axes"]], [low], name=fresh("ReduceMin"), keepdims=1)
    else:
        reduce = onnx.helper.make_node("ReduceMin", [scores], [low], name=fresh("ReduceMin"), axes=axes, keepdims=1)
    return [
        onnx.helper.make_node("Mul", [scores, names["keep"]], [kept], name=fresh("Mul_keep")),
        reduce,
        onnx.helper.make_node("Add", [low, names["c"]], [shifted], name=fresh("Add_margin")),
        onnx.helper.make_node("Mul", [shifted, names["drop"]], [dropped], name=fresh("Mul_drop")),
        onnx.helper.make_node("Add", [kept, dropped], list(add.output), name=label),
    ]


def _softmax_axes(node, opset: int) -> tuple[int, bool]:
    """A Softmax's axis and whether it reaches to the last axis (opset < 13: every axis from it on)."""
    axis = next((a.i for a in node.attribute if a.name == "axis"), -1 if opset >= 13 else 1)
    return axis, opset < 13


def _axes(spec, shape) -> list[int] | None:
    if spec is None or shape is None or any(not isinstance(d, int) or d <= 0 for d in shape):
        return None
    axis, to_end = spec
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis < len(shape):
        return None
    return list(range(axis, len(shape))) if to_end else [axis]


def _shapes(proto) -> dict:
    """Value name -> static shape (a list of ints, or None where a dimension is unknown), by shape inference."""
    onnx = need("onnx")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # inference fails on this graph: no shape is known, nothing is rewritten
        return {}
    out = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = v.type.tensor_type
        if t.HasField("shape"):
            out[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def _has_subgraphs(g) -> bool:
    onnx = need("onnx")
    kinds = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    return any(a.type in kinds for n in g.node for a in n.attribute)
