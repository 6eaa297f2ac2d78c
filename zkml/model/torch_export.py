"""A torch module to a parity-checked ``Model``: the exporter chosen (TorchScript or dynamo), outputs made plain.

``exporter="auto"`` tries TorchScript first (the graphs zkml's rewrites and the corpus are tested on), then
dynamo (``torch.export`` + onnxscript) when TorchScript cannot export the module (``nn.RMSNorm``, grouped-query
``scaled_dot_product_attention``, ``take_along_dim``) or its graph does not match torch; what was chosen and
why is ``model.parity["exporter"]`` and ``["exporter_note"]``. A Hugging Face model (its ``forward`` returns a
``ModelOutput``) is proved on its first field, ``logits`` or ``last_hidden_state``, with ``use_cache=False``:
``model.parity["output_note"]`` says which.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import re
import warnings
from typing import Any, Mapping

from ..errors import InputShapeError, ModelError, ParityError, ZKMLError
from ..support.deps import need
from .compare import compare
from .model import Model, load_model

EXPORTERS = ("auto", "torchscript", "dynamo")


def export_torch(module, sample_input, opset, input_names, output_names, atol, rtol, exporter="auto") -> Model:
    torch = need("torch")
    np = need("numpy")
    check_exporter(exporter)
    args = sample_input if isinstance(sample_input, tuple) else (sample_input,)
    ids = _reads_token_ids(module)
    args = tuple(a if isinstance(a, torch.Tensor) else _tensor(torch, np, a, ids) for a in args)
    names = (
        list(input_names)
        if input_names
        else (["input"] if len(args) == 1 else [f"input_{i}" for i in range(len(args))])
    )
    module, output_note, out = _plain(module.eval(), args)
    refs = [r.detach().numpy() for r in _flat(out)]
    out_names = list(output_names) if output_names else (["output"] if len(refs) == 1 else None)
    out_names = out_names or [f"output_{i}" for i in range(len(refs))]
    tried: list[tuple[str, ZKMLError]] = []
    for name in ("torchscript", "dynamo") if exporter == "auto" else (exporter,):
        try:
            model, worst, written = _export_one(name, module, args, refs, opset, names, out_names, atol, rtol)
        except ZKMLError as err:
            if exporter != "auto":
                raise
            tried.append((name, err))
            continue
        parity = {"max_abs_error": worst, "atol": atol, "rtol": rtol, "opset": written, "exporter": name}
        parity["exporter_note"] = _note(exporter, name, tried)
        if output_note:
            parity["output_note"] = output_note
        return Model(
            model.onnx_bytes, model.inputs, model.outputs, source="torch", variables=model.variables, parity=parity
        )
    first = tried[0][1]
    others = "; ".join(f"{n}: {e.message}" for n, e in tried[1:])
    raise type(first)(
        f"{first.message} (TorchScript); {others}" if others else first.message,
        stage=first.stage,
        where=first.where,
        hint=first.hint,
    ) from first


def _tensor(torch, np, a, ids: bool):
    """An array as a tensor: integers as int64 for a model whose first layer is an embedding (token ids), anything
    else as float32."""
    arr = np.asarray(a)
    return torch.as_tensor(arr.astype(np.int64 if ids and arr.dtype.kind in "iu" else np.float32))


def _reads_token_ids(module) -> bool:
    for m in module.modules():
        name = type(m).__name__
        if name == "Embedding" or name in ("Linear", "Conv1d", "Conv2d", "Conv3d"):
            return name == "Embedding"
    return False


def check_exporter(exporter: Any) -> None:
    if exporter not in EXPORTERS:
        raise ModelError(
            f"unknown exporter {exporter!r}",
            where="exporter",
            hint="pass exporter='auto' (the default), 'torchscript' or 'dynamo'",
        )


def _note(asked: str, chosen: str, tried: list[tuple[str, ZKMLError]]) -> str:
    if asked != "auto":
        return f"exporter={asked!r} was asked for"
    if not tried:
        return "auto: TorchScript, tried first (the graphs zkml's rewrites are tested on), exported and matched torch"
    return f"auto: dynamo, because TorchScript did not: {tried[0][1].message[:300]}"


def _export_one(name, module, args, refs, opset, names, out_names, atol, rtol) -> tuple[Model, float, int]:
    """One exporter's graph, loaded and checked against torch: on the sample (``refs``) and on other inputs made
    from it (:func:`_probes`), so a trace that baked in the sample's values is refused. Returns the model, its
    largest error on the sample and the opset it was written at."""
    onnx = need("onnx")
    data = (
        _dynamo(module, args, opset, names, out_names)
        if name == "dynamo"
        else _torchscript(module, args, opset, names, out_names)
    )
    try:
        model = load_model(data)
    except ZKMLError:
        raise
    except Exception as err:  # the exporter wrote something the loader chokes on: this exporter's failure
        raise ModelError(
            f"the {name} graph does not load: {_first_line(err)}", where="exporter", hint="try the other exporter"
        ) from err
    worst = _check(name, model, args, refs, atol, rtol, "the sample")
    torch, np = need("torch"), need("numpy")
    for what, probe in _probes(args):
        try:
            with torch.no_grad():
                want = [r.detach().numpy() for r in _flat(module(*probe))]
        except Exception:  # torch itself refuses this input (an index out of range, say): no evidence either way
            continue
        if not all(np.isfinite(w).all() for w in want):
            continue
        _check(name, model, probe, want, atol, rtol, what)
    written = next(
        (o.version for o in onnx.load_model_from_string(model.onnx_bytes).opset_import if o.domain in ("", "ai.onnx")),
        opset,
    )
    return model, worst, written


def _check(name, model, args, refs, atol, rtol, what: str) -> float:
    np = need("numpy")
    try:
        got = model.run({t.name: a.numpy() for t, a in zip(model.inputs, args)})
    except ZKMLError:
        raise
    except Exception as err:  # onnxruntime fails on the graph
        raise ParityError(
            f"onnxruntime cannot run the {name} graph on {what}: {_first_line(err)}",
            where="outputs",
            hint="try the other exporter",
        ) from err
    if len(got) != len(refs):
        raise ParityError(
            f"the {name} graph has {len(got)} outputs, torch's module {len(refs)}",
            where="outputs",
            hint="return tensors (or a tuple of tensors) from forward()",
        )
    for r, g in zip(refs, got):
        if tuple(r.shape) != tuple(np.shape(g)):
            raise ParityError(
                f"ONNX output shape {list(np.shape(g))} differs from torch's {list(r.shape)} on {what}",
                where="outputs",
                hint="check the model's forward() for shape-dependent logic",
            )
    cmp = compare(refs, got, atol=atol, rtol=rtol)
    if not cmp:
        if what != "the sample":
            raise ParityError(
                f"the {name} graph matches torch on the sample but differs by {cmp.max_abs_error:.3g} on {what}: "
                "it holds the sample's values, not the model's function (control flow on values, or a value read "
                "as a Python number)",
                where="outputs",
                hint="make forward() independent of the input's values (torch.where instead of if), or "
                "exporter='dynamo', which refuses such code",
            )
        raise ParityError(
            f"ONNX output differs from torch by {cmp.max_abs_error:.3g} (atol {atol}, rtol {rtol})",
            where="outputs",
            hint="check for ops that export differently (e.g. training-mode layers); call model.eval()",
        )
    return cmp.max_abs_error


def _probes(args) -> list:
    """Inputs besides the sample, of its shapes and dtypes: its values permuted (token ids stay valid ids) and,
    for floats, negated. Seeded: the same probes on every export."""
    torch = need("torch")
    g = torch.Generator().manual_seed(0)
    shuffled = tuple(a.reshape(-1)[torch.randperm(a.numel(), generator=g)].reshape(a.shape) for a in args)
    out = [("the sample's values permuted", shuffled)]
    if all(a.is_floating_point() for a in args):
        out.append(("the sample negated", tuple(-a for a in args)))
    return out


def _torchscript(module, args, opset, names, out_names) -> bytes:
    torch = need("torch")
    buf = io.BytesIO()
    # torch 2.13's TorchScript exporter always turns its C++ log on (setup_onnx_logging tests the function, not its
    # result) and writes the whole graph there when an op has no symbolic: to stderr, so stdout (--json) stays clean
    torch._C._jit_set_onnx_log_output_stream("stderr")
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
                output_names=out_names,
                do_constant_folding=True,
            )
    except Exception as err:
        raise ModelError(
            f"torch.onnx.export failed: {_first_line(err)}",
            where=type(module).__name__,
            hint="make the model exportable (static control flow, standard layers), or pass exporter='dynamo'",
        ) from err
    return buf.getvalue()


def _dynamo(module, args, opset, names, out_names) -> bytes:
    torch = need("torch")
    if importlib.util.find_spec("onnxscript") is None:
        raise ModelError(
            "the dynamo exporter needs the Python package 'onnxscript', which is not installed",
            where="exporter",
            hint="pip install 'zkml[architectures]' (or pip install onnxscript)",
        )
    try:
        with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, args, dynamo=True, opset_version=opset, input_names=names, output_names=out_names, verbose=False
            )
        return program.model_proto.SerializeToString()
    except Exception as err:
        raise ModelError(
            f"torch.onnx.export(dynamo=True) failed: {_first_line(err.__cause__ or err)}",  # the cause, not the steps
            where=type(module).__name__,
            hint="make the model exportable with torch.export (no data-dependent control flow), or pass "
            "exporter='torchscript'",
        ) from err


def _first_line(err: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # dynamo's messages carry terminal colours
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


def _flat(out) -> list:
    """A forward()'s tensors in the order the exporters flatten them (tuples, lists, dict values)."""
    torch = need("torch")
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    raise ModelError(
        f"forward() returns a {type(out).__name__}, not tensors",
        where="outputs",
        hint="return a tensor or a tuple of tensors from forward()",
    )


def _plain(module, args):
    """``module`` as it is, or, for a Hugging Face model (a ``ModelOutput``), a wrapper returning its first
    field with ``use_cache=False``; a note saying so (None when nothing changed); and what it returns on ``args``
    (the reference the exported graph is checked against: the forward runs once for both)."""
    torch = need("torch")
    out = _try_forward(module, args, {})
    if not hasattr(out, "to_tuple"):  # transformers' ModelOutput: a dict of named fields
        return module, None, out
    kw = {"use_cache": False} if "use_cache" in inspect.signature(module.forward).parameters else {}
    out = _try_forward(module, args, kw) if kw else out
    field = next((k for k, v in out.items() if isinstance(v, torch.Tensor)), None)
    if field is None:
        raise ModelError(
            f"{type(module).__name__}'s output ({type(out).__name__}) holds no tensor",
            where="outputs",
            hint="wrap the model in a module whose forward() returns the tensor to prove",
        )

    class First(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = module

        def forward(self, *xs):
            return self.model(*xs, **kw)[field]

    First.__name__ = First.__qualname__ = type(module).__name__  # errors name the user's model, not the wrapper

    extra = " with use_cache=False (no past_key_values in the graph)" if kw else ""
    note = (
        f"{type(module).__name__} returns a {type(out).__name__}: its first field, '{field}', is proved{extra}; "
        "wrap the model in a module returning other fields to prove those"
    )
    return First().eval(), note, out[field]


def _try_forward(module, args, kw: dict):
    """Run the module once on the sample: a sample of the wrong shape is an InputShapeError naming the shape the
    model's first layer takes, not torch's text from inside the exporter."""
    torch = need("torch")
    try:
        with torch.no_grad():
            return module(*args, **kw)
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
