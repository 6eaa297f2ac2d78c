"""The estimator against measurements, in one run: predicted vs measured peak memory and prove time.

    python -m benchmarks estimate [--models digits_mlp,...,lenet_5,tiny_gpt] [--repredict]

For each model two child processes run on the same two cores (taskset -c 0,1): one compiles and sets up
(the keys are cached), the other loads them and proves one input. Each child reports its own peak RSS
(ezkl runs in-process); the flow's peak memory is the larger of the two, which is what
``zkml.estimate(...).peak_memory_bytes`` predicts. The zoo models use their circuit specs (``tiny_gpt``
is split by its spec's max_logrows: the estimate is of its largest segment's memory and of all segments'
time); LeNet-5 is one 2^19 circuit. Writes benchmarks/results/estimate.json and estimate.md with each
ratio predicted / measured; the target is every ratio within 0.7..1.3. Models measured replace their rows
in estimate.json and the others are kept; ``--repredict`` measures nothing and applies the cost model as it
is now to the recorded rows (the circuit settings it reads are kept with each row).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

from .report import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["digits_mlp", "digits_cnn", "credit_logreg", "iris_forest", "wine_attention", "lenet_5", "tiny_gpt"]

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import zkml
from models import zoo
from benchmarks.estimate import cost_inputs
name, phase, work = {name!r}, {phase!r}, {work!r}
if name in zoo.NAMES + zoo.SPLIT_NAMES:  # by its spec
    _, cal, _, _ = zoo.load(name)
    build = lambda: zoo.compile_zoo(name)
else:  # exported once by the parent: no child imports torch, whose RSS would count as the prover's
    model, cal = zkml.load_model(work + "/model.onnx"), np.load(work + "/cal.npy")
    build = lambda: zkml.compile(model, cal)
t0 = time.perf_counter()
c = build()
compile_s = time.perf_counter() - t0
t0 = time.perf_counter()
keys = c.setup()
setup_s = time.perf_counter() - t0
rec = {{"compile_s": compile_s, "setup_s": setup_s}}
if phase == "prove":
    x = cal[0]
    t0 = time.perf_counter()
    proof = keys.prove(x)
    rec["prove_s"] = time.perf_counter() - t0
    rec["ok"] = bool(zkml.verify(proof, keys.vk))
    segs = getattr(keys, "segments", None) or [keys]
    rec.update(settings=[cost_inputs(k.circuit.settings) for k in segs], pk_bytes=sum(k.pk_path.stat().st_size for k in segs),
               segments=len(segs), logrows=c.logrows)
rec["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(rec))
"""

_COST_INPUTS = ("required_range_checks", "required_lookups", "num_shuffles", "num_dynamic_lookups", "num_rows")


def cost_inputs(settings: dict) -> dict:
    """The part of a circuit's settings that the cost model reads (what estimate.json keeps of it)."""
    ra = settings["run_args"]
    return {
        "run_args": {"logrows": ra["logrows"], "num_inner_cols": ra.get("num_inner_cols", 2)},
        **{k: settings[k] for k in _COST_INPUTS if k in settings},
    }


def _child(name: str, phase: str, home: str, work: str) -> dict:
    cmd = [sys.executable, "-c", _CHILD.format(root=str(ROOT), name=name, phase=phase, work=work)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0,1", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "ZKML_HOME": home})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        return {"error": proc.stderr.strip()[-400:]}
    return json.loads(line[7:])


def measure(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from models import zoo

    with tempfile.TemporaryDirectory(prefix="zkml-estimate-") as tmp:  # a cold cache: setup is really done
        home = str(Path(tmp) / "home")
        if name not in zoo.NAMES + zoo.SPLIT_NAMES:
            import numpy as np

            from benchmarks.harness import _model_and_data

            model, cal = _model_and_data(name)
            model.save(Path(tmp) / "model.onnx")
            np.save(Path(tmp) / "cal.npy", np.asarray(cal, dtype=np.float32))
        setup = _child(name, "setup", home, tmp)  # compiles and sets up; the keys land in the cache
        prove = _child(name, "prove", home, tmp)  # loads them (setup is a cache hit) and proves
    if "error" in setup or "error" in prove:
        return {"model": name, "error": setup.get("error") or prove.get("error")}
    return {
        "model": name,
        "segments": prove["segments"],
        "logrows": prove["logrows"],
        "ok": prove["ok"],
        "setup_s": round(setup["setup_s"], 1),
        "prove_s": round(prove["prove_s"], 2),
        "peak_mb": round(max(setup["peak_rss_mb"], prove["peak_rss_mb"])),
        "setup_peak_mb": round(setup["peak_rss_mb"]),
        "prove_peak_mb": round(prove["peak_rss_mb"]),
        "pk_bytes": prove["pk_bytes"],
        "settings": prove["settings"],
    }


def predict(row: dict, cores: int = 2) -> dict:
    """The estimator's prediction for a measured row, from the circuit settings it recorded (on ``cores`` cores,
    as measured): re-run with --repredict after changing the cost model, without measuring again."""
    from zkml.internals import estimate_segments, estimate_settings

    if row["segments"] > 1:
        p = estimate_segments([SimpleNamespace(settings=s) for s in row["settings"]], cores)
    else:
        p = estimate_settings(row["settings"][0], cores)
    return {
        **row,
        "width": p.width,
        "predicted_setup_s": p.setup_s,
        "predicted_prove_s": p.prove_s,
        "predicted_peak_mb": round(p.peak_memory_bytes / 2**20),
        "predicted_pk_bytes": p.pk_bytes,
        "memory_ratio": round(p.peak_memory_bytes / 2**20 / row["peak_mb"], 2),
        "prove_ratio": round(p.prove_s / row["prove_s"], 2),
        "setup_ratio": round(p.setup_s / row["setup_s"], 2) if row["setup_s"] >= 1 else None,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks estimate")
    ap.add_argument("--models", default=",".join(DEFAULT))
    ap.add_argument(
        "--repredict", action="store_true", help="apply the current cost model to the recorded measurements"
    )
    args = ap.parse_args(argv)
    prior = RESULTS / "estimate.json"
    rows = {r["model"]: r for r in json.loads(prior.read_text())["rows"]} if prior.exists() else {}
    if not args.repredict:  # measured models replace their earlier rows; the others are kept
        for name in args.models.split(","):
            rows[name] = measure(name)
            print(json.dumps({k: v for k, v in rows[name].items() if k != "settings"}), flush=True)
    rows = [r if "error" in r else predict(r) for r in rows.values()]
    ok = [r for r in rows if "error" not in r]
    worst = {
        k: max((abs(r[k] - 1) for r in ok if r.get(k) is not None), default=None)
        for k in ("memory_ratio", "prove_ratio")
    }
    lines = [
        "| model | segments | logrows | width | peak MB (measured / predicted) | prove s (measured / predicted) | "
        "setup s (measured / predicted) | memory ratio | prove ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error'][:80]} | | | | | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['segments']} | {r['logrows']} | {r['width']} | {r['peak_mb']} / {r['predicted_peak_mb']} | "
            f"{r['prove_s']} / {r['predicted_prove_s']} | {r['setup_s']} / {r['predicted_setup_s']} | "
            f"{r['memory_ratio']} | {r['prove_ratio']} |"
        )
    write_results(
        "estimate",
        {"benchmark": "estimator vs measured", "rows": rows, "worst_abs_ratio_error": worst, "target": 0.3},
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
