"""The ``mask`` rewrite: an additive attention mask of ``finfo(float32).min`` (or ``-inf``, ``-1e9``) made finite.

Hugging Face models (and many hand-written attention blocks) mask a score by adding a huge negative constant
before the softmax. No fixed-point scale holds -3.4e38, and ezkl refuses the graph ("significant bit truncation").
A masked weight is ``exp(score + mask - max)``: with ``mask`` = :data:`MASKED` (-12) it is at most e^-12
(6.1e-6) of the largest weight for scores the mask does not lift above that one, which rounds to zero at every
scale up to 2^16, so the circuit computes what it would with -inf, and the float graph stays within export's
parity tolerance of the library's own (a plain ``LlamaForCausalLM``: 1.1e-6 on its logits). -16 would be closer in
floats but doubles the softmax's exp table: that Llama needs 2^18 rows with it, 2^17 with -12.

Rewritten only where it is such a mask: a float constant whose values are 0 or at most :data:`HUGE`, read only
by ``Add`` nodes whose results reach a ``Softmax`` through shape and addition ops alone; every value at most
``HUGE`` becomes ``MASKED``. The graph is kept only if it checks and computes what the original computes on
random inputs to within :data:`TOLERANCE` (1e-3, below a scale-10 circuit's resolution; standard-normal scores,
so a masked score may sit a few units above the row's largest unmasked one). A row masked entirely (a padding query) is not: in floats its scores
vanish beside -3.4e38 and its softmax is uniform, after the rewrite it is the scores' softmax; such a graph stays
as it is (and compile names the constant).
"""

from __future__ import annotations

from ..support.deps import need

HUGE = -1e4  # a mask value: at most this (finfo.min, -inf, -1e9, the -10000 of older code)
MASKED = -12.0
TOLERANCE = 1e-3  # the rewritten graph against the original on random scores: under the circuit's resolution
_TO_SOFTMAX = ("Add", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Expand", "Identity", "Cast", "Slice")


def finite_masks(proto, done: list[dict], same_function, opens):
    """``proto`` with its additive masks made finite (a copy), or ``proto`` itself when it has none."""
    np, onnx = need("numpy"), need("onnx")
    g = proto.graph
    readers: dict[str, list] = {}
    for n in g.node:
        for x in n.input:
            readers.setdefault(x, []).append(n)
    outputs = {o.name for o in g.output}
    consts = {t.name: ("init", t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.output and any(a.name == "value" for a in n.attribute):
            consts[n.output[0]] = ("node", next(a for a in n.attribute if a.name == "value").t)
    found = []
    for name, (_, t) in consts.items():
        if t.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE) or name in outputs:
            continue
        arr = onnx.numpy_helper.to_array(t)
        huge = arr <= HUGE
        if not arr.size or not huge.any() or not np.all(huge | (arr == 0)):
            continue
        users = readers.get(name, [])
        if not users or not all(u.op_type == "Add" and _reaches_softmax(u, readers, outputs) for u in users):
            continue
        found.append((name, arr, huge, users))
    if not found:
        return proto
    new = onnx.ModelProto()
    new.CopyFrom(proto)
    where = {t.name: t for t in new.graph.initializer}
    for n in new.graph.node:
        if n.op_type == "Constant" and n.output and n.output[0] in {f[0] for f in found}:
            where[n.output[0]] = next(a for a in n.attribute if a.name == "value").t
    records = []
    for name, arr, huge, users in found:
        fixed = np.where(huge, MASKED, arr).astype(arr.dtype)
        where[name].CopyFrom(onnx.numpy_helper.from_array(fixed, where[name].name))
        lowest = float(arr.min())
        records.append(
            {
                "rewrite": "mask",
                "constant": name,
                "node": users[0].name or users[0].op_type,
                "from": "-inf" if lowest == float("-inf") else f"{lowest:.3g}",
                "to": MASKED,
                "values": int(huge.sum()),
            }
        )
    try:
        onnx.checker.check_model(new, full_check=True)
    except Exception:  # the checker refuses the copy: the constants stay (compile names them)
        return proto
    if not same_function(proto, new, atol=TOLERANCE, rtol=TOLERANCE) or not opens(new):
        return proto
    done.extend(records)
    return new


def _reaches_softmax(node, readers: dict, outputs: set, depth: int = 6) -> bool:
    """Every path from ``node``'s output goes through shape and addition ops to a Softmax (within ``depth``)."""
    for out in node.output:
        if out in outputs:
            return False
        nxt = readers.get(out, [])
        if not nxt:
            return False
        for m in nxt:
            if m.op_type == "Softmax":
                continue
            if depth == 0 or m.op_type not in _TO_SOFTMAX or not _reaches_softmax(m, readers, outputs, depth - 1):
                return False
    return True
