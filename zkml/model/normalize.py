"""Normalising an ONNX graph before ezkl sees it: the same function, in the form ezkl reads.

Five rewrites, each applied only where it changes something, each checked, each recorded in the
ONNX file's own metadata (``metadata_props["zkml.rewrites"]``, read back by :func:`rewrites`):

- ``opset``: a graph the ONNX checker rejects for a type its opset does not allow yet (an ``Equal`` on
  floats at opset 10, as torch's exports of nanoGPT-style attention masks are) is converted with
  ``onnx.version_converter`` to the first opset, up to 13, at which it checks;
- ``defaults``: attributes the ONNX spec lets a ``Conv``, ``ConvTranspose`` or pooling node leave out
  (``strides``, ``pads``, ``dilations``, ``group``, ``kernel_shape``) are written in with their default
  values; ezkl refuses such a node ("a node is missing required params: stride"). ``auto_pad`` becomes
  explicit ``pads`` where the input's spatial shape is static;
- ``fold``: a graph that computes shapes at run time (``Shape``, ``Size``, ``ConstantOfShape``, ``NonZero``,
  ``Range``) gets its input shapes fixed (to ``variables``) and is folded by onnxruntime's basic graph
  optimisations (constant folding, redundant-node elimination). The folded graph is kept only if every
  node is still a standard ONNX op, it passes the checker, and it computes what the original computes
  on random inputs; otherwise the graph stands unfolded;
- ``topk1``: a ``TopK`` with a constant ``K`` of 1 (an initializer, a ``Constant`` node or, before opset 10, the
  ``k`` attribute) becomes ``ReduceMax`` for its values and ``ArgMax`` for its indices along the same axis, kept
  dimensions (``ReduceMin``/``ArgMin`` for ``largest=0``); ezkl proves only TopK's values, and top-1 routing reads
  the indices. Both pick the first of equal values, as TopK does; indices stay int64. Kept only if the graph
  checks and computes what the original computes on random inputs. A ``K`` over 1 stays a TopK;
- ``mask``: an additive attention mask of ``finfo(float32).min`` or ``-inf`` (a constant added to the scores
  before a Softmax, as Hugging Face exports carry) becomes a multiplicative one that puts each masked score 12 +
  ln(n) below its row's lowest score: the same softmax within e^-12 for every input (:mod:`zkml.model.masks`).

ezkl proves the normalised bytes: they are the model (its hash is theirs). Nothing here sees a user's
input; the random inputs of the checks are drawn here.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Mapping

from ..support.deps import need
from .masks import finite_masks
from .onnx_edit import drop_unread as _drop_unread
from .onnx_edit import fresh_name as _fresh

REWRITES_KEY = "zkml.rewrites"
# what the rewrites are: part of the parse cache's key (model.py), so a graph parsed by other rewrites is not reused.
# Raise it with any change to what a rewrite does (5: the mask rewrite, exact for every input)
VERSION = 5
_WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")
_SHAPE_OPS = ("Shape", "Size", "ConstantOfShape", "NonZero", "Range")
_OPSET_TARGETS = (11, 12, 13)
_STANDARD = ("", "ai.onnx")


def normalize(data: bytes, variables: Mapping[str, int] | None = None) -> bytes:
    """``data`` rewritten into the form ezkl reads, or ``data`` itself when there is nothing to rewrite.

    A file the onnx package cannot read comes back unchanged: the loader's own check reports it."""
    onnx = need("onnx")
    try:
        proto = onnx.load_model_from_string(data)
    except Exception:  # protobuf's DecodeError and friends: not ours to report
        return data
    if not proto.graph.node:
        return data
    done: list[dict] = []
    proto = _repair_opset(proto, done)
    _fill_defaults(proto, done)
    proto = _fold(proto, dict(variables or {"batch_size": 1}), done)
    proto = finite_masks(proto, done, same_function, _opens)
    proto = _topk_to_reduce(proto, done)
    if not done:
        return data
    for p in list(proto.metadata_props):
        if p.key == REWRITES_KEY:
            proto.metadata_props.remove(p)
    entry = proto.metadata_props.add()
    entry.key, entry.value = REWRITES_KEY, json.dumps(done, sort_keys=True)
    return proto.SerializeToString()


def rewrites(model: Any) -> list[dict]:
    """The rewrites recorded in a normalised model (a ``Model`` or ONNX bytes); ``[]`` when there were none."""
    onnx = need("onnx")
    data = getattr(model, "onnx_bytes", model)
    for p in onnx.load_model_from_string(data).metadata_props:
        if p.key == REWRITES_KEY:
            return json.loads(p.value)
    return []


def _opset(proto) -> int:
    return max((o.version for o in proto.opset_import if o.domain in _STANDARD), default=0)


# opset: a type the graph's opset does not allow yet
def _repair_opset(proto, done: list[dict]):
    onnx = need("onnx")
    try:
        onnx.checker.check_model(proto, full_check=True)
        return proto
    except Exception as err:
        why = str(err).splitlines()[0][:300]
        if "unsupported type" not in why:
            return proto
    have = _opset(proto)
    for target in (t for t in _OPSET_TARGETS if t > have):
        try:
            converted = onnx.version_converter.convert_version(proto, target)
            onnx.checker.check_model(converted, full_check=True)
        except Exception:  # the converter has no adapter for some op, or the copy still fails: try the next
            continue
        done.append({"rewrite": "opset", "from": have, "to": target, "why": why})
        return converted
    return proto


# defaults: attributes the spec may leave out and ezkl requires
def _fill_defaults(proto, done: list[dict]) -> None:
    onnx = need("onnx")
    helper = onnx.helper
    if not any(n.op_type in _WINDOW_OPS for n in proto.graph.node):
        return
    opset = _opset(proto)
    inits = {i.name: list(i.dims) for i in proto.graph.initializer}
    shapes = _static_shapes(proto)
    for i, node in enumerate(proto.graph.node):
        if node.op_type not in _WINDOW_OPS or node.domain not in _STANDARD:
            continue
        try:
            allowed = set(onnx.defs.get_schema(node.op_type, opset, "").attributes)
        except Exception:  # no schema at this opset: the checker has already said so
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        kernel = list(attrs.get("kernel_shape") or [])
        if not kernel and node.op_type.startswith("Conv") and len(node.input) > 1:
            w = inits.get(node.input[1]) or shapes.get(node.input[1])
            kernel = list(w[2:]) if w and len(w) > 2 else []
        if not kernel:
            continue
        k = len(kernel)
        dil = list(attrs.get("dilations") or [1] * k)
        strides = list(attrs.get("strides") or [1] * k)
        fill: dict[str, Any] = {}
        if "kernel_shape" not in attrs:
            fill["kernel_shape"] = kernel
        if "strides" not in attrs:
            fill["strides"] = strides
        if "dilations" in allowed and "dilations" not in attrs:
            fill["dilations"] = dil
        if "group" in allowed and "group" not in attrs:
            fill["group"] = 1
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if "pads" not in attrs:
            pads = None
            if auto in ("NOTSET", "VALID"):
                pads = [0] * (2 * k)
            elif node.op_type != "ConvTranspose" and auto in ("SAME_UPPER", "SAME_LOWER"):
                pads = _same_pads(shapes.get(node.input[0]), kernel, strides, dil, upper=auto == "SAME_UPPER")
            if pads is not None:
                fill["pads"] = pads
                if auto != "NOTSET":
                    fill["auto_pad"] = "NOTSET"
        if not fill:
            continue
        keep = [a for a in node.attribute if a.name not in fill]
        del node.attribute[:]
        node.attribute.extend(keep + [helper.make_attribute(n, v) for n, v in sorted(fill.items())])
        done.append(
            {
                "rewrite": "defaults",
                "op": node.op_type,
                "node": node.name or f"#{i}",
                "filled": sorted(n for n in fill if n != "auto_pad")
                + ([f"auto_pad {auto} -> pads"] if "auto_pad" in fill else []),
            }
        )


def _same_pads(shape, kernel, strides, dil, *, upper: bool) -> list[int] | None:
    if not shape or len(shape) != len(kernel) + 2 or not all(isinstance(d, int) and d > 0 for d in shape[2:]):
        return None
    begin, end = [], []
    for size, kk, s, d in zip(shape[2:], kernel, strides, dil):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (kk - 1) * d + 1 - size)
        small = total // 2
        begin.append(small if upper else total - small)
        end.append(total - small if upper else small)
    return begin + end


def _static_shapes(proto) -> dict[str, list[int]]:
    """Value name -> static shape, as far as ONNX shape inference knows it (best effort: {} when it cannot)."""
    onnx = need("onnx")
    try:
        typed = onnx.shape_inference.infer_shapes(proto)
    except onnx.shape_inference.InferenceError:  # e.g. a node whose domain has no opset import: no shapes known
        return {}
    out = {}
    for v in [*typed.graph.input, *typed.graph.value_info, *typed.graph.output]:
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                out[v.name] = [int(d.dim_value) for d in dims]
    return out


# fold: shapes computed at run time, once the input shapes are fixed
def _fold(proto, variables: dict[str, int], done: list[dict]):
    onnx = need("onnx")
    if not any(n.op_type in _SHAPE_OPS for n in proto.graph.node):
        return proto
    fixed = onnx.ModelProto()
    fixed.CopyFrom(proto)
    inits = {i.name for i in fixed.graph.initializer}
    pinned = {}
    for inp in fixed.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        for j, d in enumerate(inp.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if d.dim_param in variables:
                value = int(variables[d.dim_param])
            elif j == 0 and not d.dim_param:
                value = int(variables.get("batch_size", 1))
            else:
                return proto  # a dimension nobody fixed: the loader refuses it by name
            pinned[f"{inp.name}[{j}]"] = value
            d.Clear()
            d.dim_value = value
    folded = _ort_basic(fixed)
    if folded is None or not same_function(fixed, folded) or not _opens(folded):
        return proto
    before = [n.op_type for n in proto.graph.node]
    after = [n.op_type for n in folded.graph.node]
    removed = {
        op: before.count(op) - after.count(op) for op in sorted(set(before)) if before.count(op) > after.count(op)
    }
    done.append({"rewrite": "fold", "nodes": [len(before), len(after)], "removed": removed, "static_inputs": pinned})
    return folded


def _ort_basic(proto):
    """The graph after onnxruntime's basic optimisations, or None if they leave non-standard ops or an invalid graph."""
    onnx, ort = need("onnx"), need("onnxruntime")
    with tempfile.TemporaryDirectory(prefix="zkml-fold-") as tmp:
        out = os.path.join(tmp, "folded.onnx")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = out
        try:
            ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            folded = onnx.load(out)
        except Exception:  # onnxruntime refuses the graph: the loader reports that itself
            return None
    if any(n.domain not in _STANDARD for n in folded.graph.node):
        return None
    used = {n.domain for n in folded.graph.node}
    keep = [o for o in folded.opset_import if o.domain in _STANDARD or o.domain in used]
    del folded.opset_import[:]
    folded.opset_import.extend(keep)
    folded.ir_version = proto.ir_version if proto.ir_version >= 7 else folded.ir_version
    try:
        onnx.checker.check_model(folded)
    except onnx.checker.ValidationError:  # onnxruntime's rewrite is not a valid ONNX graph: keep the original
        return None
    return folded


def _opens(proto) -> bool:
    """onnxruntime opens the graph at its default optimisation level, as the loader does (a folded graph can pass
    the unoptimised comparison and still be refused there: "Attempt to replace the existing tensor")."""
    ort = need("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # its refusal is an answer here, not an error to print
    try:
        ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime refuses it (its own exception types): keep the graph it opened before
        return False
    return True


def same_function(a, b, trials: int = 3, *, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    """Both graphs give the same outputs (exact for integers, floats within ``atol + rtol*|y|``: float rounding by
    default) on random inputs."""
    np, ort = need("numpy"), need("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sa = ort.InferenceSession(a.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        sb = ort.InferenceSession(b.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        for _ in range(trials):
            feeds = {i.name: random_input(i.type, i.shape, rng) for i in sa.get_inputs()}
            for x, y in zip(sa.run(None, feeds), sb.run(None, feeds)):
                x, y = np.asarray(x), np.asarray(y)
                if x.shape != y.shape:
                    return False
                if np.issubdtype(x.dtype, np.floating):
                    if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
                        return False
                elif not np.array_equal(x, y):
                    return False
    except Exception:  # either graph fails on a random input: not shown to be the same function
        return False
    return True


def random_input(type_name: str, shape, rng):
    """A random array of onnxruntime's ``tensor(...)`` type: normal floats, small non-negative integers
    (valid as token ids or indices), random booleans."""
    np = need("numpy")
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    kind = type_name[len("tensor(") : -1] if type_name.startswith("tensor(") else "float"
    if kind == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if kind.startswith(("int", "uint")):
        return rng.integers(0, 2, size=shape).astype(np.dtype(kind))
    return rng.standard_normal(shape).astype(np.dtype({"float": "float32", "double": "float64"}.get(kind, kind)))


# topk1: TopK with K == 1 as ReduceMax (values) and ArgMax (indices)
def _topk_to_reduce(proto, done: list[dict]):
    onnx = need("onnx")
    if not any(n.op_type == "TopK" and n.domain in _STANDARD for n in proto.graph.node):
        return proto
    new = onnx.ModelProto()
    new.CopyFrom(proto)
    g = new.graph
    opset = _opset(new)
    consts = _constants(new)
    read = {i for n in g.node for i in n.input if i} | {o.name for o in g.output}
    ranks: dict[str, int] | None = None
    names = {n.name for n in g.node if n.name} | {i.name for i in g.initializer} | {v for n in g.node for v in n.output}
    found: list[dict] = []
    nodes, ks = [], set()
    for i, node in enumerate(g.node):
        k = _topk_k(node, consts, opset) if node.op_type == "TopK" and node.domain in _STANDARD else None
        outs = [o if o in read else "" for o in list(node.output)[:2]]
        if k != 1 or not any(outs):
            nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        axis, largest = int(attrs.get("axis", -1)), int(attrs.get("largest", 1))
        if axis < 0:
            if ranks is None:
                ranks = _ranks(new)
            if node.input[0] in ranks:
                axis += ranks[node.input[0]]
            elif opset < 11:  # negative axes of ReduceMax and ArgMax are defined from opset 11
                nodes.append(node)
                continue
        label = node.name or f"#{i}"
        reduce_op, arg_op = ("ReduceMax", "ArgMax") if largest else ("ReduceMin", "ArgMin")
        ops = []
        if outs[0]:
            inputs = [node.input[0]]
            extra = {"keepdims": 1}
            if opset >= 18:  # ReduceMax takes its axes as an input from opset 18
                axes = _fresh(f"{label}/axes", names)
                g.initializer.append(onnx.numpy_helper.from_array(need("numpy").array([axis], "int64"), axes))
                inputs.append(axes)
            else:
                extra["axes"] = [axis]
            nodes.append(
                onnx.helper.make_node(reduce_op, inputs, [outs[0]], name=_fresh(f"{label}/{reduce_op}", names), **extra)
            )
            ops.append(reduce_op)
        if len(outs) > 1 and outs[1]:
            nodes.append(
                onnx.helper.make_node(
                    arg_op, [node.input[0]], [outs[1]], name=_fresh(f"{label}/{arg_op}", names), axis=axis, keepdims=1
                )
            )
            ops.append(arg_op)
        found.append({"rewrite": "topk1", "node": label, "axis": axis, "to": ops})
        ks.update(node.input[1:2])
    if not found:
        return proto
    del g.node[:]
    g.node.extend(nodes)
    _drop_unread(new, ks)
    try:
        onnx.checker.check_model(new, full_check=True)
    except Exception:  # e.g. an int8 TopK at an opset whose ReduceMax takes no int8: the TopK stays
        return proto
    if not same_function(proto, new) or not _opens(new):
        return proto
    done.extend(found)
    return new


def _constants(proto) -> dict:
    """Value name -> numpy array of every TopK's K that is an initializer or a ``Constant`` node's output (only
    those are read: a model's weights are not converted)."""
    onnx = need("onnx")
    g = proto.graph
    wanted = {n.input[1] for n in g.node if n.op_type == "TopK" and len(n.input) > 1}
    out = {i.name: i for i in g.initializer if i.name in wanted}
    for n in g.node:
        if n.op_type == "Constant" and n.output and n.output[0] in wanted:
            if n.attribute and n.attribute[0].name == "value":
                out[n.output[0]] = n.attribute[0].t
    return {k: onnx.numpy_helper.to_array(v) for k, v in out.items()}


def _topk_k(node, consts: dict, opset: int) -> int | None:
    """A TopK's K when it is a constant (the ``k`` attribute before opset 10, else a constant input), else None."""
    if opset < 10:
        for a in node.attribute:
            if a.name == "k":
                return int(a.i)
        return None
    if len(node.input) < 2 or node.input[1] not in consts:
        return None
    k = consts[node.input[1]]
    return int(k.reshape(-1)[0]) if k.size == 1 else None


def _ranks(proto) -> dict[str, int]:
    """Value name -> rank, as far as ONNX shape inference knows it."""
    onnx = need("onnx")
    try:
        typed = onnx.shape_inference.infer_shapes(proto)
    except onnx.shape_inference.InferenceError:
        return {}
    return {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*typed.graph.input, *typed.graph.value_info, *typed.graph.output]
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")
    }
