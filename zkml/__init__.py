"""zkml: zero-knowledge proofs of machine-learning inference.

    model   = zkml.export(torch_module, sample_input)
    circuit = zkml.compile(model, calibration_data)
    keys    = circuit.setup()
    proof   = keys.prove(x)
    assert zkml.verify(proof, keys.vk)

Importing zkml imports neither torch nor ezkl; they load when a stage needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors
from .errors import ZKMLError

# the public names load on first use (PEP 562): a warm `prove-model run` or `import zkml` pays only for
# the stages it touches (multiprocessing, the EVM helpers and the bundle code stay unloaded otherwise)
_LAZY = {
    "BatchError": "._batch", "prove_many": "._batch",
    "Bundle": "._bundle", "bundle": "._bundle",
    "CalibrationReport": "._circuit", "Circuit": "._circuit", "Visibility": "._circuit", "compile": "._circuit",
    "export": "._export",
    "Keys": "._keys", "VerifyingKey": "._keys", "setup": "._keys",
    "Model": "._model", "TensorSpec": "._model", "load_model": "._model",
    "Proof": "._proof", "Verification": "._proof", "verify": "._proof",
    "SRSInfo": "._srs", "check_srs": "._srs",
    "Store": "._store", "zkml_home": "._store",
    "TuneResult": "._tune", "tune": "._tune",
    "VerifierContract": ".evm._contract", "verifier_contract": ".evm._contract",
}


def __getattr__(name: str):
    import importlib

    mod = _LAZY.get(name)
    if mod is None:  # a submodule not imported yet (zkml.cli, zkml._circuit, zkml.evm)
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":  # a dependency of the submodule is missing: say so
                raise
            raise AttributeError(f"module 'zkml' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from ._batch import BatchError, prove_many
    from ._bundle import Bundle, bundle
    from ._circuit import CalibrationReport, Circuit, Visibility, compile
    from ._export import export
    from ._keys import Keys, VerifyingKey, setup
    from ._model import Model, TensorSpec, load_model
    from ._proof import Proof, Verification, verify
    from ._srs import SRSInfo, check_srs
    from ._store import Store, zkml_home
    from ._tune import TuneResult, tune
    from .evm._contract import VerifierContract, verifier_contract

__version__ = "0.1.0"

__all__ = [
    "BatchError",
    "Bundle",
    "CalibrationReport",
    "Circuit",
    "Keys",
    "Model",
    "Proof",
    "SRSInfo",
    "Store",
    "TensorSpec",
    "TuneResult",
    "Verification",
    "VerifierContract",
    "VerifyingKey",
    "Visibility",
    "ZKMLError",
    "bundle",
    "check_srs",
    "compile",
    "errors",
    "export",
    "load_model",
    "prove_many",
    "setup",
    "tune",
    "verifier_contract",
    "verify",
    "zkml_home",
]
