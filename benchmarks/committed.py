"""Committed weights vs fixed and hashed weights: rows and prove time, side by side in one run.

    python -m benchmarks committed [--lenet] [--repeats N]

For each zoo model: compile (the zoo spec's options) with params fixed, committed and hashed; set up and
prove the fixed and committed circuits ``--repeats`` times (median). Ratios are committed / fixed from
the same run. LeNet-5 (``--lenet``) is compared by rows only: its hashed settings are read from ezkl's
gen_settings (they do not compile on this machine), and its proofs take minutes each.
Writes benchmarks/results/committed.json and committed.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .report import write_results

ROOT = Path(__file__).resolve().parents[1]
ZOO = ["credit_logreg", "digits_mlp", "iris_forest", "digits_cnn", "wine_attention"]


def _hashed_rows_without_compiling(model) -> int:
    """ezkl's settings for hashed weights, without calibration or compile: the rows it would need."""
    import ezkl

    d = Path(tempfile.mkdtemp(prefix="bench-hashed-"))
    (d / "m.onnx").write_bytes(model.onnx_bytes)
    ra = ezkl.PyRunArgs()
    ra.input_visibility, ra.output_visibility, ra.param_visibility = "private", "public", "hashed"
    ra.decomp_base, ra.decomp_legs = 1024, 3
    ezkl.gen_settings(str(d / "m.onnx"), str(d / "s.json"), ra)
    return int(json.loads((d / "s.json").read_text())["num_rows"])


def measure(name: str, repeats: int, prove: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    import zkml
    from benchmarks.harness import _model_and_data, _zoo_options

    model, cal = _model_and_data(name)
    options = _zoo_options(name)
    row: dict = {"model": name}
    x = cal[0]
    for params in ("fixed", "committed", "hashed"):
        if params == "hashed" and name == "lenet_5":
            row["hashed_rows"] = _hashed_rows_without_compiling(model)
            row["hashed_status"] = "not compiled: too many rows for this machine"
            continue
        t0 = time.perf_counter()
        try:
            c = zkml.compile(model, cal, visibility=f"params={params}", **options)
        except zkml.ZKMLError as err:
            row[f"{params}_status"] = f"{type(err).__name__}: {err.message[:120]}"
            continue
        row[f"{params}_compile_s"] = round(time.perf_counter() - t0, 2)
        row[f"{params}_rows"], row[f"{params}_logrows"] = c.num_rows, c.logrows
        if prove and params != "hashed":
            keys = c.setup()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                p = keys.prove(x)
                times.append(time.perf_counter() - t0)
            assert zkml.verify(p, keys.vk)
            row[f"{params}_prove_s"] = round(statistics.median(times), 3)
    if "committed_rows" in row and "fixed_rows" in row:
        row["rows_ratio"] = round(row["committed_rows"] / row["fixed_rows"], 3)
    if "committed_prove_s" in row and "fixed_prove_s" in row:
        row["prove_ratio"] = round(row["committed_prove_s"] / row["fixed_prove_s"], 3)
    return row


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks committed")
    ap.add_argument("--lenet", action="store_true", help="also LeNet-5 (rows only)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(ZOO))
    args = ap.parse_args(argv)
    rows = [measure(m, args.repeats, prove=True) for m in args.models.split(",") if m]
    if args.lenet:
        rows.append(measure("lenet_5", 1, prove=False))
    lines = [
        "| model | rows fixed / committed / hashed | committed rows ratio | prove s fixed / committed | prove ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r.get('fixed_rows', '-')} / {r.get('committed_rows', '-')} / {r.get('hashed_rows', '-')} | "
            f"{r.get('rows_ratio', '-')} | {r.get('fixed_prove_s', '-')} / {r.get('committed_prove_s', '-')} | "
            f"{r.get('prove_ratio', '-')} |"
        )
    write_results("committed", {"benchmark": "committed weights", "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
