"""Small edits of an ONNX graph that the rewrites share (normalize, masks): fresh names, unread constants removed."""

from __future__ import annotations


def fresh_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... : the first not in ``taken`` (added to it)."""
    out, n = name, 1
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def drop_unread(proto, names: set) -> None:
    """The initializers, Constant nodes and graph inputs among ``names`` that nothing reads any more, removed."""
    g = proto.graph
    unread = set(names) - {i for n in g.node for i in n.input} - {o.name for o in g.output}
    if not unread:
        return
    keep = [n for n in g.node if not (n.op_type == "Constant" and n.output[0] in unread)]
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name not in unread]
    del g.initializer[:]
    g.initializer.extend(inits)
    ins = [i for i in g.input if i.name not in unread]
    del g.input[:]
    g.input.extend(ins)
