"""Turning what a user hands us (arrays, lists, tensors, dicts, files) into per-input arrays."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError, InputShapeError, InputTypeError, InputValueError
from ..support.deps import need
from ..support.scrub import scrub
from .model import Model, TensorSpec

MAX_INPUT_FILE_BYTES = 256 << 20


def _as_float_array(x: Any, where: str, stage: str):
    np = need("numpy")
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        # not chained, and numpy's text left out: it quotes the offending (private) value
        raise InputTypeError(
            f"input is not numeric ({type(x).__name__}; {type(err).__name__})",
            stage=stage,
            where=where,
            hint="pass a numpy array, a nested list of numbers or a torch tensor",
        ) from None
    bad = ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if np.isnan(arr).any() else "infinity"
        raise InputValueError(
            f"input contains {int(bad.sum())} non-finite value(s) ({kind})",
            stage=stage,
            where=where,
            hint="replace NaN/inf values before proving: a circuit works on finite fixed-point numbers",
        )
    return arr


def _split_named(model: Model, x: Any, stage: str) -> list[tuple[TensorSpec, Any]]:
    if isinstance(x, Mapping):
        names = [t.name for t in model.inputs]
        unknown = sorted(set(x) - set(names))
        missing = [n for n in names if n not in x]
        if unknown or missing:
            raise InputShapeError(
                f"input names do not match the model: missing {missing}, unknown {unknown}",
                stage=stage,
                where="inputs",
                hint=f"pass a dict with exactly these keys: {names}",
            )
        return [(t, x[t.name]) for t in model.inputs]
    if len(model.inputs) == 1:
        return [(model.inputs[0], x)]
    if isinstance(x, (list, tuple)) and len(x) == len(model.inputs) and not _is_number_list(x):
        return list(zip(model.inputs, x))
    raise InputShapeError(
        f"the model has {len(model.inputs)} inputs",
        stage=stage,
        where="inputs",
        hint=f"pass {{name: array}} for {[t.name for t in model.inputs]} or a list of that many arrays",
    )


def _is_number_list(x) -> bool:
    return bool(x) and all(isinstance(v, (int, float)) for v in x)


def to_feeds(model: Model, x: Any, *, stage: str = "prove") -> dict:
    """One sample: ``{input_name: float64 array of exactly the model's input shape}``."""
    feeds = {}
    for spec, value in _split_named(model, x, stage):
        arr = _as_float_array(value, f"input '{spec.name}'", stage)
        ok = (
            arr.shape == spec.shape
            or arr.size == spec.size
            and (arr.ndim == 1 or (spec.shape[:1] == (1,) and arr.shape == spec.shape[1:]))
        )
        if not ok:
            raise InputShapeError(
                f"input '{spec.name}' has shape {list(arr.shape)}, the model expects {list(spec.shape)}",
                stage=stage,
                where=f"input '{spec.name}'",
                hint=f"reshape it to {list(spec.shape)} (a flat list of {spec.size} values also works)",
            )
        feeds[spec.name] = arr.reshape(spec.shape)
    return feeds


def to_batch(model: Model, data: Any, *, stage: str = "compile") -> dict:
    """Many samples (calibration data): ``{input_name: array of shape (N, *input_shape)}``."""
    np = need("numpy")
    batch, n_seen = {}, None
    for spec, value in _split_named(model, data, stage):
        arr = _as_float_array(value, f"calibration data '{spec.name}'", stage)
        if arr.shape == spec.shape:
            arr = arr[None]
        elif spec.shape[:1] == (1,) and arr.shape[1:] == spec.shape[1:] and arr.ndim == len(spec.shape):
            arr = arr[:, None]  # (N, *shape[1:]): one sample per row
        elif arr.shape[1:] == spec.shape:
            pass
        elif arr.ndim == 1 and arr.size and arr.size % spec.size == 0:
            arr = arr.reshape((-1, *spec.shape))
        else:
            raise InputShapeError(
                f"calibration data for '{spec.name}' has shape {list(arr.shape)}; expected (N, {', '.join(map(str, spec.shape))})",
                stage=stage,
                where=f"calibration data '{spec.name}'",
                hint="stack samples along a new first axis",
            )
        if arr.shape[0] == 0:
            raise InputShapeError(
                "calibration data is empty",
                stage=stage,
                where=f"calibration data '{spec.name}'",
                hint="pass at least one sample",
            )
        if n_seen is not None and arr.shape[0] != n_seen:
            raise InputShapeError(
                "calibration inputs have different numbers of samples",
                stage=stage,
                where=f"calibration data '{spec.name}'",
                hint="give every input the same number of samples",
            )
        n_seen = arr.shape[0]
        batch[spec.name] = np.ascontiguousarray(arr)
    return batch


def ezkl_input_json(model: Model, feeds: Mapping[str, Any]) -> dict:
    """ezkl's input format: one flat list per input, in the model's input order."""
    return {"input_data": [[float(v) for v in feeds[t.name].reshape(-1)] for t in model.inputs]}


def load_input_file(path: str | os.PathLike) -> Any:
    """Read ezkl ``{"input_data": [...]}`` JSON, a plain JSON array or object, ``.npy`` or ``.npz``."""
    np = need("numpy")
    p = Path(path)
    where = str(p)
    try:
        size = p.stat().st_size
    except FileNotFoundError as err:
        raise InputError("input file not found", stage="input", where=where, hint="check the path") from err
    except OSError as err:
        raise InputError(
            f"cannot read the input file: {err}", stage="input", where=where, hint="check permissions"
        ) from err
    if size > MAX_INPUT_FILE_BYTES:
        raise InputError(
            f"input file is {size} bytes, over the {MAX_INPUT_FILE_BYTES >> 20} MiB limit",
            stage="input",
            where=where,
            hint="pass a smaller input; a model input is rarely that large",
        )
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        obj = json.loads(p.read_bytes())
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # a .npy/.npz starting 'PK' is read as a zip
        raise InputError(
            f"cannot parse the input file: {scrub(str(err), 200)}",
            stage="input",
            where=where,
            hint='use ezkl JSON {"input_data": [[...]]}, a JSON array, .npy or .npz',
        ) from err
    return unwrap_input_data(obj, where)


def unwrap_input_data(obj: Any, where: str) -> Any:
    """ezkl's ``{"input_data": [[...], ...]}``: one flat list per input (a single input unwrapped); anything else as is."""
    if isinstance(obj, dict) and "input_data" in obj:
        data = obj["input_data"]
        if not isinstance(data, list) or not data:
            raise InputError(
                "'input_data' must be a non-empty list (one flat list per input)",
                stage="input",
                where=f"{where} -> input_data",
                hint='write {"input_data": [[x0, x1, ...]]}',
            )
        return data[0] if len(data) == 1 else list(data)
    return obj
