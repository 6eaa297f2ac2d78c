"""``CalibrationReport``: how far the circuit's outputs are from onnxruntime's on the calibration data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class CalibrationReport:
    """Circuit outputs vs onnxruntime over calibration samples.

    ``private=True``: the circuit was calibrated on a private input (``prove-model run`` without
    ``--calibration``). Then nothing measured on it is kept: the error fields are None. The settings
    themselves (scales, logrows) are public and were chosen for that input, so they say something about
    its scale; calibrate on separate data to avoid that.
    """

    samples: int
    max_abs_error: float | None
    max_rel_error: float | None
    mean_abs_error: float | None
    top1_agreement: float | None
    private: bool = False

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: Mapping) -> "CalibrationReport":
        known = {
            k: d[k] for k in ("samples", "max_abs_error", "max_rel_error", "mean_abs_error", "top1_agreement") if k in d
        }
        return cls(**known, private=bool(d.get("private", False)))

    @classmethod
    def of_private_input(cls) -> "CalibrationReport":
        return cls(1, None, None, None, None, private=True)

    def __str__(self) -> str:
        if self.private:
            return "calibrated on the private input: no accuracy kept (pass calibration data to measure it)"
        top1 = "n/a" if self.top1_agreement is None else f"{self.top1_agreement:.1%}"
        return (
            f"{self.samples} samples: max abs error {self.max_abs_error:.3g}, max rel error "
            f"{self.max_rel_error:.3g}, top-1 agreement {top1}"
        )
