"""Optional heavy dependencies, imported when a stage needs them, with the install command when missing."""

from __future__ import annotations

import functools
import importlib
from typing import Any

from ..errors import DependencyError

_INSTALL_HINTS = {
    "torch": "pip install torch==2.13.0",
    "onnxruntime": "pip install onnxruntime",
    "onnx": "pip install onnx",
    "ezkl": "pip install ezkl==23.0.5",
    "py_ecc": "pip install py_ecc",
    "filelock": "pip install filelock",
    "skl2onnx": "pip install skl2onnx",
    "pyrevm": "pip install pyrevm",
    "web3": "pip install web3",
    "ray": "pip install 'ray[default]'",
}


def need(module: str) -> Any:
    """Import an optional heavy module, or raise a DependencyError naming the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        raise DependencyError(
            f"the Python package '{top}' is needed here but is not installed",
            hint=f"run: {_INSTALL_HINTS.get(top, 'pip install ' + top)}",
        ) from err


@functools.lru_cache(maxsize=1)  # the installed version does not change while a process runs
def ezkl_version() -> str:
    try:
        from importlib.metadata import version

        return version("ezkl")
    except Exception:  # ezkl missing: callers that need it will raise through need()
        return "unknown"
