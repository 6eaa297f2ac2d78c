"""``export()``: a torch module (or an ONNX file/bytes) becomes a parity-checked ``Model``."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any, Sequence

from ..errors import InputShapeError, ModelError, ParityError, UnsupportedModelError
from ..support.deps import need
from .compare import compare
from .model import Model, load_model

MAX_OPSET = 18  # the newest opset ezkl's ONNX reader (tract) is tested with
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


def export(
    obj: Any,
    sample_input: Any = None,
    *,
    opset: int = MAX_OPSET,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    sklearn_output: str | None = None,
) -> Model:
    """Export ``obj`` to ONNX with static shapes and check it against onnxruntime.

    ``obj`` is a ``torch.nn.Module`` (with ``sample_input``: a tensor/array or a tuple of them), a fitted
    scikit-learn estimator (``sample_input``: one row or a few rows of X), or a path to / bytes of an ONNX file.
    Parity: every output within ``atol + rtol*|y|`` of the source model.

    ``sklearn_output`` picks what an estimator's model outputs: ``"decision"`` (a classifier's scores:
    decision_function, a booster's raw margin, an MLP's logits), ``"predict"`` (a classifier's predicted class as
    an index into ``classes_``; a regressor's prediction) or ``"proba"`` (predict_proba). The default is the
    cheapest to prove: ``"decision"`` for a classifier with scores (probabilities add a softmax whose lookup
    table can make the circuit 64x larger), ``"proba"`` for tree classifiers (no softmax), ``"predict"`` for a
    regressor. A value the estimator has no conversion for is an :class:`UnsupportedModelError`. What was chosen,
    and why, is in ``model.parity["output"]`` and ``model.parity["output_note"]``.
    """
    if not 7 <= opset <= MAX_OPSET:
        raise ModelError(
            f"opset {opset} is not supported",
            where="opset",
            hint=f"use an opset between 7 and {MAX_OPSET} (ezkl reads up to {MAX_OPSET})",
        )
    from .sklearn import is_sklearn

    if sklearn_output is not None and not is_sklearn(obj):
        raise ModelError(
            f"sklearn_output={sklearn_output!r} applies to scikit-learn estimators, not to a {type(obj).__name__}",
            where="sklearn_output",
            hint="leave sklearn_output out for this model",
        )
    if isinstance(obj, (str, os.PathLike, bytes, bytearray)):
        return load_model(obj)
    if _is_torch_module(obj):
        if sample_input is None:
            raise ModelError(
                "exporting a torch module needs sample_input",
                where="sample_input",
                hint="pass a tensor (or tuple of tensors) with the shape the model will be proved on",
            )
        return _export_torch(obj, sample_input, opset, input_names, output_names, atol, rtol)
    if is_sklearn(obj):
        return _export_sklearn(obj, sample_input, opset, input_names, output_names, atol, rtol, sklearn_output)
    raise UnsupportedModelError(
        f"cannot export a {type(obj).__module__}.{type(obj).__qualname__}",
        stage="export",
        where="model",
        hint="pass a torch.nn.Module, an ONNX file path or ONNX bytes",
    )


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def _export_sklearn(est, sample, opset, input_names, output_names, atol, rtol, output) -> Model:
    from .sklearn import check_estimator, check_output, default_output, output_note, sklearn_reference, to_torch

    check_estimator(est)
    chosen = output is None
    output = default_output(est) if chosen else output
    check_output(est, output)
    np = need("numpy")
    if sample is None:
        raise ModelError(
            "exporting a scikit-learn estimator needs sample_input",
            where="sample_input",
            hint="pass some rows of the training data X (the first row fixes the input shape)",
        )
    X = np.atleast_2d(np.asarray(sample, dtype=np.float32))
    if X.shape[1] != est.n_features_in_:
        raise ModelError(
            f"sample_input has {X.shape[1]} features, the estimator expects {est.n_features_in_}",
            where="sample_input",
            hint=f"pass rows of shape [N, {est.n_features_in_}] from the data the estimator was fitted on",
        )
    module = to_torch(est, output)
    model = _export_torch(module, X[:1], opset, input_names, output_names or ["output"], atol, rtol)
    # parity with scikit-learn itself on every sample row, through onnxruntime
    worst = 0.0
    for row in X:
        ref = sklearn_reference(est, row[None].astype(np.float64), output)
        (got,) = model.run({model.inputs[0].name: row[None]})
        cmp = compare([ref], [np.asarray(got).reshape(ref.shape)], atol=atol, rtol=rtol)
        worst = max(worst, cmp.max_abs_error)
        if not cmp:
            raise ParityError(
                f"ONNX output differs from scikit-learn's {output} by {cmp.max_abs_error:.3g}",
                where="outputs",
                hint="report this estimator and its parameters: the converter disagrees with scikit-learn",
            )
    return Model(
        model.onnx_bytes,
        model.inputs,
        model.outputs,
        source=f"sklearn:{type(est).__name__}",
        variables=model.variables,
        parity={
            "max_abs_error": worst,
            "atol": atol,
            "rtol": rtol,
            "opset": opset,
            "rows": len(X),
            "output": output,
            "output_note": output_note(est, output, chosen),
        },
    )


def _default_outputs(module, args) -> list[str]:
    torch = need("torch")
    with torch.no_grad():
        out = module(*args)
    n = 1 if isinstance(out, torch.Tensor) else len(out)
    return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]


def _try_forward(module, args) -> None:
    """Run the module once on the sample: a sample of the wrong shape is an InputShapeError naming the shape the
    model's first layer takes, not torch's text from inside the exporter."""
    torch = need("torch")
    try:
        with torch.no_grad():
            module(*args)
    except Exception as err:  # whatever the user's forward() raises, named with the stage and the sample
        text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        shapes = ", ".join(str(list(a.shape)) for a in args)
        expected = _expected_input(module)
        shape_error = isinstance(err, (RuntimeError, ValueError, IndexError)) and any(
            w in text for w in ("shape", "size", "dimension", "channels", "mat1", "expected input")
        )
        if not shape_error:
            raise ModelError(
                f"the model's forward() fails on the sample input: {text}",
                where=type(module).__name__,
                hint="fix the model, or pass a sample it accepts",
            ) from err
        raise InputShapeError(
            f"the model's forward() fails on a sample input of shape {shapes}: {text}",
            stage="export",
            where="sample_input",
            hint=f"pass a sample of shape {expected}"
            if expected
            else "pass a sample with the shape the model's forward() takes (batch dimension first)",
        ) from err


def _expected_input(module) -> str | None:
    """The input shape a module's first layer takes, in words (None when its first layer does not say)."""
    for m in module.modules():
        name = type(m).__name__
        if name == "Linear":
            return f"[1, {m.in_features}] (its first layer, Linear, takes {m.in_features} features)"
        if name in ("Conv1d", "Conv2d", "Conv3d"):
            dims = ", ".join(["L"] if name == "Conv1d" else ["H", "W"] if name == "Conv2d" else ["D", "H", "W"])
            return f"[1, {m.in_channels}, {dims}] (its first layer, {name}, takes {m.in_channels} channels)"
        if name == "Embedding":
            return f"[1, T] of token ids below {m.num_embeddings} (its first layer is an Embedding)"
    return None


def _export_torch(module, sample_input, opset, input_names, output_names, atol, rtol) -> Model:
    torch = need("torch")
    np = need("numpy")
    args = sample_input if isinstance(sample_input, tuple) else (sample_input,)
    args = tuple(a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in args)
    names = (
        list(input_names)
        if input_names
        else (["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))])
    )
    module = module.eval()
    _try_forward(module, args)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                args,
                buf,
                opset_version=opset,
                dynamo=False,
                input_names=names,
                output_names=list(output_names) if output_names else _default_outputs(module, args),
                do_constant_folding=True,
            )
    except Exception as err:
        raise ModelError(
            f"torch.onnx.export failed: {str(err).splitlines()[0][:300]}",
            where=type(module).__name__,
            hint="make the model exportable (static control flow, standard layers)",
        ) from err
    model = load_model(buf.getvalue())
    # parity: the ONNX graph must compute what the torch module computes
    with torch.no_grad():
        ref = module(*args)
    refs = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    got = model.run({t.name: a.numpy() for t, a in zip(model.inputs, args)})
    refs = [r.detach().numpy() for r in refs]
    for r, g in zip(refs, got):
        if tuple(r.shape) != tuple(np.shape(g)):
            raise ParityError(
                f"ONNX output shape {list(np.shape(g))} differs from torch's {list(r.shape)}",
                where="outputs",
                hint="check the model's forward() for shape-dependent logic",
            )
    cmp = compare(refs, got, atol=atol, rtol=rtol)
    if not cmp:
        raise ParityError(
            f"ONNX output differs from torch by {cmp.max_abs_error:.3g} (atol {atol}, rtol {rtol})",
            where="outputs",
            hint="check for ops that export differently (e.g. training-mode layers); call model.eval()",
        )
    worst = cmp.max_abs_error
    return Model(
        model.onnx_bytes,
        model.inputs,
        model.outputs,
        source="torch",
        variables=model.variables,
        parity={"max_abs_error": worst, "atol": atol, "rtol": rtol, "opset": opset},
    )
