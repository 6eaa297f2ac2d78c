"""Load ``PYFILE:FACTORY`` for ``prove-model export``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelError


def load_factory(spec: str):
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ModelError(
            f"cannot read {spec!r}",
            where="PYFILE:FACTORY",
            hint="write it as model.py:build (a function that returns the model)",
        )
    p = Path(path)
    if not p.is_file():
        raise ModelError("Python file not found", where=p, hint="check the path before the ':'")
    mod_spec = importlib.util.spec_from_file_location(f"_zkml_user_{p.stem}", p)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as err:
        raise ModelError(
            f"running {p} failed: {type(err).__name__}: {err}", where=p, hint="fix the error in the file"
        ) from err
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ModelError(
            f"{p} has no function {name!r}", where=f"{p}:{name}", hint="name a function that returns the model"
        )
    try:
        return factory()
    except Exception as err:
        raise ModelError(
            f"{name}() failed: {type(err).__name__}: {err}", where=f"{p}:{name}", hint="fix the factory function"
        ) from err
