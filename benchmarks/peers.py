"""zkml beside its peers on the same ONNX files and inputs: ezkl's recommended flow and JSTprove.

    python -m benchmarks peers [--models lenet_5_maxpool,3l_relu_conv_fc,1l_mlp] [--jstprove-venv DIR]
                                                                           -> results/peers.{json,md}

Three provers, each step in its own child process (pinned with ``taskset`` to the same cores), so each
peak memory is that step's own (the child's max RSS, read with ``getrusage(RUSAGE_CHILDREN)`` by a small
wrapper process around it):

- **ezkl**, its recommended flow through the plain Python API: ``gen_settings`` -> ``calibrate_settings``
  ('resources') -> ``compile_circuit`` -> ``gen_srs`` (a dev SRS; never ``get_srs``) -> ``setup`` ->
  ``gen_witness`` -> ``prove`` -> ``verify`` (the functions in ``benchmarks/harness.py``; input private,
  output public, weights fixed);
- **zkml**: ``zkml.compile(model, calibration).setup()``, ``keys.prove(x)`` (witness included),
  ``zkml.verify(proof, vk)`` in a fresh process that loads only the verifying key and the proof;
- **JSTprove** (PyPI ``jstprove``, GKR/sum-check on Polyhedra's Expander) in its own virtual environment,
  created here on first use (``$ZKML_HOME/peers/jstprove-venv``, or ``--jstprove-venv``): ``jst model_check``,
  ``jst compile``, ``jst witness``, then its prover binary ``expander-exec prove`` and ``expander-exec verify``
  exactly as ``jst prove`` / ``jst verify`` run it (timed without the CLI's Python start-up), and ``jst verify``
  once as the complete check (it also compares input and output with the witness). It needs OpenMPI
  (Debian: ``apt-get install -y libopenmpi-dev openmpi-bin``); without it the benchmark refuses and says so.

Measured per model and prover: setup (compile + keys), witness, prove and verify seconds, peak RSS of the
proving step, proof bytes, what the verifier must be given (bytes), the largest difference of the proved
output from onnxruntime's, and what stays private.

LeNet-5 as ``benchmarks/harness.py`` builds it has AveragePool layers, which JSTprove 2.1 does not support
(its ``model_check`` says so; the run records it); ``lenet_5_maxpool`` is the same network (same layers,
same seed) with MaxPool2d, which all three prove.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ["lenet_5_maxpool", "3l_relu_conv_fc", "1l_mlp"]
CHECK_ONLY = ["lenet_5"]  # JSTprove's op check on these, no proving (LeNet-5 with AveragePool)
JSTPROVE = "jstprove==2.1.0"  # the newest release on PyPI for Linux x86-64 at the time of writing
# its declared dependencies (torch is chosen separately: ZKML_JSTPROVE_TORCH, default its own pin)
JSTPROVE_DEPS = [
    "numpy==2.2.6",
    "onnx==1.17.0",
    "onnxruntime==1.21.0",
    "onnxruntime_extensions==0.14.0",
    "psutil==7.0.0",
    "requests==2.32.3",
    "scikit_learn==1.6.1",
    "toml==0.10.2",
    "transformers==4.52.4",
]
APT_OPENMPI = "apt-get update && apt-get install -y libopenmpi-dev openmpi-bin"
STEP_TIMEOUT_S = float(os.environ.get("ZKML_PEERS_STEP_TIMEOUT", "3600"))

PRIVATE = {
    "ezkl": "input hidden; output public; weights fixed in the circuit (the verifier holds the verifying key)",
    "zkml": "input hidden; output public; weights fixed in the circuit (the verifier holds the verifying key)",
    "JSTprove": "nothing: the verifier is given the input, the output, the witness and the circuit with the weights",
}
VERIFIER_GETS = {
    "ezkl": "vk.key + settings.json",
    "zkml": "verifying-key directory",
    "JSTprove": "circuit.txt (weights inside) + witness + input + output",
}

# The wrapper around every step: runs the command, prints its wall time and its max RSS (RUSAGE_CHILDREN,
# so the largest process of the step, the prover binary or the Python child).
_MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
wall = time.perf_counter() - t0
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr)
print("MEASURED " + json.dumps({"rc": p.returncode, "wall_s": wall,
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

_EZKL = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import numpy as np
import ezkl
import zkml
from zkml.internals import to_batch
from benchmarks.harness import ezkl_compile, ezkl_setup, ezkl_srs, ezkl_verify, ezkl_witness
d = Path({work!r}) / "ezkl"
d.mkdir(exist_ok=True)
model = zkml.load_model(Path({work!r}) / "model.onnx")
phase = {phase!r}
if phase == "setup":
    t0 = time.perf_counter()
    k = ezkl_compile(d, model, to_batch(model, np.load(Path({work!r}) / "cal.npy")))
    rec = {{"compile_s": time.perf_counter() - t0, "logrows": k}}
    ezkl_srs(d)  # gen_srs (dev), once: not timed
    rec["setup_s"] = rec["compile_s"] + ezkl_setup(d)
elif phase == "prove":
    x = np.load(Path({work!r}) / "x.npy")
    feeds = {{model.inputs[0].name: x}}
    srs = ezkl_srs(d)
    t0 = time.perf_counter()
    outs = ezkl_witness(d, model, feeds)
    rec = {{"witness_s": time.perf_counter() - t0, "outputs": outs}}
    t0 = time.perf_counter()
    ezkl.prove(str(d / "w.json"), str(d / "net.compiled"), str(d / "pk.key"), str(d / "proof.json"), str(srs))
    rec["prove_s"] = time.perf_counter() - t0
    rec["proof_bytes"] = len(json.loads((d / "proof.json").read_text())["proof"])
    rec["verifier_bytes"] = (d / "vk.key").stat().st_size + (d / "settings.json").stat().st_size
    rec["srs_bytes"] = srs.stat().st_size
else:
    ezkl_srs(d)
    t0 = time.perf_counter()
    ok = ezkl_verify(d)
    rec = {{"verify_s": time.perf_counter() - t0, "ok": ok}}
print("RESULT " + json.dumps(rec))
"""

_ZKML = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
import numpy as np
import zkml
w = Path({work!r})
d = w / "zkml"
phase = {phase!r}
if phase == "setup":
    model = zkml.load_model(w / "model.onnx")
    t0 = time.perf_counter()
    c = zkml.compile(model, np.load(w / "cal.npy"))
    rec = {{"compile_s": time.perf_counter() - t0, "logrows": c.logrows}}
    keys = c.setup()
    rec["setup_s"] = time.perf_counter() - t0
    keys.save(d / "keys")
elif phase == "prove":
    keys = zkml.Keys.load(d / "keys")
    x = np.load(w / "x.npy")
    t0 = time.perf_counter()
    proof = keys.prove(x)
    rec = {{"prove_s": time.perf_counter() - t0, "proof_bytes": len(proof.proof)}}
    proof.save(d / "proof.json")
    keys.vk.save(d / "vk")
    files = [f for f in (d / "vk").rglob("*") if f.is_file()]
    rec["verifier_bytes"] = sum(f.stat().st_size for f in files if not f.name.startswith("kzg.srs"))
    rec["srs_bytes"] = sum(f.stat().st_size for f in files if f.name == "kzg.srs")
else:
    vk = zkml.VerifyingKey.load(d / "vk")
    proof = zkml.Proof.load(d / "proof.json")
    t0 = time.perf_counter()
    r = zkml.verify(proof, vk)
    rec = {{"verify_s": time.perf_counter() - t0, "ok": bool(r),
            "outputs": [float(v) for v in np.asarray(r.outputs[0]).reshape(-1)] if r else None}}
print("RESULT " + json.dumps(rec))
"""


class PeerRefused(Exception):
    """A peer prover refused a model (its own op check, or a model shape this benchmark cannot feed it)."""


def default_venv() -> Path:
    home = os.environ.get("ZKML_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "zkml") / "peers" / "jstprove-venv"


def openmpi_missing(search_path: str | None = None) -> list[str]:
    """What JSTprove's prover needs from OpenMPI and this machine lacks: ``mpirun`` on ``search_path`` (default
    ``$PATH``) and the ``libmpi`` shared library its binaries link against."""
    missing = []
    if shutil.which("mpirun", path=search_path) is None:
        missing.append("mpirun (openmpi-bin)")
    if ctypes.util.find_library("mpi") is None:
        missing.append("libmpi (libopenmpi-dev)")
    return missing


def jstprove_tools(venv: Path) -> dict[str, Path]:
    """The ``jst`` CLI and the ``expander-exec`` prover inside JSTprove's virtual environment ``venv``."""
    found = sorted(venv.glob("lib/python3*/site-packages/python/core/binaries/expander-exec"))
    return {"jst": venv / "bin" / "jst", "expander": found[0] if found else venv / "expander-exec (not installed)"}


def install_jstprove(venv: Path) -> None:
    """Create ``venv`` and install JSTprove into it (``pip``; its dependencies as it pins them, torch from
    ``ZKML_JSTPROVE_TORCH``, default ``torch==2.6.0``, its own pin, which pulls CUDA wheels from PyPI: set
    e.g. ``ZKML_JSTPROVE_TORCH='torch==2.13.0+cpu'`` where a CPU wheel is at hand)."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    torch = os.environ.get("ZKML_JSTPROVE_TORCH", "torch==2.6.0")
    for cmd in (
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--no-deps", JSTPROVE],
        [*pip, *JSTPROVE_DEPS, torch],
    ):
        print("peers: " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            from zkml.errors import DependencyError

            raise DependencyError(
                f"installing JSTprove failed ({' '.join(cmd[-3:])}): {p.stderr.strip()[-400:]}",
                stage="peers",
                where=venv,
                hint="check that pip can reach PyPI, or install it yourself: "
                f"python -m venv {venv} && {venv}/bin/pip install {JSTPROVE}",
            )


def require_jstprove(venv: Path, *, install: bool = True, search_path: str | None = None) -> dict[str, Path]:
    """JSTprove's tools, ready to run: refuses (``DependencyError``) without OpenMPI, naming the command that
    installs it; creates ``venv`` when it lacks JSTprove and ``install`` is on (else refuses, naming it)."""
    from zkml.errors import DependencyError

    missing = openmpi_missing(search_path)
    if missing:
        raise DependencyError(
            "JSTprove's prover (Expander) needs OpenMPI; this machine lacks " + " and ".join(missing),
            stage="peers",
            where="JSTprove",
            hint=f"install it as root: {APT_OPENMPI}; then run `python -m benchmarks peers` again",
        )
    tools = jstprove_tools(venv)
    if not all(p.is_file() for p in tools.values()):
        if not install:
            raise DependencyError(
                "JSTprove is not installed in its virtual environment",
                stage="peers",
                where=venv,
                hint=f"run `python -m benchmarks peers` (it creates {venv}), or pass --jstprove-venv DIR",
            )
        install_jstprove(venv)
        tools = jstprove_tools(venv)
    return tools


def _measured(cmd: list[str], *, cwd: Path, env: dict | None = None, cores: str | None = None) -> dict:
    """``cmd`` in a wrapper process: ``{"rc", "wall_s", "peak_rss_mb", "stdout", "stderr", "result"?}``."""
    full = [sys.executable, "-c", _MEASURE, str(STEP_TIMEOUT_S), *cmd]
    if cores and shutil.which("taskset"):
        full = ["taskset", "-c", cores, *full]
    p = subprocess.run(full, capture_output=True, text=True, cwd=cwd, env=env)
    lines = p.stdout.splitlines()
    m = next((ln for ln in reversed(lines) if ln.startswith("MEASURED ")), None)
    rec = json.loads(m[9:]) if m else {"rc": p.returncode, "wall_s": None, "peak_rss_mb": None}
    rec.update(stdout="\n".join(ln for ln in lines if not ln.startswith("MEASURED ")), stderr=p.stderr)
    res = next((ln for ln in reversed(lines) if ln.startswith("RESULT ")), None)
    if res:
        rec["result"] = json.loads(res[7:])
    return rec


def _fail(step: str, m: dict) -> str:
    """A failed step in one line: its last three lines of output (a traceback's end names the error)."""
    text = (m.get("stderr") or "").strip() or (m.get("stdout") or "").strip()
    tail = " / ".join(ln.strip() for ln in text.splitlines()[-3:] if ln.strip())
    return f"{step} failed (rc {m.get('rc')}): {tail[-300:]}"


def _python_flow(kind: str, work: Path, env: dict, cores: str) -> dict:
    """ezkl's or zkml's flow: a setup, a prove and a verify child."""
    template = _EZKL if kind == "ezkl" else _ZKML
    r: dict = {}
    for phase in ("setup", "prove", "verify"):
        m = _measured(
            [sys.executable, "-c", template.format(root=str(ROOT), work=str(work), phase=phase)],
            cwd=ROOT,
            env=env,
            cores=cores,
        )
        if "result" not in m:
            return {**r, "error": _fail(phase, m)}
        r.update(m["result"])
        r[f"{phase}_peak_rss_mb"] = m["peak_rss_mb"]
    r["peak_rss_mb"] = r["prove_peak_rss_mb"]
    return r


def jstprove_check(tools: dict[str, Path], onnx_path: Path, cwd: Path) -> str | None:
    """JSTprove's own op check of ``onnx_path``: None when it supports the model, else its message."""
    m = _measured([str(tools["jst"]), "--no-banner", "model_check", "-m", str(onnx_path)], cwd=cwd)
    if m["rc"] == 0:
        return None
    last = ((m["stdout"] + "\n" + m["stderr"]).strip().splitlines() or ["model_check failed"])[-1].strip()
    return last.replace(str(onnx_path), onnx_path.name)  # the run's temporary directory means nothing later


def _jstprove_flow(tools: dict[str, Path], work: Path, cores: str) -> dict:
    import numpy as np

    d = work / "jstprove"
    d.mkdir(exist_ok=True)
    onnx_path = work / "model.onnx"
    refused = jstprove_check(tools, onnx_path, d)
    if refused:
        return {"refused": refused}
    (d / "in.json").write_text(json.dumps({"input": np.load(work / "x.npy").tolist()}))
    jst, exe = str(tools["jst"]), str(tools["expander"])
    c, w, p = str(d / "circuit.txt"), str(d / "witness.bin"), str(d / "proof.bin")
    i, o = str(d / "in.json"), str(d / "out.json")
    steps = {
        "compile": [jst, "--no-banner", "compile", "-m", str(onnx_path), "-c", c],
        "witness": [jst, "--no-banner", "witness", "-c", c, "-i", i, "-o", o, "-w", w],
        "prove": [exe, "-p", "Hyrax", "prove", "-c", c, "-w", w, "-o", p],  # what `jst prove` runs
        "verify": [exe, "-p", "Hyrax", "verify", "-c", c, "-w", w, "-i", p],  # what `jst verify` runs
        "check": [jst, "--no-banner", "verify", "-c", c, "-i", i, "-o", o, "-w", w, "-p", p],
    }
    r: dict = {}
    for step, cmd in steps.items():
        m = _measured(cmd, cwd=d, cores=cores)
        if m["rc"] != 0:
            return {**r, "error": _fail(step, m)}
        r[f"{step}_wall_s"], r[f"{step}_peak_rss_mb"] = m["wall_s"], m["peak_rss_mb"]
        if step == "check":
            r["ok"] = "verification complete" in m["stdout"]
    r.update(
        setup_s=r["compile_wall_s"],
        witness_s=r["witness_wall_s"],
        prove_s=r["prove_wall_s"],
        verify_s=r["verify_wall_s"],
        peak_rss_mb=r["prove_peak_rss_mb"],
        proof_bytes=(d / "proof.bin").stat().st_size,
        verifier_bytes=sum((d / f).stat().st_size for f in ("circuit.txt", "witness.bin", "in.json", "out.json")),
        outputs=json.loads((d / "out.json").read_text())["rescaled_output"],
    )
    return r


def lenet_5_maxpool():
    """LeNet-5 as ``benchmarks/harness.py`` builds it (same layers, same seed), with MaxPool2d for AvgPool2d."""
    import numpy as np
    import torch

    import zkml

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )
    return zkml.export(net, torch.zeros(1, 1, 28, 28)), np.random.default_rng(0).uniform(0, 1, size=(4, 1, 1, 28, 28))


def model_files(name: str, work: Path) -> dict:
    """Write ``work/model.onnx``, ``cal.npy`` (calibration samples) and ``x.npy`` (the proved input) for a
    benchmark model or a corpus model (its own ``network.onnx``, calibrated on and proving its ``input.json``)."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import zkml
    from zkml.internals import load_input_file, to_batch

    from .corpus import corpus_dir

    corpus = corpus_dir()
    if name == "lenet_5_maxpool":
        model, cal = lenet_5_maxpool()
        model.save(work / "model.onnx")
        source = "torch (benchmarks/peers.py: lenet_5_maxpool)"
    elif corpus is not None and (corpus / name / "network.onnx").is_file():
        shutil.copyfile(corpus / name / "network.onnx", work / "model.onnx")
        model = zkml.load_model(work / "model.onnx")
        cal = load_input_file(corpus / name / "input.json")
        source = f"ezkl corpus {name}/network.onnx + input.json"
    else:
        from .harness import _model_and_data

        model, cal = _model_and_data(name)
        model.save(work / "model.onnx")
        source = f"benchmarks/harness.py {name}"
    if len(model.inputs) != 1:
        raise PeerRefused(f"{name} has {len(model.inputs)} inputs; this benchmark feeds models of one input")
    batch = to_batch(model, cal)[model.inputs[0].name]
    np.save(work / "cal.npy", np.asarray(batch, np.float32))
    x = np.asarray(batch[0], np.float32).reshape(model.inputs[0].shape)
    np.save(work / "x.npy", x)
    ref = np.asarray(model.run({model.inputs[0].name: x})[0], np.float64).reshape(-1)
    return {"source": source, "samples": int(batch.shape[0]), "reference": ref.tolist()}


def _cell(v, fmt="{:.2f}") -> str:
    if v is None or v == "":
        return "-"
    return fmt.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def format_table(rows: list[dict]) -> str:
    """The markdown table of ``rows`` (``{"model", "system", ...measured fields}``), with time and memory
    ratios against the ezkl row of the same model."""
    lines = [
        "| model | system | setup s | witness s | prove s | verify s, result | peak RSS MB (prove) | proof bytes | "
        "verifier is given (bytes) | max abs err vs onnxruntime | prove / memory vs ezkl | kept private |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = {r["model"]: r for r in rows if r["system"] == "ezkl" and "prove_s" in r}
    for r in rows:
        rows_k = f", 2^{r['logrows']} rows" if r.get("logrows") else ""  # ezkl and zkml: a Halo2 circuit's size
        head = f"| {r['model']} | {r['system']}{rows_k} |"
        if "refused" in r or "error" in r:
            what = f"refused: {r['refused']}" if "refused" in r else f"error: {r['error']}"
            what = " ".join(what.replace("|", "/").split())
            lines.append(f"{head} {what[:240]} | | | | | | | | | |")
            continue
        b = base.get(r["model"])
        ratio = (
            f"{r['prove_s'] / b['prove_s']:.3f} / {r['peak_rss_mb'] / b['peak_rss_mb']:.3f}"
            if b and b["prove_s"] and b["peak_rss_mb"]
            else "-"
        )
        gets = f"{VERIFIER_GETS.get(r['system'], '-')}: {_cell(r.get('verifier_bytes'), '{:,}')}"
        if r.get("srs_bytes"):
            gets += f" + SRS {r['srs_bytes']:,}"
        lines.append(
            f"{head} {_cell(r.get('setup_s'))} | {_cell(r.get('witness_s'))} | {_cell(r['prove_s'])} | "
            f"{_cell(r.get('verify_s'), '{:.3f}')} {'valid' if r.get('ok') else 'NOT VALID'} | "
            f"{_cell(r['peak_rss_mb'], '{:.0f}')} | "
            f"{_cell(r.get('proof_bytes'), '{:,}')} | {gets} | {_cell(r.get('max_abs_error'), '{:.2g}')} | "
            f"{ratio} | {PRIVATE.get(r['system'], '-')} |"
        )
    return "\n".join(lines)


def run(models: list[str], venv: Path, cores: str, progress=None) -> dict:
    """Every model through the three provers; ``progress(data)`` after each model (partial results)."""
    import numpy as np

    tools = require_jstprove(venv)
    rows, checks, info = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        env = {**os.environ, "ZKML_HOME": str(Path(tmp) / "home")}  # fresh cache: setup is measured, not reused
        for name in CHECK_ONLY:
            work = Path(tmp) / f"check-{name}"
            work.mkdir()
            try:
                model_files(name, work)
                checks[name] = jstprove_check(tools, work / "model.onnx", work) or "supported"
            except PeerRefused as err:
                checks[name] = str(err)
        for name in models:
            work = Path(tmp) / name
            work.mkdir()
            try:
                info[name] = model_files(name, work)
            except PeerRefused as err:
                rows.append({"model": name, "system": "all", "refused": str(err)})
                continue
            ref = np.asarray(info[name]["reference"])
            for system in ("ezkl", "zkml", "JSTprove"):
                print(f"peers: {name}: {system}", flush=True)
                if system == "JSTprove":
                    r = _jstprove_flow(tools, work, cores)
                else:
                    r = _python_flow(system, work, env, cores)
                if r.get("outputs") is not None:
                    got = np.asarray(r["outputs"], np.float64).reshape(-1)
                    r["max_abs_error"] = float(np.abs(got - ref).max()) if got.size == ref.size else None
                rows.append({"model": name, "system": system, **r})
            if progress is not None:
                progress({"rows": rows, "jstprove_model_check": checks, "models": info, "versions": {}})
    versions = {}
    for pkg, py in (("jstprove", venv / "bin" / "python"), ("torch", venv / "bin" / "python"), ("ezkl", None)):
        q = subprocess.run(
            [str(py) if py else sys.executable, "-c", f"import importlib.metadata as m; print(m.version({pkg!r}))"],
            capture_output=True,
            text=True,
        )
        versions[f"{pkg} ({'JSTprove venv' if py else 'zkml venv'})"] = q.stdout.strip() or q.stderr.strip()[-100:]
    return {"rows": rows, "jstprove_model_check": checks, "models": info, "versions": versions, "cores": cores}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks peers")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--jstprove-venv", type=Path, default=None, help="JSTprove's own venv (created if absent)")
    ap.add_argument("--cores", default="0,1", help="taskset cores for every prover")
    ap.add_argument("--note", default="", help="a line for the results file (e.g. how loaded the machine was)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from zkml.errors import DependencyError

    def write(data: dict, echo: bool = False) -> None:
        from .report import write_results

        write_results("peers", {"benchmark": "peers", **data}, report(data, args), echo=echo)

    try:
        data = run(
            [m for m in args.models.split(",") if m], args.jstprove_venv or default_venv(), args.cores, progress=write
        )
    except DependencyError as err:
        raise SystemExit(f"benchmarks peers: {err}") from None
    write(data, echo=True)


def report(data: dict, args) -> str:
    """The results file: the command, versions, the table and the notes."""
    for r in data["rows"]:
        r.pop("outputs", None)
    text = [
        "# zkml, ezkl's recommended flow and JSTprove on the same ONNX files and inputs",
        "",
        f"`python -m benchmarks peers --models {args.models}`; every step in its own process on cores "
        f"{args.cores}. Versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()) + ".",
    ]
    if args.note:
        text += ["", args.note]
    text += ["", format_table(data["rows"]), ""]
    text += [f"JSTprove's model_check on {k}: {v}" for k, v in data["jstprove_model_check"].items()]
    text += [
        "",
        "ezkl: witness = gen_witness, prove = ezkl.prove. zkml: prove = keys.prove (witness included). JSTprove: "
        "setup = `jst compile`, witness = `jst witness` (CLI wall time, Python start-up included), prove and "
        "verify = its `expander-exec` binary as `jst prove` / `jst verify` run it; peak RSS is the proving "
        "step's largest process.",
    ]
    return "\n".join(text)


if __name__ == "__main__":
    main()
