"""Split proving at scale: every segment measured on one core, and the critical path for 1..32 workers.

    python -m benchmarks scale [--models lenet_5 tiny_gpt] [--max-logrows 18]

For each model, one *setup* child compiles the split circuit and makes its keys (its own cache). Then, per
segment, a *prove* child pinned to one core (``taskset -c 0``) computes the chain of witnesses up to that
segment (timed apart) and proves that segment alone: its prove time and peak RSS are the segment's. Two more
children prove the whole inference the way zkml does, with ``workers=1`` on one core and ``workers=2`` on one
core each, measured.

The critical path for N one-core workers is simulated from those measurements: the witness chain (it runs in
order, before any proof), then the segments' proofs scheduled longest first on N workers, each worker first
paying the measured startup (spawning, importing zkml, loading keys, receiving the witness inputs), taken from
the measured 2-worker run against its own simulation. Segments of one inference are independent once the
witnesses exist, so no schedule beats the longest segment: the table says where adding workers stops helping.

Writes benchmarks/results/scale.json and scale.md; every ratio is against flows of the same run.
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

from zkml.internals import critical_path

from .report import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
WORKERS = (1, 2, 4, 8, 16, 32)
PLANNER_FILL = 0.85  # zkml.circuit.plan.FILL: the share of 2^K rows the planner expects a segment to use

_SETUP = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import zkml
d = {work!r}
model = zkml.load_model(d + "/model.onnx")
from zkml.internals import estimate_settings
t0 = time.perf_counter()
c = zkml.compile(model, np.load(d + "/cal.npy"), max_logrows={k})
compile_s = time.perf_counter() - t0
units = getattr(c, "segments", None) or [c]
plan = {{n: zkml.plan(c, workers=n).to_json() for n in {plan_workers!r}}}
predicted = [estimate_settings(u.settings, n_cores=1) for u in units]
t0 = time.perf_counter()
keys = c.setup()
keys.save(d + "/keys")
print("RESULT " + json.dumps({{"compile_s": compile_s, "setup_s": time.perf_counter() - t0, "units": c.units,
                               "logrows": [u.logrows for u in units],
                               "rows": [int(u.settings.get("num_rows") or 0) for u in units],
                               "predicted": {{"prove_s": [e.prove_s for e in predicted],
                                             "peak_memory_mb": [e.peak_memory_bytes / 2**20 for e in predicted],
                                             "plan": plan}}}}))
"""

_SEGMENT = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import zkml
from zkml.internals import chain_feeds, first_feeds
d = {work!r}
keys = zkml.SplitKeys.load(d + "/keys")
x = np.load(d + "/cal.npy")[0]
t0 = time.perf_counter()
feeds = first_feeds(keys.circuit, x)
for i in range({i}):
    feeds = chain_feeds(keys.circuit, i + 1, keys.segments[i].circuit.run(feeds))
witness_s = time.perf_counter() - t0
seg = keys.segments[{i}]
t0, c0 = time.perf_counter(), time.process_time()
proof = seg.prove(feeds)
prove_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
print("RESULT " + json.dumps({{"witness_chain_s": witness_s, "prove_s": prove_s, "cpu_s": cpu_s, "ok": bool(zkml.verify(proof, seg.vk)),
                               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

_WHOLE = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import zkml
d = {work!r}
keys = zkml.load(d + "/keys")
x = np.load(d + "/cal.npy")[0]
def cpu():
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
t0, c0 = time.perf_counter(), cpu()
proof = keys.prove(x, workers={workers})
s, cpu_s = time.perf_counter() - t0, cpu() - c0
print("RESULT " + json.dumps({{"prove_s": s, "cpu_s": cpu_s, "ok": bool(zkml.verify(proof, keys.vk)),
                               "peak_rss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}}))
"""


def _run(code: str, cores: str, home: str) -> dict:
    cmd = [sys.executable, "-c", code]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", cores, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "ZKML_HOME": home})
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line:
        return json.loads(line[7:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return {"error": (lines[-1] if lines else f"exit status {proc.returncode}")[-400:]}  # the exception's line


def measure(name: str, k: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from benchmarks.harness import _model_and_data

    model, cal = _small() if name == "deep_mlp" else _model_and_data(name)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work, home = str(Path(tmp)), str(Path(tmp) / "home")
        model.save(Path(work) / "model.onnx")
        np.save(Path(work) / "cal.npy", np.asarray(cal, dtype=np.float32))
        fmt = {"root": str(ROOT), "work": work, "k": k, "plan_workers": WORKERS}
        setup = _run(_SETUP.format(**fmt), "0,1", home)
        if "error" in setup or setup["units"] < 2:
            return {
                "model": name,
                "max_logrows": k,
                "error": setup.get("error", "the model fits one circuit at this max_logrows"),
            }
        segments = [_run(_SEGMENT.format(**fmt, i=i), "0", home) for i in range(setup["units"])]
        if any("error" in s for s in segments):
            return {"model": name, "max_logrows": k, "error": next(s["error"] for s in segments if "error" in s)}
        whole = {n: _run(_WHOLE.format(**fmt, workers=n), cores, home) for n, cores in ((1, "0"), (2, "0,1"))}
    return derive({"model": name, "max_logrows": k, "setup": setup, "segments": segments, "measured": whole})


def derive(res: dict) -> dict:
    """What follows from one model's measurements (setup, segments, measured): the simulated critical paths and the
    planner's ratios. ``--append`` derives the kept results again, so every row follows this code."""
    if "error" in res:
        return res
    segments, whole = res["segments"], res["measured"]
    times = [s["prove_s"] for s in segments]
    witness = max(s["witness_chain_s"] for s in segments)  # the last segment's chain: every witness but its own
    if all("prove_s" in w for w in whole.values()):
        res["worker_startup_s"] = max(
            0.0, whole[2]["prove_s"] - critical_path(times, 2, witness)
        )  # measured - simulated
        res["critical_path_s"] = {
            n: round(critical_path(times, n, witness, res["worker_startup_s"]), 2) for n in WORKERS
        }
        if all("cpu_s" in s for s in segments):  # the same schedule from each proof's CPU seconds (uncontended)
            res["critical_path_cpu_s"] = {
                n: round(critical_path([s["cpu_s"] for s in segments], n, witness, res["worker_startup_s"]), 2)
                for n in WORKERS
            }
        res["measured_2_vs_1"] = round(whole[2]["prove_s"] / whole[1]["prove_s"], 3)
    res["planner"] = _planner_vs_measured(res)
    return res


def _planner_vs_measured(res: dict) -> dict:
    """The cost model's plan (`zkml.plan`, per segment ``estimate_settings`` on one core) over what was measured
    here: per-segment prove time and memory, the critical path over the one simulated from measurements (and over
    the measured 1- and 2-worker runs), and the planner's constants beside the values measured."""
    pred, segs = res["setup"]["predicted"], res["segments"]
    plan = {int(n): p for n, p in pred["plan"].items()}
    out = {
        "segment_prove_s_ratio": [round(p / s["prove_s"], 3) for p, s in zip(pred["prove_s"], segs)],
        # CPU seconds of the pinned proof: what its one core would take with the core to itself (contention
        # stretches the wall time, not the work)
        "segment_prove_cpu_s_ratio": [round(p / s["cpu_s"], 3) for p, s in zip(pred["prove_s"], segs) if "cpu_s" in s],
        "segment_memory_ratio": [round(p / s["peak_rss_mb"], 3) for p, s in zip(pred["peak_memory_mb"], segs)],
        "critical_path_s": {n: plan[n]["critical_path_s"] for n in WORKERS},
        "fill": [round(r / 2**k, 3) for r, k in zip(res["setup"]["rows"], res["setup"]["logrows"]) if r],
        # the plan's start-up, read back from its own numbers: with a worker per segment its critical path is the
        # witness chain (its in-sequence time less the proofs) plus one start-up plus the longest proof
        "worker_startup_s": {
            "planner": round(
                plan[WORKERS[-1]]["critical_path_s"]
                - (plan[1]["sequential_s"] - sum(pred["prove_s"]))
                - max(pred["prove_s"]),
                2,
            ),
            "measured": res.get("worker_startup_s"),
        },
        "planner_fill": PLANNER_FILL,
    }
    if "critical_path_s" in res:
        out["critical_path_ratio_vs_simulated"] = {
            n: round(plan[n]["critical_path_s"] / res["critical_path_s"][n], 3) for n in WORKERS
        }
    if "critical_path_cpu_s" in res:
        out["critical_path_ratio_vs_cpu_simulated"] = {
            n: round(plan[n]["critical_path_s"] / res["critical_path_cpu_s"][n], 3) for n in WORKERS
        }
    m = res["measured"]
    out["critical_path_ratio_vs_measured"] = {
        n: round(plan[n]["critical_path_s"] / m[n]["prove_s"], 3) for n in (1, 2) if "prove_s" in m[n]
    }
    return out


def _small():
    """A 16-32-32-32-4 MLP: two segments at max_logrows 12, for a quick run of this benchmark."""
    import numpy as np
    import torch

    import zkml

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    )
    return zkml.export(net, torch.zeros(1, 16)), np.random.default_rng(0).normal(size=(8, 16))


def table(results: list[dict]) -> str:
    cols = ", ".join(map(str, WORKERS))
    lines = [
        "| model | segments (logrows) | segment prove s (1 core): measured / planned | largest segment RSS MB: "
        f"measured / planned | critical path s for {cols} workers: simulated from measurements | planned | "
        "measured 1 / 2 workers s | 2 vs 1 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        if "error" in r:
            lines.append(
                f"| {r['model']} at 2^{r.get('max_logrows', '?')} | refused: {' '.join(r['error'].split())[-240:]} | | | | | | |"
            )
            continue
        cp = r.get("critical_path_s", {})
        m, pred = r["measured"], r["setup"]["predicted"]
        seg_s = ", ".join(
            f"{s['prove_s']:.1f}" + (f" ({s['cpu_s']:.1f} CPU)" if "cpu_s" in s else "") for s in r["segments"]
        )
        plan_seg_s = ", ".join(f"{p:.1f}" for p in pred["prove_s"])
        path_s = ", ".join(f"{cp[n]:.1f}" for n in WORKERS) if cp else "-"
        if cpu_cp := r.get("critical_path_cpu_s"):
            path_s += " (from CPU s: " + ", ".join(f"{cpu_cp[n]:.1f}" for n in WORKERS) + ")"
        plan_path_s = ", ".join(f"{r['planner']['critical_path_s'][n]:.1f}" for n in WORKERS)
        lines.append(
            f"| {r['model']} at 2^{r['max_logrows']} | {r['setup']['units']} ({', '.join(map(str, r['setup']['logrows']))}) | "
            f"{seg_s} / {plan_seg_s} | "
            f"{max(s['peak_rss_mb'] for s in r['segments']):,.0f} / {max(pred['peak_memory_mb']):,.0f} | "
            f"{path_s} | {plan_path_s} | "
            f"{m[1].get('prove_s', float('nan')):.1f} / {m[2].get('prove_s', float('nan')):.1f} | "
            f"{r.get('measured_2_vs_1', '-')} |"
        )
    lines += ["", "Planner (`zkml.plan`, the cost model) over measured, target 0.7-1.3:", ""]
    for r in results:
        if "error" in r:
            continue
        p = r["planner"]
        sim = p.get("critical_path_ratio_vs_simulated", {})
        cpu = p.get("segment_prove_cpu_s_ratio")
        lines.append(
            f"- {r['model']} at 2^{r['max_logrows']}: per-segment prove time "
            + ", ".join(map(str, p["segment_prove_s_ratio"]))
            + (f" (over its CPU s: {', '.join(map(str, cpu))})" if cpu else "")
            + f"; per-segment memory {', '.join(map(str, p['segment_memory_ratio']))}; critical path vs simulated "
            + (", ".join(f"{n}: {sim[n]}" for n in WORKERS) if sim else "-")
            + (
                "; vs simulated from CPU s " + ", ".join(f"{n}: {csim[n]}" for n in WORKERS)
                if (csim := p.get("critical_path_ratio_vs_cpu_simulated"))
                else ""
            )
            + "; vs measured "
            + ", ".join(
                f"{n} worker{'s' if n > 1 else ''}: {v}" for n, v in p["critical_path_ratio_vs_measured"].items()
            )
            + f"; worker start-up {p['worker_startup_s']['planner']} s planned, "
            f"{_fmt(p['worker_startup_s']['measured'])} s measured; rows used of 2^K {', '.join(map(str, p['fill']))} "
            f"(planner's FILL {p['planner_fill']})"
        )
    lines += [
        "",
        f"Setup (compile + keys) and every measurement ran on this machine ({os.cpu_count()} cores), pinned with "
        "taskset; other work shared the cores, so times are contended.",
    ]
    return "\n".join(lines)


def _int_keys(r: dict) -> dict:
    """A result read back from scale.json: its per-worker maps keyed by numbers again (JSON made them strings)."""

    def fix(v):
        if isinstance(v, dict):
            return {int(k) if k.isdigit() else k: fix(x) for k, x in v.items()}
        return [fix(x) for x in v] if isinstance(v, list) else v

    return fix(r)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks scale")
    ap.add_argument("--models", nargs="+", default=["lenet_5", "tiny_gpt"])
    ap.add_argument("--max-logrows", type=int, default=18)
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the other models' (and sizes') results already in benchmarks/results/scale.json",
    )
    args = ap.parse_args(argv)
    results = [measure(name, args.max_logrows) for name in args.models]
    old = RESULTS / "scale.json"
    if args.append and old.exists():
        new = {(r["model"], r.get("max_logrows")) for r in results}
        kept = [r for r in json.loads(old.read_text())["results"] if (r["model"], r.get("max_logrows")) not in new]
        results = [derive(_int_keys(r)) for r in kept] + results
    write_results("scale", {"benchmark": "split proving at scale", "results": results}, table(results))


if __name__ == "__main__":
    main()
