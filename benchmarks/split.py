"""Split proving vs one circuit, side by side in one run: peak memory, prove time, and workers.

    python -m benchmarks split [--model lenet_5] [--max-logrows 17]

Each flow runs in its own child process (peak RSS is the child's own), on the same model and calibration
data: the unsplit default circuit; the split circuit proved in sequence on one core (taskset -c 0); and
the split circuit on two workers with one core each (taskset -c 0,1). Setup is done first and not timed.
Writes benchmarks/results/split.json and split.md. Ratios are against the unsplit flow of the same run;
the estimator's prediction for each flow is recorded beside the measurement.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import zkml
from benchmarks.harness import _model_and_data
model, cal = _model_and_data({name!r})
kw = {{"max_logrows": {k}}} if {k} else {{}}
c = zkml.compile(model, cal, **kw)
keys = c.setup()
est = zkml.estimate(c)
t0 = time.perf_counter()
proof = keys.prove(cal[0], workers={workers}) if {workers} else keys.prove(cal[0])
dt = time.perf_counter() - t0
r = zkml.verify(proof, keys.vk)
print("RESULT " + json.dumps({{"prove_s": dt, "ok": bool(r), "segments": len(getattr(c, "segments", ())) or 1,
                              "logrows": c.logrows, "max_abs_error": c.report.max_abs_error,
                              "predicted_prove_s": est.prove_s, "predicted_peak_mb": est.peak_memory_bytes / 2**20,
                              "outputs": [o.tolist() for o in r.outputs]}}))
"""


def _child(name: str, k: int, workers: int, cores: str) -> dict:
    code = _CHILD.format(root=str(ROOT), name=name, k=k, workers=workers)
    cmd = [sys.executable, "-c", code]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cores, *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (KB)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"error": proc.stderr.strip()[-400:], "wall_s": wall}
    rec = json.loads(line[7:])
    rec.update(wall_s=round(wall, 1), peak_rss_mb=round(peak / 1024) if peak > before else None, cores=cores)
    return rec


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks split")
    ap.add_argument("--model", default="lenet_5")
    ap.add_argument("--max-logrows", type=int, default=17)
    args = ap.parse_args(argv)
    # flows in order of increasing peak memory so that each child's peak RSS is its own (RUSAGE_CHILDREN is a max)
    rows = {"split, 1 worker, 1 core": _child(args.model, args.max_logrows, 0, "0"),
            "split, 2 workers, 1 core each": _child(args.model, args.max_logrows, 2, "0,1"),
            "one circuit, 2 cores": _child(args.model, 0, 0, "0,1")}
    base = rows["one circuit, 2 cores"]
    one = rows["split, 1 worker, 1 core"]
    for r in rows.values():
        if "prove_s" in r and "prove_s" in base:
            r["prove_ratio_vs_one_circuit"] = round(r["prove_s"] / base["prove_s"], 3)
        if r.get("peak_rss_mb") and base.get("peak_rss_mb"):
            r["memory_ratio_vs_one_circuit"] = round(r["peak_rss_mb"] / base["peak_rss_mb"], 3)
    two = rows["split, 2 workers, 1 core each"]
    if "prove_s" in two and "prove_s" in one:
        two["ratio_vs_1_worker_1_core"] = round(two["prove_s"] / one["prove_s"], 3)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "split.json").write_text(json.dumps({"benchmark": "split proving", "model": args.model,
                                                "max_logrows": args.max_logrows, "flows": rows}, indent=1))
    lines = ["| flow | segments | logrows | prove s | predicted s | peak MB | predicted MB | vs one circuit (time / memory) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r.get('segments', '-')} | {r.get('logrows', '-')} | {round(r['prove_s'], 1) if 'prove_s' in r else r.get('error', '-')[:60]} | "
                     f"{r.get('predicted_prove_s', '-')} | {r.get('peak_rss_mb', '-')} | {round(r['predicted_peak_mb']) if 'predicted_peak_mb' in r else '-'} | "
                     f"{r.get('prove_ratio_vs_one_circuit', '-')} / {r.get('memory_ratio_vs_one_circuit', '-')} |")
    (OUT / "split.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
