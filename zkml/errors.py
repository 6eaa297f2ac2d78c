"""zkml's errors: one tree rooted at :class:`ZKMLError`.

Every error names the *stage* that failed (export, compile, setup, prove,
verify, deploy, ...), the file or field at fault (``where``) and a *hint* of
what to do. The cause from ezkl, onnx, onnxruntime or solc is always kept as
``__cause__`` (``raise ... from err``). Subclasses also inherit the matching
builtin, so ``except ValueError`` keeps working::

    ZKMLError
    ├── DependencyError (ImportError)        an optional package or tool is missing
    ├── StoreError (OSError)                 the cache/output directory cannot be written
    ├── ModelError                           export / load of a model
    │   ├── ModelFileError (ValueError)      missing, unreadable or corrupt ONNX file
    │   ├── DynamicShapeError (ValueError)   an input dimension is not fixed
    │   ├── UnsupportedModelError (ValueError)  an op or estimator zkml/ezkl cannot handle
    │   └── ParityError                      exported ONNX disagrees with the source model
    ├── InputError (ValueError)              data given to compile / prove
    │   ├── InputShapeError                  wrong shape or number of inputs
    │   ├── InputTypeError (TypeError)       not numeric / unsupported container
    │   ├── InputValueError                  NaN or infinity
    │   └── InputRangeError                  outside what the circuit can prove honestly
    ├── VisibilityError (ValueError)         an unknown visibility string
    ├── CompileError                         settings, calibration, circuit compilation
    ├── SRSError                             a missing, corrupt or too-small SRS
    ├── SetupError                           key generation
    ├── ArtifactError (ValueError)           a saved artifact that cannot be used
    │   └── VersionMismatchError             made by another ezkl / zkml format version
    ├── ProveError                           witness generation or proving
    ├── VerifyError                          a proof that cannot be checked at all
    │   └── InvalidProofError                raised by ``Verification.raise_for_invalid()``
    ├── ContractError                        verifier contract generation / compilation
    ├── ChainError                           deployment or calls on a chain
    ├── AuthError (PermissionError)          the proving service refused a missing or wrong token
    └── ServiceError                         the proving service is unreachable, busy or failed a job
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "AuthError",
    "ChainError",
    "CompileError",
    "ContractError",
    "DependencyError",
    "DynamicShapeError",
    "InputError",
    "InputRangeError",
    "InputShapeError",
    "InputTypeError",
    "InputValueError",
    "InvalidProofError",
    "ModelError",
    "ModelFileError",
    "ParityError",
    "ProveError",
    "SRSError",
    "ServiceError",
    "SetupError",
    "StoreError",
    "UnsupportedModelError",
    "VerifyError",
    "VersionMismatchError",
    "VisibilityError",
    "ZKMLError",
]


class ZKMLError(Exception):
    """Base of every zkml error: ``stage``, ``where`` (file or field) and ``hint``."""

    stage: str = "zkml"

    def __init__(self, message: str, *, stage: str | None = None, where: object = None, hint: str | None = None):
        self.message = message
        if stage is not None:
            self.stage = stage
        self.where = None if where is None else str(where)
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"[{self.stage}] {self.message}"
        if self.where:
            text += f" (at {self.where})"
        if self.hint:
            text += f". Hint: {self.hint}"
        return text

    def __reduce__(self):  # picklable across process pools
        return (_rebuild, (type(self), self.message, self.stage, self.where, self.hint))


def _rebuild(cls, message, stage, where, hint):
    return cls(message, stage=stage, where=where, hint=hint)


class DependencyError(ZKMLError, ImportError):
    stage = "setup-environment"


class StoreError(ZKMLError, OSError):
    stage = "store"


class ModelError(ZKMLError):
    stage = "export"


class ModelFileError(ModelError, ValueError):
    stage = "load"


class DynamicShapeError(ModelError, ValueError):
    stage = "load"


class UnsupportedModelError(ModelError, ValueError):
    stage = "compile"


class ParityError(ModelError):
    stage = "export"


class InputError(ZKMLError, ValueError):
    stage = "input"


class InputShapeError(InputError):
    pass


class InputTypeError(InputError, TypeError):
    pass


class InputValueError(InputError):
    pass


class InputRangeError(InputError):
    stage = "prove"


class VisibilityError(ZKMLError, ValueError):
    stage = "compile"


class CompileError(ZKMLError):
    stage = "compile"


class SRSError(ZKMLError):
    stage = "srs"


class SetupError(ZKMLError):
    stage = "setup"


class ArtifactError(ZKMLError, ValueError):
    stage = "load"


class VersionMismatchError(ArtifactError):
    pass


class ProveError(ZKMLError):
    stage = "prove"


class VerifyError(ZKMLError):
    stage = "verify"


class InvalidProofError(VerifyError):
    pass


class ContractError(ZKMLError):
    stage = "contract"


class ChainError(ZKMLError):
    stage = "deploy"


class AuthError(ZKMLError, PermissionError):
    stage = "serve"


class ServiceError(ZKMLError):
    """``status``: the HTTP status when the service answered; ``retry_after``: seconds to wait (429, 503)."""

    stage = "serve"
    status: int | None = None
    retry_after: float | None = None
