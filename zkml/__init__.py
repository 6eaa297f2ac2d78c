"""zkml: zero-knowledge proofs of machine-learning inference.

    model   = zkml.export(torch_module, sample_input)
    circuit = zkml.compile(model, calibration_data)
    keys    = circuit.setup()
    proof   = keys.prove(x)
    assert zkml.verify(proof, keys.vk)

Importing zkml imports neither torch nor ezkl; they load when a stage needs them.
"""

from __future__ import annotations

from . import errors
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
from .errors import ZKMLError
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
