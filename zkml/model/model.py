"""``Model``: an ONNX graph with fixed input shapes, ready for compile."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import DynamicShapeError, ModelFileError, UnsupportedModelError
from ..support.deps import need
from ..support.files import ZKML_FORMAT, atomic_write_bytes
from ..support.hashing import canonical_json, sha256_bytes
from ..support.store import Store

DEFAULT_VARIABLES: tuple[tuple[str, int], ...] = (("batch_size", 1),)
MAX_ONNX_BYTES = 2 << 30  # protobuf's own limit for one message

_SESSIONS: dict[str, Any] = {}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, d: Mapping) -> "TensorSpec":
        return cls(str(d["name"]), tuple(int(x) for x in d["shape"]), str(d.get("dtype", "float32")))


@dataclass(frozen=True, eq=False)
class Model:
    """An ONNX model with static input shapes. ``source`` says where it came from."""

    onnx_bytes: bytes = field(repr=False)
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    source: str = "onnx"
    variables: tuple[tuple[str, int], ...] = DEFAULT_VARIABLES
    parity: Mapping[str, Any] | None = None

    @property
    def hash(self) -> str:
        """sha256 of the ONNX bytes: the identity of the model."""
        return sha256_bytes(self.onnx_bytes)

    def __repr__(self) -> str:
        ins = ", ".join(f"{t.name}{list(t.shape)}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape)}" for t in self.outputs)
        return f"Model({ins} -> {outs}, source={self.source}, sha256={self.hash[:12]})"

    # run the float model
    def run(self, feeds: Mapping[str, Any]) -> list:
        """Run the model in onnxruntime on ``{input_name: array}``; returns the outputs."""
        sess = _session(self)
        np = need("numpy")
        return sess.run(None, {t.name: np.asarray(feeds[t.name]).astype(_np_dtype(t.dtype)) for t in self.inputs})

    def meta(self) -> dict:
        return {
            "format": ZKML_FORMAT,
            "kind": "model",
            "sha256": self.hash,
            "source": self.source,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "variables": [list(v) for v in self.variables],
            "parity": dict(self.parity) if self.parity else None,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Save as ``path/model.onnx`` + ``path/model.json``, or as one ``.onnx`` file if ``path`` ends so."""
        path = Path(path)
        if path.suffix == ".onnx":
            return atomic_write_bytes(path, self.onnx_bytes)
        atomic_write_bytes(path / "model.onnx", self.onnx_bytes)
        atomic_write_bytes(path / "model.json", json.dumps(self.meta(), indent=2).encode())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Model":
        return load_model(path)


def _np_dtype(name: str):
    np = need("numpy")
    return np.dtype(name)


def _session(model: Model):
    sess = _SESSIONS.get(model.hash)
    if sess is None:
        ort = need("onnxruntime")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        try:
            sess = ort.InferenceSession(model.onnx_bytes, opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own Fail/InvalidGraph types, not one base class
            sess = _widened_session(model, ort, opts, err)
        _SESSIONS[model.hash] = sess
    return sess


def _widened_session(model: Model, ort, opts, err: Exception):
    """The one kind of graph ezkl reads and onnxruntime refuses that a widened copy mends (8/16-bit
    integer MatMul/Equal). Any other refusal, or a widened copy that fails too, is a ModelFileError
    that carries both reasons."""
    hint = "check that the ONNX file is valid and uses standard ops"
    try:
        widened = _widen_small_int_ops(model.onnx_bytes)
    except Exception as werr:  # the onnx package cannot read or type the graph either
        raise ModelFileError(
            f"onnxruntime cannot load the model: {err} (nor can onnx: {type(werr).__name__} {str(werr)[:200]})",
            hint=hint,
        ) from err
    if widened is None:
        raise ModelFileError(f"onnxruntime cannot load the model: {err}", hint=hint) from err
    try:
        return ort.InferenceSession(widened, opts, providers=["CPUExecutionProvider"])
    except Exception as werr:
        raise ModelFileError(
            f"onnxruntime cannot load the model: {err}; nor the copy with its 8/16-bit integer "
            f"MatMul/Equal widened to int32: {werr}",
            hint=hint,
        ) from werr


_SMALL_INTS = (2, 3, 4, 5)  # uint8, int8, uint16, int16
_WIDEN_OPS = ("MatMul", "Equal")  # which the ONNX spec (Equal before opset 11) does not define on them


def _widen_small_int_ops(data: bytes) -> bytes | None:
    """The reference copy of a graph that multiplies or compares 8/16-bit integers (as hummingbird's
    tree exports do): ezkl reads such graphs, onnxruntime refuses them. Such a MatMul or Equal gets its
    inputs cast to int32 (and a MatMul its result cast back), which computes the same values. Only
    onnxruntime sees this copy; ezkl proves the original bytes. None when there is nothing to widen."""
    onnx = need("onnx")
    proto = onnx.load_model_from_string(data)
    typed = onnx.shape_inference.infer_shapes(proto)
    types = {
        v.name: v.type.tensor_type.elem_type for v in [*typed.graph.value_info, *typed.graph.input, *typed.graph.output]
    }
    types.update({i.name: i.data_type for i in proto.graph.initializer})
    nodes, widened = [], set()
    for node in proto.graph.node:
        if node.op_type not in _WIDEN_OPS or not any(types.get(x) in _SMALL_INTS for x in node.input):
            nodes.append(node)
            continue
        wide = [f"{x}__zkml_i32" for x in node.input]
        for x, w in zip(node.input, wide):
            if w not in widened:  # a value feeding several nodes is cast once
                widened.add(w)
                nodes.append(onnx.helper.make_node("Cast", [x], [w], to=onnx.TensorProto.INT32))
        out = node.output[0]
        if types.get(out) in _SMALL_INTS:
            nodes.append(onnx.helper.make_node(node.op_type, wide, [f"{out}__zkml_wide"]))
            nodes.append(onnx.helper.make_node("Cast", [f"{out}__zkml_wide"], [out], to=types[out]))
        else:
            nodes.append(onnx.helper.make_node(node.op_type, wide, [out]))
    if not widened:
        return None
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto.SerializeToString()


def load_model(path: str | os.PathLike | bytes, *, variables: Mapping[str, int] | None = None) -> Model:
    """Load any ONNX file (or a saved ``Model`` directory, or ONNX bytes).

    Symbolic dimensions named in ``variables`` (default ``{"batch_size": 1}``) are fixed to that
    value; any other symbolic dimension is a :class:`DynamicShapeError`.
    """
    where: object = "<bytes>"
    meta: dict | None = None
    if isinstance(path, (bytes, bytearray)):
        data = bytes(path)
    else:
        p = Path(path)
        where = p
        if p.is_dir():
            if (p / "model.json").exists():
                try:
                    meta = json.loads((p / "model.json").read_text())
                except ValueError as err:
                    raise ModelFileError(
                        f"model.json is not valid JSON: {err}", where=p / "model.json", hint="save the model again"
                    ) from err
            p = p / "model.onnx"
            where = p
        try:
            if p.stat().st_size > MAX_ONNX_BYTES:
                raise ModelFileError(
                    "ONNX file is larger than 2 GiB",
                    where=p,
                    hint="zkml proves small models; use external data or a smaller model",
                )
            data = p.read_bytes()
        except FileNotFoundError as err:
            raise ModelFileError("ONNX file not found", where=p, hint="check the path") from err
        except IsADirectoryError as err:
            raise ModelFileError(
                "expected an ONNX file, found a directory", where=p, hint="pass the .onnx file"
            ) from err
        except OSError as err:
            raise ModelFileError(
                f"cannot read the ONNX file: {err}", where=p, hint="check the file's permissions"
            ) from err
    vars_ = dict(DEFAULT_VARIABLES) if variables is None else dict(variables)
    model = _cached_parse(data, vars_)
    if model is None:
        model = _parse(data, where, vars_)
        _remember_parse(data, vars_, model)
    if meta:
        model = Model(
            model.onnx_bytes,
            model.inputs,
            model.outputs,
            source=meta.get("source", "onnx"),
            variables=model.variables,
            parity=meta.get("parity"),
        )
    name = None if isinstance(path, (bytes, bytearray)) else _display_name(Path(path).absolute())
    if name:  # the name `cache list` shows for this model's entries
        Store().remember_model_name(model.hash, name)
    return model


def _display_name(p: Path) -> str | None:
    """A model's name from its path: the file name, with its folder when the file name says nothing (a zoo
    model's ``digits_mlp/model.onnx``, a saved Model directory). None for a circuit's own copy (a circuit
    directory's or cache entry's ``network.onnx``), which would hide the name the user loaded it under."""
    if p.is_dir():
        return None if (p / "circuit.json").exists() else p.name
    if (p.parent / "circuit.json").exists():
        return None
    return f"{p.parent.name}/{p.name}" if p.stem == "model" and p.parent.name else p.name


def _parse_key(data: bytes, variables: Mapping[str, int]) -> str:
    # "normalize": the parse includes zkml.model.normalize's rewrites; entries parsed by other ones are not reused
    from .masks import HUGE, MARGIN
    from .normalize import VERSION

    key = {"format": ZKML_FORMAT, "onnx": sha256_bytes(data), "normalize": [VERSION, HUGE, MARGIN]}
    return sha256_bytes(canonical_json({**key, "variables": sorted(variables.items())}).encode())[:40]


def _cached_parse(data: bytes, variables: Mapping[str, int]) -> Model | None:
    """A model these exact bytes were parsed into before (checked, shapes found by a run on zeros):
    a warm ``prove-model run`` then loads neither onnx nor a first onnxruntime session for it."""
    try:
        entry = Store().get("models", _parse_key(data, variables))
        if entry is None:
            return None
        meta = json.loads((entry / "parsed.json").read_text())
        fixed = (entry / "model.onnx").read_bytes() if meta["rewritten"] else data
        if sha256_bytes(fixed) != meta["sha256"]:
            return None
        return Model(
            fixed,
            tuple(TensorSpec.from_json(t) for t in meta["inputs"]),
            tuple(TensorSpec.from_json(t) for t in meta["outputs"]),
            variables=tuple(sorted(variables.items())),
        )
    except (OSError, ValueError, KeyError, TypeError):  # unreadable or foreign entry: parse again
        return None


def _remember_parse(data: bytes, variables: Mapping[str, int], model: Model) -> None:
    """Cache what ``_parse`` found (no private data: the model's own bytes and shapes). Best effort:
    a read-only or full cache only costs the next load its parse."""

    def build(d: Path) -> None:
        rewritten = model.onnx_bytes != data
        if rewritten:
            (d / "model.onnx").write_bytes(model.onnx_bytes)
        (d / "parsed.json").write_text(
            json.dumps(
                {
                    "format": ZKML_FORMAT,
                    "sha256": model.hash,
                    "rewritten": rewritten,
                    "inputs": [t.to_json() for t in model.inputs],
                    "outputs": [t.to_json() for t in model.outputs],
                }
            )
        )

    try:
        Store().get_or_build("models", _parse_key(data, variables), build)
    except OSError:  # StoreError included: a read-only, full or misplaced ZKML_HOME; the parse stands
        return


def _fix_unnamed_batch_dims(proto, inits: set, batch: int) -> bool:
    """An input whose leading dimension has neither a size nor a name (skl2onnx's [None, n]) is the batch:
    fix it to ``batch`` in the graph itself, so ezkl and onnxruntime see the same static shape."""
    changed = False
    for inp in proto.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if len(dims) >= 2 and not dims[0].HasField("dim_value") and not dims[0].dim_param:
            dims[0].dim_value = batch
            changed = True
    return changed


EXPORT_HINT = (
    "export it to ONNX first: zkml.export(module, sample_input), or `prove-model export model.py:build "
    "--sample sample.npy -o model.onnx` where build() returns the model with its weights loaded"
)


def _not_onnx(data: bytes) -> str | None:
    """What a file that cannot be ONNX is, from its first bytes (an ONNX protobuf starts with field tags)."""
    head = data[:4096]
    if head.startswith(b"PK\x03\x04") and b"data.pkl" in head:
        return "a torch checkpoint (torch.save), not an ONNX model"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (a torch checkpoint or a pickled estimator), not an ONNX model"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, not an ONNX model"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (e.g. a Keras model), not an ONNX model"
    if len(head) > 8 and head[8:9] == b"{" and b'"dtype"' in head[:1024]:
        return "a safetensors file (weights only), not an ONNX model"
    return None


def _live_inputs(proto) -> set[str]:
    """The tensors read on the way to the graph's outputs (a dead node's inputs do not count), outputs included."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    live, todo = set(), [o.name for o in proto.graph.output]
    while todo:
        t = todo.pop()
        if t in live:
            continue
        live.add(t)
        node = producer.get(t)
        if node is not None:
            todo.extend(i for i in node.input if i)
    return live


def _refuse_unprovable_patterns(proto, where: object) -> None:
    """Graph patterns ezkl accepts at load and then panics on, refused here by node: a TopK whose indices output is
    read (ezkl gives only the values; a mixture-of-experts router reads the indices). A TopK with a constant K of 1
    is no longer one here: zkml.model.normalize has made it ReduceMax and ArgMax."""
    used = _live_inputs(proto)
    for node in proto.graph.node:
        if node.op_type == "TopK" and len(node.output) > 1 and node.output[1] and node.output[1] in used:
            raise UnsupportedModelError(
                f"TopK node '{node.name or node.output[0]}' has its indices output read: ezkl computes only "
                "TopK's values (its circuit for the indices fails inside ezkl)",
                stage="load",
                where=where,
                hint="use only the values, or route to the top 1: a TopK with a constant k=1 is proved as "
                "ArgMax (zkml rewrites it at load), a larger k is not",
            )


def _parse(data: bytes, where: object, variables: dict[str, int]) -> Model:
    onnx = need("onnx")
    if not data:
        raise ModelFileError("ONNX file is empty", where=where, hint="export the model again")
    kind = _not_onnx(data)
    if kind is not None:
        raise ModelFileError(f"this is {kind}", where=where, hint=EXPORT_HINT)
    from .normalize import normalize

    data = normalize(data, variables)  # the graph as ezkl reads it (recorded rewrites)
    try:
        proto = onnx.load_model_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as err:
        raise ModelFileError(
            f"not a valid ONNX model: {str(err).splitlines()[0][:300]}",
            where=where,
            hint="export the model again (zkml.export or torch.onnx.export) and check the file is complete",
        ) from err
    if not proto.graph.node:
        raise ModelFileError(
            "the ONNX graph has no nodes", where=where, hint="export a model with at least one operation"
        )
    _refuse_unprovable_patterns(proto, where)
    inits = {i.name for i in proto.graph.initializer}
    if _fix_unnamed_batch_dims(proto, inits, variables.get("batch_size", 1)):
        data = proto.SerializeToString()
    inputs = []
    for inp in proto.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            raise UnsupportedModelError(
                f"input '{inp.name}' is not a tensor",
                stage="load",
                where=where,
                hint="zkml proves models whose inputs are plain tensors",
            )
        dims = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif d.dim_param and d.dim_param in variables:
                dims.append(int(variables[d.dim_param]))
            else:
                name = d.dim_param
                raise DynamicShapeError(
                    f"input '{inp.name}' has a dynamic dimension {i}" + (f" ('{name}')" if name else ""),
                    where=f"{where} -> {inp.name}",
                    hint=f"export with static shapes, or pass variables={{'{name}': N}} to fix it"
                    if name
                    else "export with static shapes (only a leading batch dimension may be left open)",
                )
        if not tt.HasField("shape"):
            raise DynamicShapeError(
                f"input '{inp.name}' has no shape", where=f"{where} -> {inp.name}", hint="export with static shapes"
            )
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
        inputs.append(TensorSpec(inp.name, tuple(dims), dtype))
    if not inputs:
        raise ModelFileError(
            "the model has no inputs",
            where=where,
            hint="zkml proves a model on an input; export one that takes an input",
        )
    tmp = Model(data, tuple(inputs), (), variables=tuple(sorted(variables.items())))
    # output shapes: run once on zeros (ONNX output shapes are often symbolic)
    np = need("numpy")
    try:
        outs = _session(tmp).run(None, {t.name: np.zeros(t.shape, dtype=_np_dtype(t.dtype)) for t in inputs})
    except ModelFileError as err:
        raise ModelFileError(err.message, where=where, hint=err.hint) from err
    except Exception as err:
        raise ModelFileError(
            f"onnxruntime cannot run the model on zeros of the declared shapes: {err}",
            where=where,
            hint="check the input shapes; pass variables= for symbolic dimensions",
        ) from err
    outputs = tuple(
        TensorSpec(o.name, tuple(int(x) for x in np.shape(v)), str(np.asarray(v).dtype))
        for o, v in zip(proto.graph.output, outs)
    )
    return Model(data, tuple(inputs), outputs, variables=tuple(sorted(variables.items())))
