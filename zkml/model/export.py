"""``export()``: a torch module (or an ONNX file/bytes) becomes a parity-checked ``Model``."""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..errors import ModelError, ParityError, UnsupportedModelError
from ..support.deps import need
from .compare import compare
from .model import Model, load_model
from .torch_export import check_exporter, export_torch

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
    exporter: str = "auto",
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

    ``exporter`` (torch modules and estimators): ``"auto"`` tries TorchScript, then dynamo when TorchScript cannot
    export the module or its graph does not match; ``"torchscript"`` or ``"dynamo"`` uses that one only. The choice
    and its reason are ``model.parity["exporter"]`` and ``["exporter_note"]``. A Hugging Face model is proved on
    its first output field (``logits`` or ``last_hidden_state``) with ``use_cache=False``; integer token ids stay
    int64 inputs (see :mod:`zkml.model.torch_export`).
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
    check_exporter(exporter)
    if isinstance(obj, (str, os.PathLike, bytes, bytearray)):
        if exporter != "auto":
            raise ModelError(
                f"exporter={exporter!r} applies to torch modules and estimators; an ONNX file is not exported again",
                where="exporter",
                hint="leave exporter out for an ONNX file",
            )
        return load_model(obj)
    if _is_torch_module(obj):
        if sample_input is None:
            raise ModelError(
                "exporting a torch module needs sample_input",
                where="sample_input",
                hint="pass a tensor (or tuple of tensors) with the shape the model will be proved on",
            )
        return export_torch(obj, sample_input, opset, input_names, output_names, atol, rtol, exporter)
    if is_sklearn(obj):
        return _export_sklearn(
            obj, sample_input, opset, input_names, output_names, atol, rtol, sklearn_output, exporter
        )
    raise UnsupportedModelError(
        f"cannot export a {type(obj).__module__}.{type(obj).__qualname__}",
        stage="export",
        where="model",
        hint="pass a torch.nn.Module, an ONNX file path or ONNX bytes",
    )


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def _export_sklearn(est, sample, opset, input_names, output_names, atol, rtol, output, exporter) -> Model:
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
    model = export_torch(module, X[:1], opset, input_names, output_names or ["output"], atol, rtol, exporter)
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
            "exporter": model.parity["exporter"],
            "exporter_note": model.parity["exporter_note"],
        },
    )
