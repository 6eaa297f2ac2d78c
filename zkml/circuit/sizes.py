"""What needs rows in a circuit, from its settings alone (no layout replay): the parts, and the verdict on what
sets ``logrows``. ``compile`` says it for every circuit it builds (:func:`summary`); :mod:`zkml.circuit.breakdown`
adds the rows per op from ezkl's layout log. This module sits below both, so that imports go one way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

RESERVED_ROWS = 8  # ezkl: ASSUMED_BLINDING_FACTORS (5) + RESERVED_BLINDING_ROWS_PAD (3)
DOMINANT_SHARE = 0.5  # a part at least this share of the largest need "dominates"
EXP_LIKE = ("Exp", "Softmax")


@dataclass(frozen=True)
class Part:
    """One thing that needs rows: the ops (in total or one op kind), a lookup or range-check table, shuffles,
    constants or a hashing module."""

    kind: str  # "ops", "op", "lookup", "range_check", "shuffle", "constants", "module"
    name: str
    rows: int
    detail: str = ""
    setting: str = ""  # what would shrink it
    nodes: int = 0  # ops: how many nodes of that kind

    @property
    def logrows(self) -> int:
        """The logrows this part alone needs (its rows plus ezkl's reserved rows)."""
        return max(1, math.ceil(math.log2(self.rows + RESERVED_ROWS))) if self.rows > 0 else 0


# the parts a circuit's settings name
def _lookup_name(entry: Any) -> str:
    if isinstance(entry, Mapping) and entry:
        return str(next(iter(entry)))
    return str(entry)


def _lookup_setting(name: str, scale: int) -> str:
    lower = f"scales=[{max(scale - 2, 1)}]" if scale else "a lower scale"
    if name in EXP_LIKE:
        return (
            f"lower the scale ({lower}: each bit less halves the table), or output logits instead of "
            "probabilities (scikit-learn: export(..., sklearn_output='decision'); torch: drop the final Softmax)"
        )
    return f"lower the scale ({lower}: each bit less halves the table), or keep the {name} input in a smaller range"


def settings_parts(settings: Mapping[str, Any], *, private: bool = False, op_types: Any = ()) -> list[Part]:
    """Every part that needs rows, from the settings alone. ``private``: the circuit was calibrated on a private
    input, so the lookup range (chosen on it) is not quoted."""
    ra = settings.get("run_args", {})
    scale = int(ra.get("input_scale") or 0)
    parts = [
        Part(
            "ops",
            "the ops (every node laid out)",
            int(settings.get("num_rows", 0)),
            setting="num_inner_cols=4 puts more cells in each row (fewer rows, wider rows)",
        )
    ]
    lo, hi = (ra.get("lookup_range") or [0, 0])[:2]
    for entry in settings.get("required_lookups") or []:
        name = _lookup_name(entry)
        owner = " (Softmax)" if name == "Exp" and "Softmax" in op_types else ""
        parts.append(
            Part(
                "lookup",
                f"{name} lookup table{owner}",
                int(hi) - int(lo) + 1,
                detail=(
                    f"its range was chosen on the private input, at scale 2^{scale}"
                    if private
                    else f"spans the lookup range [{lo}, {hi}] at scale 2^{scale}"
                ),
                setting=_lookup_setting(name, scale),
            )
        )
    base, legs = int(ra.get("decomp_base") or 0), int(ra.get("decomp_legs") or 0)
    for r in settings.get("required_range_checks") or []:
        a, b = int(r[0]), int(r[1])
        if base and (a, b) == (0, base - 1):
            parts.append(
                Part(
                    "range_check",
                    f"range-check table [0, {b}] (decomposition)",
                    b - a + 1,
                    detail=f"decomp_base {base}, {legs} legs",
                    setting=f"a smaller decomp_base with more decomp_legs (e.g. decomp_base={max(base // 4, 2)}, "
                    f"decomp_legs={legs + 1}: base^legs must still cover the values)",
                )
            )
        else:
            parts.append(
                Part(
                    "range_check",
                    f"range-check table [{a}, {b}]",
                    b - a + 1,
                    setting="an op's output range check: lower the scale",
                )
            )
    shuffled = int(settings.get("total_shuffle_col_size") or 0) + int(settings.get("total_dynamic_col_size") or 0)
    if shuffled:
        parts.append(
            Part(
                "shuffle",
                "shuffles and dynamic lookups",
                shuffled,
                detail=f"{int(settings.get('num_shuffles') or 0)} shuffles, "
                f"{int(settings.get('num_dynamic_lookups') or 0)} dynamic lookups",
                setting="fewer gathers, argmax/top-k or tree comparisons, or smaller inputs to them",
            )
        )
    consts = int(settings.get("total_const_size") or 0)
    cols = max(int(ra.get("num_inner_cols") or 1), 1)
    if consts:
        parts.append(
            Part(
                "constants",
                "constants (fixed weights and literals)",
                math.ceil(consts / cols),
                detail=f"{consts} constants over {cols} columns",
                setting="num_inner_cols higher",
            )
        )
    modules = settings.get("module_sizes") or {}
    poseidon = modules.get("poseidon") if isinstance(modules, Mapping) else None
    if isinstance(poseidon, list) and poseidon and int(poseidon[0] or 0):
        parts.append(
            Part(
                "module",
                "Poseidon hashing (hashed visibility)",
                int(poseidon[0]),
                setting="committed instead of hashed (polycommit costs no rows)",
            )
        )
    return parts


def verdict(logrows: int, parts: list[Part], ops: list[Part]) -> tuple[str, str]:
    """(message, advice): what sets logrows, plainly, and the setting that would shrink it."""
    big = max(parts, key=lambda p: p.rows)
    ops_total = next((p.rows for p in parts if p.kind == "ops"), 0)
    if big.logrows < logrows:
        return (
            f"2^{logrows} rows, more than any part needs ({big.name}: {big.rows:,} rows, 2^{big.logrows}): logrows was "
            "raised on purpose (the logrows or min_logrows option, or a split chain's shared row count)",
            "leave logrows unset (or split with a smaller max_logrows)",
        )
    if big.kind == "ops":
        msg = f"2^{logrows} rows, set by the ops' {big.rows:,} rows"
        top = max(ops, key=lambda p: p.rows) if ops else None
        if top is not None and ops_total and top.rows >= DOMINANT_SHARE * ops_total:
            msg += f"; {top.name} ({top.nodes} node{'s' if top.nodes != 1 else ''}) uses {top.rows / ops_total:.0%} of them"
            return msg, op_setting(top.name)
        return msg, big.setting
    others = max((p.rows for p in parts if p is not big), default=0)
    msg = (
        f"2^{logrows} rows, set by the {big.name}: {big.rows:,} rows ({big.detail})"
        if big.detail
        else f"2^{logrows} rows, set by the {big.name}: {big.rows:,} rows"
    )
    msg += f"; the ops use {ops_total:,} rows" + (f", the next largest part {others:,}" if others > ops_total else "")
    if big.logrows > logrows:
        msg += f" (over 2^{logrows}: ezkl spreads it over several columns)"
    return msg, big.setting


def op_setting(name: str) -> str:
    if any(w in name for w in ("EINSUM", "CONV", "MATMUL", "GEMM")):
        return (
            "its rows grow with the weights it multiplies: num_inner_cols=4 packs more cells in a row, or make the "
            "layer smaller"
        )
    if "input" in name:
        return "the input is decomposed for its range check: fewer decomp_legs (with a larger decomp_base), or a smaller input"
    return "num_inner_cols higher packs more cells in a row, or use fewer of these ops"


def op_counts(model) -> dict[str, int]:
    try:
        import onnx
    except ImportError:
        return {}
    counts: dict[str, int] = {}
    for n in onnx.load_model_from_string(model.onnx_bytes).graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def summary(settings: Mapping[str, Any], *, private: bool = False, model: Any = None) -> str:
    """One sentence from the settings alone (no layout replay): what sets the circuit's logrows."""
    parts = settings_parts(settings, private=private, op_types=op_counts(model) if model is not None else ())
    return verdict(int(settings["run_args"]["logrows"]), parts, [])[0]
