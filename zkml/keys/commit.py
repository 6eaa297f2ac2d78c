"""Committed weights: one key per architecture, a public fingerprint per set of weights.

With ``params="committed"`` the weights are private witness values, bound by a KZG commitment that every
proof carries in its first bytes. The key does not depend on the weights, so one setup serves every set
of weights of the same graph: :func:`with_weights` gives Keys that prove with another model's weights
under the same key, and :func:`commit` computes a model's fingerprint without proving, so an owner can
publish it before any proof exists. The fingerprint depends on the weights, the circuit's settings and
the SRS; it is deterministic: identical weights give identical fingerprints.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import engine
from ..circuit.build import Circuit, load_circuit, witness_outputs
from ..errors import CompileError, SetupError
from ..model.model import Model, load_model
from ..proof.proof import key_visibility, witness_commitments
from ..support.deps import ezkl_version, need
from ..support.files import ZKML_FORMAT, private_tempdir
from ..support.hashing import canonical_json, sha256_bytes, sha256_file
from ..support.store import Store

# Keys (keys.py) imports this module for Keys.with_weights, so Keys are taken here by duck type (typed Any)


def _structure(model: Model) -> str:
    """The graph without its weight values: ops, attributes, wiring, tensor names, dtypes and shapes."""
    onnx = need("onnx")
    proto = onnx.load_model_from_string(model.onnx_bytes)
    for init in proto.graph.initializer:
        dims, dtype, name = list(init.dims), init.data_type, init.name
        init.Clear()
        init.dims.extend(dims)
        init.data_type, init.name = dtype, name
    for node in proto.graph.node:  # Constant nodes carry values too
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.HasField("t"):
                    dims, dtype = list(a.t.dims), a.t.data_type
                    a.t.Clear()
                    a.t.dims.extend(dims)
                    a.t.data_type = dtype
    proto.ClearField("producer_name")
    proto.ClearField("producer_version")
    return sha256_bytes(proto.SerializeToString(deterministic=True))


def with_weights(keys: Any, model: Model | str | os.PathLike, *, store: Store | None = None) -> Any:
    """``keys`` proving with ``model``'s weights: the same proving and verifying key, another compiled circuit.

    ``model`` must be the same graph as the keys' model with other weight values. Its circuit is compiled
    with the keys' own settings (scales, ranges, logrows), which is what makes the key the same.
    """
    if key_visibility(keys.circuit.settings)["params"] != "committed":
        raise CompileError(
            "only keys with committed weights serve other weights: fixed weights are part of the key",
            where="visibility -> params",
            hint="compile with visibility params=committed and run setup once",
        )
    if not isinstance(model, Model):
        model = load_model(model)
    if model.hash == keys.circuit.model.hash:
        return keys
    if _structure(model) != _structure(keys.circuit.model):
        raise CompileError(
            "this model is not the same graph as the keys' model (other ops, shapes or names)",
            where="model",
            hint="committed keys serve models of one architecture: retrain the same graph, "
            "or compile and set up this one",
        )
    store = store or Store()
    key = sha256_bytes(
        canonical_json(
            {"format": ZKML_FORMAT, "ezkl": ezkl_version(), "keys": keys.meta["key"], "onnx": model.hash}
        ).encode()
    )[:40]
    base = keys.circuit

    def build(d: Path) -> None:
        (d / "network.onnx").write_bytes(model.onnx_bytes)
        (d / "settings.json").write_bytes(base.settings_path.read_bytes())
        engine.call(
            CompileError,
            "compile",
            "compile_circuit",
            str(d / "network.onnx"),
            str(d / "network.compiled"),
            str(d / "settings.json"),
        )
        meta = json.loads((base.path / "circuit.json").read_text())
        meta.update(
            key=key,
            model=model.meta(),
            settings_sha256=sha256_file(d / "settings.json"),
            weights_of=base.key,
            compiled_sha256=sha256_file(d / "network.compiled"),
            onnx_sha256=sha256_file(d / "network.onnx"),
        )
        (d / "circuit.json").write_text(json.dumps(meta, indent=2))

    entry, _ = store.get_or_build("circuits", key, build)
    circuit = load_circuit(entry)
    # the same settings file, so the same verifying key; proofs decode with keys.vk as before
    return replace(keys, circuit=replace(circuit, report=base.report))


def commit(
    model: Model | str | os.PathLike,
    circuit_or_keys: Any,
    *,
    srs: str | os.PathLike | None = None,
    store: Store | None = None,
) -> str:
    """The public fingerprint of ``model``'s weights under ``circuit_or_keys`` (committed weights), without proving.

    It equals the ``weights_commitment`` every proof with these weights exposes. A Circuit is set up first
    (cached; ``srs`` as for setup): the commitment depends on the SRS.
    """
    keys = circuit_or_keys.setup(srs=srs, store=store) if isinstance(circuit_or_keys, Circuit) else circuit_or_keys
    keys = with_weights(keys, keys.circuit.model if model is None else model, store=store)
    import numpy as np

    zeros = {t.name: np.zeros(t.shape) for t in keys.circuit.model.inputs}  # the weights' commitment: any input will do
    with private_tempdir() as tmp:
        _, w = witness_outputs(
            keys.circuit, zeros, tmp / "w", SetupError, vk=keys.vk.path / "vk.key", srs=keys.srs.path
        )
    points = witness_commitments(w).get("params")
    if not points:
        raise SetupError("ezkl computed no weights commitment", where=keys.path, hint="report this model")
    return "0x" + b"".join(points).hex()


__all__ = ["commit", "with_weights"]
