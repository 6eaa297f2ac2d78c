"""Circuit specs (``circuits/<name>.json``): visibility, target, compile options and a tolerance, validated here.

``description`` and ``notes`` are documentation; every other field is used. Flags given by a caller override the
spec's: the target as a whole, the visibility field by field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import CompileError
from ..support.files import read_json
from .visibility import Visibility

SPEC_KEYS = {"description", "notes", "visibility", "target", "options", "tolerance"}
TOLERANCE_KEYS = {"max_abs_error", "min_top1_agreement"}
_HINT = 'write {"visibility": {...}, "target": "resources", "options": {"scales": [6]}, "tolerance": {...}}'


@dataclass(frozen=True)
class CircuitSpec:
    """What a spec file asks of a circuit. ``where`` names the file in errors."""

    visibility: Visibility = field(default_factory=Visibility)
    target: str = "resources"
    options: Mapping[str, Any] = field(default_factory=dict)
    tolerance: Mapping[str, float] = field(default_factory=dict)
    where: str = "spec"

    @classmethod
    def load(
        cls, path: str | os.PathLike | None, *, visibility: str | None = None, target: str | None = None
    ) -> "CircuitSpec":
        """The spec at ``path`` (None: the defaults), with ``visibility`` / ``target`` overriding its fields."""
        raw = read_json(path, error_cls=CompileError, stage="compile", hint=_HINT) if path else {}
        return cls.from_json(raw, where=str(path) if path else "spec", visibility=visibility, target=target)

    @classmethod
    def from_json(
        cls, raw: Any, *, where: str = "spec", visibility: str | None = None, target: str | None = None
    ) -> "CircuitSpec":
        if not isinstance(raw, dict) or not isinstance(raw.get("options", {}), dict) or set(raw) - SPEC_KEYS:
            raise CompileError(
                f"not a circuit spec (known fields: {', '.join(sorted(SPEC_KEYS))})", where=where, hint=_HINT
            )
        tolerance = raw.get("tolerance", {})
        if not isinstance(tolerance, dict) or set(tolerance) - TOLERANCE_KEYS:
            raise CompileError(
                f"the spec's tolerance has unknown fields (known: {', '.join(sorted(TOLERANCE_KEYS))})",
                where=f"{where} -> tolerance",
                hint=_HINT,
            )
        for k, v in tolerance.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise CompileError(
                    f"the spec's tolerance {k} is not a number", where=f"{where} -> tolerance -> {k}", hint=_HINT
                )
        vis = Visibility.parse(visibility, base=Visibility.parse(raw.get("visibility")))
        return cls(
            vis,
            target or raw.get("target") or "resources",
            dict(raw.get("options", {})),
            {k: float(v) for k, v in tolerance.items()},
            where,
        )

    def check(self, circuit: Any) -> None:
        """The tolerance, checked on ``circuit``'s calibration report (refused when nothing was measured)."""
        if not self.tolerance:
            return
        r, tol = circuit.report, self.tolerance
        if r.private:
            raise CompileError(
                "the spec sets a tolerance, but the circuit was calibrated on the private input, where "
                "nothing is measured",
                where=f"{self.where} -> tolerance",
                hint="pass calibration data (--calibration FILE) so the tolerance can be checked",
            )
        if "max_abs_error" in tol and r.max_abs_error > tol["max_abs_error"]:
            raise CompileError(
                f"the circuit's max abs error {r.max_abs_error:.4g} is over the spec's {tol['max_abs_error']:g}",
                where=f"{self.where} -> tolerance -> max_abs_error",
                hint="use --target accuracy or other scales",
            )
        # top-1 agreement is measured on class-score outputs; a single score (a logit) has none to compare
        if (
            "min_top1_agreement" in tol
            and r.top1_agreement is not None
            and r.top1_agreement < tol["min_top1_agreement"]
        ):
            raise CompileError(
                f"the circuit's top-1 agreement {r.top1_agreement} is under the spec's {tol['min_top1_agreement']:g}",
                where=f"{self.where} -> tolerance -> min_top1_agreement",
                hint="use --target accuracy or other scales",
            )


__all__ = ["CircuitSpec", "SPEC_KEYS", "TOLERANCE_KEYS"]
