"""Tiling one op too big for a segment into pieces that split proving can cut between.

A ``Conv`` is cut by output channels, a ``Gemm`` or a ``MatMul`` with constant weights by output columns, and a
``MatMul`` of two activations (an attention score matrix) by the rows of its first operand. Each tile reads the
op's own input and computes its share of the output; the shares are joined by ``Concat`` nodes, one after each
tile past the first (``c1 = concat(t0, t1)``, ``c2 = concat(c1, t2)``...), so that after every tile at most three
values carry the op forward (the input, the shares so far joined, the newest share). The split planner
(:mod:`zkml.circuit.split`) then finds a cut after each tile: a segment may hold one tile or several, and tile
segments read the same committed input, which the next segment's link hands on with the shares.

``tile(model, {output: parts})`` names each tiled op by its output; the tiles' names derive from it, so the same
plan applied to a model with other weights (committed weights) gives the same tensors. Each rewrite computes
what the op computed (tested against onnxruntime).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

from ..errors import ModelError
from ..support.deps import need
from .model import Model, load_model
from .normalize import same_function

TILE_OPS = ("Conv", "Gemm", "MatMul")
UNARY_OPS = ("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Erf", "Abs", "Neg", "Clip")
UNARY_OPS += ("HardSigmoid", "HardSwish", "Identity")
BINARY_OPS = ("Add", "Sub", "Mul", "Div")
MAX_PARTS = 64


@dataclass(frozen=True)
class Tileable:
    """A node that can be tiled: its output (its name here), its op, how many parts at most, and its MACs."""

    output: str
    op: str
    max_parts: int
    macs: int
    fused: tuple[str, ...] = ()  # the element-wise values after it that its tiles compute too

    def covers(self, name: str) -> bool:
        """Whether ``name`` is this op's value, one its tiles take along, or a tile's or a join's of it."""
        base = tiled_from(name)
        return name == self.output or name in self.fused or (base is not None and base[0] == self.output)


def tile_name(output: str, j: int, parts: int) -> str:
    return f"zkml_tile{j}of{parts}_{output}"


_NAME = re.compile(r"^zkml_(?:tile|join)\d+of(\d+)(?:s\d+)?_(.+)$")


def tiled_from(name: str) -> tuple[str, int] | None:
    """The op output and parts that a tile's or a join's name comes from, or None for any other name."""
    m = _NAME.match(name)
    return (m.group(2), int(m.group(1))) if m else None


def _graph_info(proto):
    onnx = need("onnx")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # an op the inference does not know: no shapes, nothing tileable
        inferred = proto
    shapes = {}
    for v in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[v.name] = tuple(int(d.dim_value) for d in dims)
    inits = {i.name: i for i in proto.graph.initializer}
    return shapes, inits


def _attr(node, name: str, default):
    onnx = need("onnx")
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _how(node, shapes: Mapping, inits: Mapping) -> tuple[int, int] | None:
    """(the most parts, MACs) for a node that can be tiled, or None."""
    out = shapes.get(node.output[0]) if node.output else None
    if not out:
        return None
    biased = len(node.input) > 2 and node.input[2]
    if node.op_type in ("Conv", "Gemm") and biased and node.input[2] not in inits:
        return None  # a computed bias: tiles slice only constant ones
    if node.op_type == "Conv":
        if len(node.input) < 2 or node.input[1] not in inits or len(out) < 2:
            return None
        w, groups = tuple(inits[node.input[1]].dims), int(_attr(node, "group", 1))
        if groups > 1 and out[1] % groups:
            return None
        return (out[1] if groups == 1 else groups), math.prod(out) * math.prod(w[1:])  # a grouped one: whole groups
    if node.op_type == "Gemm":
        if len(node.input) < 2 or node.input[1] not in inits or len(out) != 2:
            return None
        w = tuple(inits[node.input[1]].dims)
        return out[1], math.prod(out) * (w[1] if _attr(node, "transB", 0) else w[0])
    if node.op_type == "MatMul":
        a = shapes.get(node.input[0])
        if not a or len(out) < 2:
            return None
        if node.input[1] in inits:  # constant weights: by output columns (a vector of weights: not at all)
            return (out[-1], math.prod(out) * a[-1]) if len(inits[node.input[1]].dims) >= 2 else None
        if len(a) >= 2 and len(shapes.get(node.input[1], ())) >= 2:  # by the rows of A (a vector B drops them)
            return out[-2], math.prod(out) * a[-1]
    return None


def tileable(model: Model) -> list[Tileable]:
    """The nodes of ``model`` that can be tiled, most MACs first."""
    onnx = need("onnx")
    proto = onnx.load_model_from_string(model.onnx_bytes)
    shapes, inits = _graph_info(proto)
    found = []
    for n in proto.graph.node:
        if n.op_type not in TILE_OPS or not n.output:
            continue
        how = _how(n, shapes, inits)
        if how and how[0] >= 2:
            fused = tuple(c.output[0] for c in _chain(proto.graph, n, shapes, inits))
            found.append(Tileable(n.output[0], n.op_type, min(how[0], MAX_PARTS), how[1], fused))
    return sorted(found, key=lambda t: -t.macs)


def _bounds(size: int, parts: int) -> list[tuple[int, int]]:
    edges = [size * j // parts for j in range(parts + 1)]
    return list(zip(edges, edges[1:]))


def tile(model: Model, plan: Mapping[str, int]) -> Model:
    """``model`` with the op making each output of ``plan`` cut into that many tiles (see the module docstring)."""
    if not plan:
        return model
    onnx = need("onnx")
    proto = onnx.load_model_from_string(model.onnx_bytes)
    shapes, inits = _graph_info(proto)
    g = proto.graph
    new_nodes, new_inits, absorbed = [], [], set()
    todo = dict(plan)
    for node in g.node:
        out = node.output[0] if node.output else None
        if out in absorbed:
            continue
        if out not in todo:
            new_nodes.append(node)
            continue
        parts = int(todo.pop(out))
        how = _how(node, shapes, inits)
        if how is None or not 2 <= parts <= how[0]:
            raise ModelError(
                f"the {node.op_type} node making '{out}' cannot be cut into {parts} tiles",
                stage="compile",
                where="split",
                hint="report this model: zkml's split planner chose a tiling it cannot make",
            )
        chain = _chain(g, node, shapes, inits)
        absorbed |= {n.output[0] for n in chain}
        new_nodes += _tiles(node, chain, parts, shapes, inits, new_inits)
    if todo:
        raise ModelError(
            f"no node makes {sorted(todo)[:3]}",
            stage="compile",
            where="split",
            hint="the tiling was planned for another model: compile this one again",
        )
    before = onnx.ModelProto()
    before.CopyFrom(proto)  # (nodes and initializers are replaced below: `proto` becomes the tiled model)
    used = {x for n in new_nodes for x in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.node[:]
    g.node.extend(new_nodes)
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    if not same_function(before, proto):  # every tiling checked on random inputs, as every normalisation is
        raise ModelError(
            f"cutting {', '.join(sorted(plan))[:200]} into tiles does not compute what the model computes",
            stage="compile",
            where="split",
            hint="raise max_logrows so that the op fits one segment, and report this model",
        )
    return load_model(proto.SerializeToString())


def _axis(node, shapes: Mapping, inits: Mapping) -> int:
    """The axis of the op's output that its tiles cut."""
    rank = len(shapes[node.output[0]])
    if node.op_type in ("Conv", "Gemm"):
        return 1
    return rank - 2 if node.input[1] not in inits else rank - 1


def _chain(g, node, shapes: Mapping, inits: Mapping) -> list:
    """The element-wise nodes after ``node`` that its tiles take along (each the only reader of the one before,
    the same shape, any other operand a constant that broadcasts along the cut axis), so that a ReLU or a bias is
    computed on each share rather than on the joined whole."""
    readers: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    outputs, axis = {o.name for o in g.output}, _axis(node, shapes, inits)
    rank = len(shapes[node.output[0]])
    chain, y = [], node.output[0]
    while y not in outputs and len(readers.get(y, [])) == 1:
        n = readers[y][0]
        if not n.output or list(n.input).count(y) != 1 or shapes.get(n.output[0]) != shapes.get(y):
            break
        others = [x for x in n.input if x and x != y]
        if n.op_type in UNARY_OPS and n.input[0] == y and all(x in inits for x in others):
            pass
        elif n.op_type in BINARY_OPS and len(others) == 1 and others[0] in inits:
            dims = tuple(inits[others[0]].dims)
            at = axis - (rank - len(dims))
            if len(dims) > rank or (at >= 0 and dims[at] not in (1, shapes[y][axis])):
                break
        else:
            break
        chain.append(n)
        y = n.output[0]
    return chain


def _tiles(node, chain: list, parts: int, shapes: Mapping, inits: Mapping, new_inits: list) -> list:
    """The nodes computing ``node`` and its ``chain`` in ``parts`` tiles, joined in order."""
    onnx = need("onnx")
    np = need("numpy")
    nh, make = onnx.numpy_helper, onnx.helper.make_node
    out = node.output[0]
    rank, axis = len(shapes[out]), _axis(node, shapes, inits)
    final = chain[-1].output[0] if chain else out
    nodes, joined = [], None

    def const(name: str, array) -> str:
        new_inits.append(nh.from_array(np.asarray(array), name))
        return name

    def sliced(name: str, x: str, lo: int, hi: int) -> str:
        """The constant ``x`` cut to [lo, hi) along the tiled axis (where it is not broadcast there)."""
        c = nh.to_array(inits[x])
        at = axis - (rank - c.ndim)
        if at < 0 or c.shape[at] == 1:
            return x
        return const(name, np.take(c, range(lo, hi), axis=at))

    groups = int(_attr(node, "group", 1)) if node.op_type == "Conv" else 1
    per = shapes[out][axis] // groups if groups > 1 else 1  # a grouped convolution is cut between groups
    for j, (g0, g1) in enumerate(_bounds(shapes[out][axis] // per, parts)):
        lo, hi = g0 * per, g1 * per
        name = tile_name(out, j, parts)
        ins, attrs = list(node.input), list(node.attribute)
        if node.op_type == "Conv":
            ins[1] = const(f"{name}_w", nh.to_array(inits[node.input[1]])[lo:hi])
            if len(ins) > 2 and ins[2]:
                ins[2] = const(f"{name}_b", nh.to_array(inits[node.input[2]])[lo:hi])
            if groups > 1:  # its groups' input channels only
                cin = shapes[node.input[0]][1] // groups
                cut = [
                    const(f"{name}_{k}", np.array([v], dtype=np.int64))
                    for k, v in (("lo", g0 * cin), ("hi", g1 * cin), ("ax", 1))
                ]
                nodes.append(make("Slice", [node.input[0], *cut], [f"{name}_chans"], name=f"{name}_slice"))
                ins[0] = f"{name}_chans"
                attrs = [a for a in attrs if a.name != "group"] + [onnx.helper.make_attribute("group", g1 - g0)]
        elif node.op_type == "Gemm":
            w = nh.to_array(inits[node.input[1]])
            ins[1] = const(f"{name}_w", w[lo:hi] if _attr(node, "transB", 0) else w[:, lo:hi])
            if len(ins) > 2 and ins[2]:  # a constant bias (_how does not offer a computed one)
                ins[2] = sliced(f"{name}_bias", ins[2], lo, hi)
        elif node.input[1] in inits:
            ins[1] = const(f"{name}_w", nh.to_array(inits[node.input[1]])[..., lo:hi])
        else:  # an activation times an activation: the first one's rows
            a_rank = len(shapes[node.input[0]])
            bounds = [const(f"{name}_{k}", np.array([v], dtype=np.int64)) for k, v in (("lo", lo), ("hi", hi))]
            axes = const(f"{name}_ax", np.array([a_rank - 2], dtype=np.int64))
            nodes.append(make("Slice", [node.input[0], *bounds, axes], [f"{name}_rows"], name=f"{name}_slice"))
            ins[0] = f"{name}_rows"
        steps = [node, *chain]
        names = [f"zkml_tile{j}of{parts}s{k}_{out}" for k in range(len(steps) - 1)] + [name]
        prev = None
        for k, (n, made) in enumerate(zip(steps, names)):
            if k:
                ins = [
                    prev if x == steps[k - 1].output[0] else (sliced(f"{made}_k{i}", x, lo, hi) if x in inits else x)
                    for i, x in enumerate(n.input)
                ]
            nodes.append(make(n.op_type, ins, [made], name=made))
            nodes[-1].attribute.extend(attrs if k == 0 else n.attribute)
            prev = made
        if j == 0:
            joined = name
            continue
        join = final if j == parts - 1 else f"zkml_join{j}of{parts}_{out}"
        nodes.append(make("Concat", [joined, name], [join], name=join, axis=axis))
        joined = join
    return nodes
