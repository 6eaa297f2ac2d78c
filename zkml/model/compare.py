"""One comparison of a model's outputs with a reference (torch vs ONNX, circuit vs onnxruntime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..support.deps import need


@dataclass(frozen=True)
class Comparison:
    max_abs_error: float
    max_rel_error: float
    within: bool  # every element within atol + rtol * |reference|

    def __bool__(self) -> bool:
        return self.within


def compare(reference: Sequence, got: Sequence, *, atol: float = 0.0, rtol: float = 0.0) -> Comparison:
    """Largest absolute and relative error of ``got`` against ``reference`` (lists of arrays, paired in order)."""
    np = need("numpy")
    worst_abs = worst_rel = 0.0
    within = True
    for r, g in zip(reference, got):
        r = np.asarray(r, dtype=np.float64).reshape(-1)
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        err = np.abs(r - g)
        worst_abs = max(worst_abs, float(err.max(initial=0.0)))
        worst_rel = max(worst_rel, float((err / np.maximum(np.abs(r), 1e-6)).max(initial=0.0)))
        within = within and bool((err <= atol + rtol * np.abs(r)).all())
    return Comparison(worst_abs, worst_rel, within)
