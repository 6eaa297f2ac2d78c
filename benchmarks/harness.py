"""zkml (default and tuned) against ezkl driven the way its docs recommend, on the same machine.

For each model, each flow runs in its own process (so peak memory is its own): compile (zkml flows
with a zoo model's circuit spec options, e.g. the attention model's scales; ezkl's flow as its docs
recommend, with none), setup,
prove (median of REPEATS proofs), verify; proving-key and proof size, logrows, max error and top-1
agreement against onnxruntime over the calibration samples, and (zkml flows) verifier gas on pyrevm.
It also measures zkml's own overhead: the same circuit proved through ``keys.prove`` and through
bare ``ezkl.gen_witness`` + ``ezkl.prove``, and a warm ``prove-model run`` against bare proving.

    python -m benchmarks harness [--models a,b] [--lenet] [--repeats N] [--flow-timeout S]
                                                             -> results/harness.{json,md,png}
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
REPEATS = int(os.environ.get("ZKML_BENCH_REPEATS", "3"))  # the flows run in children: set through the environment
DEFAULT_MODELS = ["digits_mlp", "digits_cnn", "credit_logreg", "iris_forest", "mlp_784", "wine_attention"]


def _model_and_data(name: str):
    sys.path.insert(0, str(ROOT))
    import zkml

    if name == "mlp_784":
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        return zkml.export(net, torch.zeros(1, 784)), np.random.default_rng(0).uniform(0, 1, size=(8, 784))
    if name == "lenet_5":
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5, padding=2),
            torch.nn.ReLU(),
            torch.nn.AvgPool2d(2),
            torch.nn.Conv2d(6, 16, 5),
            torch.nn.ReLU(),
            torch.nn.AvgPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(400, 120),
            torch.nn.ReLU(),
            torch.nn.Linear(120, 84),
            torch.nn.ReLU(),
            torch.nn.Linear(84, 10),
        )
        return zkml.export(net, torch.zeros(1, 1, 28, 28)), np.random.default_rng(0).uniform(
            0, 1, size=(4, 1, 1, 28, 28)
        )
    from models import zoo

    model, cal, _, _ = zoo.load(name)
    return model, cal


def _zoo_options(name: str) -> dict:
    """A zoo model's circuit spec options (what prove-model and make demo use); none for the others."""
    from models import zoo

    return dict(zoo.spec(name).get("options", {})) if (ROOT / "circuits" / f"{name}.json").exists() else {}


def _errors(model, outputs_per_sample, batch):
    errs, agree = [], 0
    for i, got in enumerate(outputs_per_sample):
        ref = np.asarray(model.run({t.name: batch[t.name][i] for t in model.inputs})[0], np.float64).reshape(-1)
        g = np.asarray(got, np.float64).reshape(-1)
        errs.append(float(np.abs(ref - g).max()))
        agree += int(np.argmax(ref) == np.argmax(g)) if ref.size > 1 else int((ref[0] > 0) == (g[0] > 0))
    return max(errs), agree / len(outputs_per_sample)


def ezkl_compile(d: Path, model, batch) -> int:
    """ezkl's recommended compile in ``d``: gen_settings -> calibrate_settings('resources') -> compile_circuit.
    Private input, public output, fixed weights (zkml's defaults). Returns the logrows it chose."""
    import ezkl

    from zkml.internals import ezkl_input_json

    (d / "net.onnx").write_bytes(model.onnx_bytes)
    (d / "cal.json").write_text(json.dumps(ezkl_input_json(model, batch)))
    with contextlib.redirect_stdout(io.StringIO()):
        ra = ezkl.PyRunArgs()
        ra.input_visibility, ra.output_visibility, ra.param_visibility = "private", "public", "fixed"
        ezkl.gen_settings(str(d / "net.onnx"), str(d / "settings.json"), ra)
        ezkl.calibrate_settings(
            str(d / "cal.json"),
            str(d / "net.onnx"),
            str(d / "settings.json"),
            "resources",
            lookup_safety_margin=2.0,
            scales=None,
            scale_rebase_multiplier=[1],
            max_logrows=None,
        )
        ezkl.compile_circuit(str(d / "net.onnx"), str(d / "net.compiled"), str(d / "settings.json"))
    return json.loads((d / "settings.json").read_text())["run_args"]["logrows"]


def ezkl_srs(d: Path) -> Path:
    """The dev SRS for the circuit compiled in ``d`` (generated once; not timed in any flow)."""
    from zkml.internals import dev_srs

    return dev_srs(json.loads((d / "settings.json").read_text())["run_args"]["logrows"]).path


def ezkl_setup(d: Path) -> float:
    """ezkl.setup of the circuit compiled in ``d``; its seconds."""
    import ezkl

    srs = ezkl_srs(d)
    t0 = time.perf_counter()
    ezkl.setup(str(d / "net.compiled"), str(d / "vk.key"), str(d / "pk.key"), str(srs), None, False)
    return time.perf_counter() - t0


def ezkl_witness(d: Path, model, feeds) -> list[float]:
    """ezkl.gen_witness of one input in ``d``; the circuit's first output, rescaled."""
    import ezkl

    from zkml.internals import ezkl_input_json

    (d / "in.json").write_text(json.dumps(ezkl_input_json(model, feeds)))
    ezkl.gen_witness(str(d / "in.json"), str(d / "net.compiled"), str(d / "w.json"), None, None)
    return [float(v) for v in json.loads((d / "w.json").read_text())["pretty_elements"]["rescaled_outputs"][0]]


def ezkl_prove(d: Path, model, feeds) -> float:
    """Witness and proof of one input with the keys in ``d``, as ezkl's docs do it; its seconds."""
    import ezkl

    srs = ezkl_srs(d)
    t0 = time.perf_counter()
    ezkl_witness(d, model, feeds)
    ezkl.prove(str(d / "w.json"), str(d / "net.compiled"), str(d / "pk.key"), str(d / "proof.json"), str(srs))
    return time.perf_counter() - t0


def ezkl_verify(d: Path) -> bool:
    import ezkl

    return bool(
        ezkl.verify(str(d / "proof.json"), str(d / "settings.json"), str(d / "vk.key"), str(ezkl_srs(d)), False)
    )


def flow_ezkl(name: str) -> dict:
    """ezkl's recommended flow: gen_settings -> calibrate_settings('resources') -> compile -> setup -> prove."""
    from zkml.internals import to_batch

    model, cal = _model_and_data(name)
    batch = to_batch(model, cal)
    d = Path(tempfile.mkdtemp(prefix="bench-ezkl-"))
    r = {}
    t0 = time.perf_counter()
    k = ezkl_compile(d, model, batch)
    r["compile_s"] = time.perf_counter() - t0
    ezkl_srs(d)  # SRS generation is a one-time cost in both flows: not timed
    r["setup_s"] = ezkl_setup(d)
    n = next(iter(batch.values())).shape[0]
    feeds = [{t.name: batch[t.name][i] for t in model.inputs} for i in range(n)]
    proves = [ezkl_prove(d, model, feeds[i % n]) for i in range(max(REPEATS, 1))]
    outs = [ezkl_witness(d, model, f) for f in feeds]
    t0 = time.perf_counter()
    assert ezkl_verify(d)
    r["verify_s"] = time.perf_counter() - t0
    r["max_abs_error"], r["top1"] = _errors(model, outs, batch)
    r.update(
        prove_s=proves,
        logrows=k,
        pk_bytes=(d / "pk.key").stat().st_size,
        proof_bytes=len(json.loads((d / "proof.json").read_text())["proof"]),
    )
    return r


def flow_zkml(name: str, tuned: bool) -> dict:
    import ezkl

    import zkml
    from zkml.internals import ezkl_input_json, private_tempdir, to_batch

    model, cal = _model_and_data(name)
    r = {}
    t0 = time.perf_counter()
    circuit = zkml.compile(model, cal, target="fastest" if tuned else "resources", **_zoo_options(name))
    r["compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    keys = circuit.setup()
    r["setup_s"] = time.perf_counter() - t0
    batch = to_batch(model, cal)
    n = next(iter(batch.values())).shape[0]
    proves, bare, proof = [], [], None
    for i in range(max(REPEATS, 1)):
        x = {t.name: batch[t.name][i % n] for t in model.inputs}
        t0 = time.perf_counter()
        proof = keys.prove(x)
        proves.append(time.perf_counter() - t0)
        # zkml's own overhead: the same circuit through bare ezkl calls
        with private_tempdir() as tmp:
            (tmp / "in.json").write_text(json.dumps(ezkl_input_json(model, x)))
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ezkl.gen_witness(str(tmp / "in.json"), str(circuit.compiled_path), str(tmp / "w.json"), None, None)
                ezkl.prove(
                    str(tmp / "w.json"),
                    str(circuit.compiled_path),
                    str(keys.pk_path),
                    str(tmp / "p.json"),
                    str(keys.srs.path),
                )
            bare.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    assert zkml.verify(proof, keys.vk)
    r["verify_s"] = time.perf_counter() - t0
    outs = [circuit.run({t.name: batch[t.name][i] for t in model.inputs})[0] for i in range(n)]
    r["max_abs_error"], r["top1"] = _errors(model, outs, batch)
    r["gas"] = _gas(keys, proof)
    r.update(
        prove_s=proves,
        bare_prove_s=bare,
        logrows=circuit.logrows,
        pk_bytes=keys.pk_path.stat().st_size,
        proof_bytes=len(proof.proof),
        options=dict(circuit.options),
        keys_dir=str(keys.path),
    )
    return r


def _gas(keys, proof):
    """verifyProof gas on pyrevm: the per-model verifier, or the reusable one where the per-model
    verifier is over EIP-170's 24,576 bytes (the attention model's is)."""
    import zkml

    chain = zkml.evm.InProcessChain()
    try:
        return chain.verify(chain.deploy(zkml.verifier_contract(keys.vk)), proof).gas_used
    except zkml.errors.ContractError as err:
        if "EIP-170" not in err.message:
            return f"n/a ({type(err).__name__})"
    try:
        return (
            f"{chain.verify(chain.deploy(zkml.verifier_contract(keys.vk, reusable=True)), proof).gas_used} (reusable)"
        )
    except zkml.ZKMLError as err:
        return f"n/a ({type(err).__name__})"


def _warm_cli(name: str) -> float:
    """Seconds for a warm `prove-model run` (cached circuit and keys), process start included."""
    model, cal = _model_and_data(name)
    d = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    model.save(d / "m.onnx")
    np.save(d / "cal.npy", np.asarray(cal))
    np.save(d / "x.npy", np.asarray(cal)[0])
    cmd = [
        str(Path(sys.executable).parent / "prove-model"),
        "--quiet",
        "run",
        str(d / "m.onnx"),
        "--input",
        str(d / "x.npy"),
        "--calibration",
        str(d / "cal.npy"),
        "--out",
        str(d / "out"),
    ]
    if (ROOT / "circuits" / f"{name}.json").exists():  # the zoo model's circuit spec, as in the flows
        cmd += ["--spec", str(ROOT / "circuits" / f"{name}.json")]
    subprocess.run(cmd, check=True, capture_output=True)  # cold: fills the cache
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


FLOW_TIMEOUT_S = 240


def _in_child(kind: str, name: str, flow_timeout_s: float = FLOW_TIMEOUT_S) -> dict:
    """Run one flow in a fresh process; its peak RSS is the flow's own. Flows over FLOW_TIMEOUT_S are stopped."""
    out = Path(tempfile.mkdtemp(prefix="bench-")) / "r.json"
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks import harness as h; "
        f"r = h.flow_ezkl({name!r}) if {kind!r} == 'ezkl' else h.flow_zkml({name!r}, {kind == 'zkml-tuned'}); "
        f"open({str(out)!r}, 'w').write(json.dumps(r))"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + flow_timeout_s
    timed_out = False
    while True:  # wait4 (not poll) so the child's own rusage comes back
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            p.kill()
            _, status, usage = os.wait4(p.pid, 0)
            break
        time.sleep(0.2)
    p.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss // 1024
    if timed_out:
        return {"error": f"did not finish within {flow_timeout_s:g} s (peak RSS {peak} MB by then)"}
    if p.returncode != 0 or not out.exists():
        return {"error": f"exit status {p.returncode}"}
    r = json.loads(out.read_text())
    r["peak_rss_mb"] = peak
    return r


def run(models: list[str], flow_timeout_s: float = FLOW_TIMEOUT_S) -> dict:
    rows = []
    for name in models:
        flows = {kind: _in_child(kind, name, flow_timeout_s) for kind in ("ezkl", "zkml-default", "zkml-tuned")}
        e = flows["ezkl"]
        for kind, r in flows.items():
            if "error" in r:
                rows.append({"model": name, "flow": kind, **r})
                continue
            row = {
                "model": name,
                "flow": kind,
                "logrows": r["logrows"],
                "compile_s": round(r["compile_s"], 2),
                "setup_s": round(r["setup_s"], 2),
                "prove_s_median": round(statistics.median(r["prove_s"]), 3),
                "verify_s": round(r["verify_s"], 4),
                "pk_mb": round(r["pk_bytes"] / 1e6, 1),
                "proof_bytes": r["proof_bytes"],
                "peak_rss_mb": r["peak_rss_mb"],
                "max_abs_error": round(r["max_abs_error"], 5),
                "top1": r["top1"],
                "gas": r.get("gas"),
                "prove_s_all": [round(x, 3) for x in r["prove_s"]],
            }
            if kind != "ezkl" and "error" not in e:
                row["prove_ratio_vs_ezkl"] = round(
                    statistics.median(a / b for a, b in zip(r["prove_s"], e["prove_s"])), 3
                )
                row["memory_ratio_vs_ezkl"] = (
                    round(r["peak_rss_mb"] / e["peak_rss_mb"], 3) if r["peak_rss_mb"] and e["peak_rss_mb"] else None
                )
                row["zkml_overhead"] = round(
                    statistics.median(a / b for a, b in zip(r["prove_s"], r["bare_prove_s"])) - 1, 3
                )
            rows.append(row)
        if "error" not in flows["zkml-default"]:
            warm = _warm_cli(name)
            bare = statistics.median(flows["zkml-default"]["bare_prove_s"])
            rows.append(
                {
                    "model": name,
                    "flow": "warm prove-model run",
                    "seconds": round(warm, 3),
                    "ratio_vs_bare_prove": round(warm / bare, 3),
                }
            )
    return {
        "benchmark": "zkml vs ezkl recommended flow",
        "repeats": int(os.environ.get("ZKML_BENCH_REPEATS", REPEATS)),
        "cores": os.cpu_count(),
        "rows": [dict(r, repeats=int(os.environ.get("ZKML_BENCH_REPEATS", REPEATS))) for r in rows],
    }


def table(res: dict) -> str:
    lines = [
        "| model | flow | logrows | compile s | setup s | prove s (median) | prove ratio vs ezkl | pk MB | peak RSS MB | "
        "memory ratio vs ezkl | max abs error | top-1 | gas | zkml overhead |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    warm = []
    for r in res["rows"]:
        if r["flow"] == "warm prove-model run":
            warm.append(f"| {r['model']} | {r['seconds']} | {r['ratio_vs_bare_prove']} |")
            continue
        if "error" in r:
            lines.append(f"| {r['model']} | {r['flow']} | failed: {r['error']} |" + " |" * 11)
            continue
        lines.append(
            f"| {r['model']} | {r['flow']} | {r['logrows']} | {r['compile_s']} | {r['setup_s']} | {r['prove_s_median']} | "
            f"{r.get('prove_ratio_vs_ezkl', '-')} | {r['pk_mb']} | {r['peak_rss_mb']} | {r.get('memory_ratio_vs_ezkl') or '-'} | "
            f"{r['max_abs_error']} | "
            f"{r['top1']:.2f} | {r['gas'] or '-'} | {r.get('zkml_overhead', '-')} |"
        )
    lines += [
        "",
        "Warm `prove-model run` (process start, cached circuit and keys, prove, verify):",
        "",
        "| model | seconds | ratio vs bare ezkl witness+prove |",
        "| --- | --- | --- |",
        *warm,
    ]
    return "\n".join(lines) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in res["rows"] if "prove_s_median" in r]
    models = list(dict.fromkeys(r["model"] for r in rows))
    flows = ["ezkl", "zkml-default", "zkml-tuned"]
    fig, ax = plt.subplots(figsize=(9, 4))
    w = 0.27
    for j, f in enumerate(flows):
        vals = [next((r["prove_s_median"] for r in rows if r["model"] == m and r["flow"] == f), 0) for m in models]
        ax.bar([i + (j - 1) * w for i in range(len(models))], vals, w, label=f)
    ax.set_xticks(range(len(models)), models, rotation=20)
    ax.set_ylabel("prove time, s (median)")
    ax.set_yscale("log")
    ax.set_title(f"zkml vs ezkl's recommended flow ({res['cores']} cores)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks harness")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--lenet", action="store_true", help="also LeNet-5 on 28x28 (ezkl's flow needs ~10 GB and minutes)")
    ap.add_argument("--out", default=str(RESULTS), help="where harness.json/.md/.png go (default benchmarks/results)")
    ap.add_argument("--repeats", type=int, default=REPEATS, help="proofs per flow (the median is reported)")
    ap.add_argument("--flow-timeout", type=float, default=FLOW_TIMEOUT_S, help="seconds before one flow is stopped")
    args = ap.parse_args(argv)
    os.environ["ZKML_BENCH_REPEATS"] = str(args.repeats)
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-bench-"))
    models = [m for m in args.models.split(",") if m] + (["lenet_5"] if args.lenet else [])
    res = run(models, args.flow_timeout)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prior = out / "harness.json"
    if prior.exists():  # keep the rows of models this run did not measure (e.g. LeNet-5 run on its own)
        kept = [r for r in json.loads(prior.read_text())["rows"] if r["model"] not in models]
        res["rows"] = kept + res["rows"]
    (out / "harness.json").write_text(json.dumps(res, indent=2))
    (out / "harness.md").write_text(table(res))
    plot(res, out / "harness.png")
    print(table(res))


if __name__ == "__main__":
    main()
