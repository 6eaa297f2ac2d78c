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
    "BatchError": ".batch.common",
    "prove_many": ".batch.many",
    "Bundle": ".verifier.bundles",
    "bundle": ".verifier.bundles",
    "Client": ".client",
    "CalibrationReport": ".circuit.report",
    "Circuit": ".circuit.build",
    "CircuitSpec": ".circuit.spec",
    "Visibility": ".circuit.visibility",
    "compile": ".circuit.compiler",
    "estimate": ".circuit.compiler",
    "Plan": ".circuit.plan",
    "plan": ".circuit.plan",
    "TuneResult": ".circuit.tuner",
    "tune": ".circuit.tuner",
    "export": ".model.export",
    "Model": ".model.model",
    "TensorSpec": ".model.model",
    "load_model": ".model.model",
    "Keys": ".keys.keys",
    "VerifyingKey": ".keys.keys",
    "setup": ".keys.split",
    "commit": ".keys.split",
    "SplitCircuit": ".circuit.split",
    "SplitKeys": ".keys.split",
    "SplitVerifyingKey": ".keys.split",
    "Proof": ".proof.proof",
    "Verification": ".verifier.verification",
    "verify": ".verifier.verification",
    "load": ".verifier.loader",
    "SRSInfo": ".srs",
    "check_srs": ".srs",
    "Store": ".support.store",
    "zkml_home": ".support.store",
    "VerifierContract": ".evm._contract",
    "verifier_contract": ".evm._contract",
}


def __getattr__(name: str):
    import importlib

    mod = _LAZY.get(name)
    if mod is None:  # a submodule not imported yet (zkml.cli, zkml.evm, zkml.circuit)
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":  # a dependency of the submodule is missing: say so
                raise
            raise AttributeError(f"module 'zkml' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(mod, __name__), name)
    if mod.startswith(".circuit"):  # a circuit's setup() is the keys stage's: load it, it registers itself there
        importlib.import_module(".keys.split", __name__)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .batch.common import BatchError
    from .batch.many import prove_many
    from .circuit.build import Circuit
    from .circuit.compiler import compile, estimate
    from .circuit.plan import Plan, plan
    from .circuit.report import CalibrationReport
    from .circuit.spec import CircuitSpec
    from .circuit.split import SplitCircuit
    from .circuit.tuner import TuneResult, tune
    from .circuit.visibility import Visibility
    from .client import Client
    from .evm._contract import VerifierContract, verifier_contract
    from .keys.keys import Keys, VerifyingKey
    from .keys.split import SplitKeys, SplitVerifyingKey, commit, setup
    from .model.export import export
    from .model.model import Model, TensorSpec, load_model
    from .proof.proof import Proof
    from .srs import SRSInfo, check_srs
    from .support.store import Store, zkml_home
    from .verifier.bundles import Bundle, bundle
    from .verifier.loader import load
    from .verifier.verification import Verification, verify

__version__ = "0.1.0"

__all__ = [
    "BatchError",
    "Bundle",
    "CalibrationReport",
    "Circuit",
    "CircuitSpec",
    "Client",
    "Keys",
    "Model",
    "Plan",
    "Proof",
    "SRSInfo",
    "SplitCircuit",
    "SplitKeys",
    "SplitVerifyingKey",
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
    "commit",
    "compile",
    "errors",
    "estimate",
    "export",
    "load",
    "load_model",
    "plan",
    "prove_many",
    "setup",
    "tune",
    "verifier_contract",
    "verify",
    "zkml_home",
]
