"""Split proving vs ezkl's recommended flow, side by side in one run: peak memory, prove time, workers.

    python -m benchmarks split [--model lenet_5] [--max-logrows 18]

Every flow is two child processes on the same exported model and calibration data (saved once as files,
so no child imports torch): a *setup* child (compile/calibrate and keys, into its own cache) and a *prove*
child that proves one input with those keys. The prove child's peak RSS is the proving memory (ezkl runs
in-process); its prove time excludes setup. Cores are pinned with ``taskset``:

- ezkl's recommended flow, 2 cores: gen_settings -> calibrate_settings('resources') -> compile -> setup -> prove;
- zkml split, in sequence on the same 2 cores (the memory and time target: <= 0.5x memory at <= 1.2x time);
- zkml split, 1 worker on 1 core, and 2 workers on 1 core each (the scaling target: <= 0.6x).

Writes benchmarks/results/split.json and split.md; ratios are against flows of the same run.
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

from .report import write_results

ROOT = Path(__file__).resolve().parents[1]

_EZKL = r"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
import numpy as np
import zkml
from zkml.internals import to_batch
from benchmarks.harness import ezkl_compile, ezkl_prove, ezkl_setup, ezkl_verify, ezkl_witness
d = Path({work!r})
model = zkml.load_model(d / "model.onnx")
batch = to_batch(model, np.load(d / "cal.npy"))
if {phase!r} == "setup":
    k = ezkl_compile(d, model, batch)
    rec = {{"setup_s": ezkl_setup(d), "logrows": k}}
else:
    feeds = {{t.name: batch[t.name][0] for t in model.inputs}}
    rec = {{"prove_s": ezkl_prove(d, model, feeds), "ok": ezkl_verify(d), "segments": 1,
           "logrows": json.loads((d / "settings.json").read_text())["run_args"]["logrows"],
           "outputs": ezkl_witness(d, model, feeds)}}
rec["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(rec))
"""

_ZKML = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import zkml
d = {work!r}
model = zkml.load_model(d + "/model.onnx")
cal = np.load(d + "/cal.npy")
c = zkml.compile(model, cal, max_logrows={k})
t0 = time.perf_counter()
keys = c.setup()
rec = {{"setup_s": time.perf_counter() - t0, "logrows": c.logrows, "segments": len(getattr(c, "segments", ())) or 1}}
if {phase!r} == "prove":
    est = zkml.estimate(c)
    t0 = time.perf_counter()
    proof = keys.prove(cal[0], workers={workers}) if {workers} else keys.prove(cal[0])
    rec["prove_s"] = time.perf_counter() - t0
    r = zkml.verify(proof, keys.vk)
    rec.update(ok=bool(r), outputs=[float(v) for v in np.asarray(r.outputs[0]).reshape(-1)],
               predicted_prove_s=est.prove_s, predicted_peak_mb=round(est.peak_memory_bytes / 2**20))
rec["peak_rss_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,  # workers: the largest process
                         resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print("RESULT " + json.dumps(rec))
"""


def _run(code: str, cores: str, home: str) -> dict:
    cmd = [sys.executable, "-c", code]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cores, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "ZKML_HOME": home})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    return json.loads(line[7:]) if line else {"error": proc.stderr.strip()[-400:]}


def _flow(
    kind: str, work: Path, home: str, *, k: int = 0, workers: int = 0, cores: str = "0,1", setup_cores: str = "0,1"
) -> dict:
    def code(phase):
        if kind == "ezkl":
            return _EZKL.format(root=str(ROOT), work=str(work), phase=phase)
        return _ZKML.format(root=str(ROOT), work=str(work), phase=phase, k=k, workers=workers)

    setup = _run(code("setup"), setup_cores, home)
    if "error" in setup:
        return {"error": setup["error"]}
    prove = _run(code("prove"), cores, home)
    if "error" in prove:
        return {"error": prove["error"]}
    prove.update(
        setup_s=round(setup["setup_s"], 1),
        setup_peak_rss_mb=round(setup["peak_rss_mb"]),
        cores=cores,
        peak_rss_mb=round(prove["peak_rss_mb"]),
        prove_s=round(prove["prove_s"], 1),
    )
    return prove


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks split")
    ap.add_argument("--model", default="lenet_5")
    ap.add_argument("--max-logrows", type=int, default=18)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from benchmarks.harness import _model_and_data

    model, cal = _model_and_data(args.model)
    k = args.max_logrows
    with tempfile.TemporaryDirectory(prefix="bench-split-") as tmp:
        work, home = Path(tmp), str(Path(tmp) / "home")
        model.save(work / "model.onnx")
        np.save(work / "cal.npy", np.asarray(cal, dtype=np.float32))
        rows = {
            "ezkl's recommended flow, 2 cores": _flow("ezkl", work, home),
            "zkml split, in sequence, 2 cores": _flow("zkml", work, home, k=k),
            "zkml split, 1 worker, 1 core": _flow("zkml", work, home, k=k, cores="0"),
            "zkml split, 2 workers, 1 core each": _flow("zkml", work, home, k=k, workers=2),
        }
    base = rows["ezkl's recommended flow, 2 cores"]
    one, two = rows["zkml split, 1 worker, 1 core"], rows["zkml split, 2 workers, 1 core each"]
    for r in rows.values():
        if "prove_s" in r and "prove_s" in base:
            r["prove_ratio_vs_ezkl"] = round(r["prove_s"] / base["prove_s"], 3)
            r["memory_ratio_vs_ezkl"] = round(r["peak_rss_mb"] / base["peak_rss_mb"], 3)
            r["max_abs_diff_vs_ezkl"] = float(np.abs(np.asarray(r["outputs"]) - np.asarray(base["outputs"])).max())
    if "prove_s" in two and "prove_s" in one:
        two["ratio_vs_1_worker_1_core"] = round(two["prove_s"] / one["prove_s"], 3)
        two["scaling_efficiency"] = round(one["prove_s"] / (2 * two["prove_s"]), 3)
    ref = model.run({model.inputs[0].name: np.asarray(cal[0], np.float32).reshape(model.inputs[0].shape)})[0].reshape(
        -1
    )
    for r in rows.values():
        if "outputs" in r:
            r["max_abs_error_vs_onnxruntime"] = float(np.abs(np.asarray(r["outputs"]) - ref).max())
    lines = [
        "| flow | segments | logrows | prove s | peak RSS MB (proving) | vs ezkl (time / memory) | max abs error | predicted s / MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][-100:]} | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['segments']} | {r['logrows']} | {r['prove_s']} | {r['peak_rss_mb']} | "
            f"{r.get('prove_ratio_vs_ezkl', '-')} / {r.get('memory_ratio_vs_ezkl', '-')} | "
            f"{r['max_abs_error_vs_onnxruntime']:.6f} | {r.get('predicted_prove_s', '-')} / {r.get('predicted_peak_mb', '-')} |"
        )
    if "ratio_vs_1_worker_1_core" in two:
        lines.append(
            f"\n2 workers on 1 core each / 1 worker on 1 core: {two['ratio_vs_1_worker_1_core']} "
            f"(scaling efficiency {two['scaling_efficiency']})"
        )
    write_results(
        "split", {"benchmark": "split proving", "model": args.model, "max_logrows": k, "flows": rows}, "\n".join(lines)
    )


if __name__ == "__main__":
    main()
