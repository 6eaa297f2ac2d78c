"""The architecture gallery (``models/architectures.py``) through zkml: export, compile, prove, verify, compare.

For each entry, in its own process with a time cap: build the model from its library's config (seeded weights, no
downloads), ``zkml.export`` it, compile it calibrated on 8 seeded inputs (split at ``max_logrows`` where the entry
says), set up keys (dev SRS), prove the sample, verify, and compare the proof's outputs with onnxruntime's and with
the torch model's. Top-1 agreement with the float model is measured on the 8 inputs from the circuit's witness
(``circuit.run``: the proved computation, without 8 proofs). A ``ZKMLError`` is a refusal, recorded with its text
(the op or pattern it names); a run past the cap records the last stage it reached.

    python -m benchmarks architectures [--models a,b] [--cap 600]   -> results/architectures.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
INPUTS = 8  # calibration and agreement inputs per model


def inputs_like(sample, n: int = INPUTS, seed: int = 1):
    """``n`` seeded inputs shaped like ``sample`` (token ids in [2, vocabulary): no padding or special ids; images in
    [0, 1); other floats standard normal), the sample first."""
    import torch

    from models.architectures import VOCAB

    g = torch.Generator().manual_seed(seed)
    out = [sample]
    for _ in range(n - 1):
        if sample.dtype == torch.int64:
            out.append(torch.randint(2, VOCAB, tuple(sample.shape), generator=g, dtype=torch.int64))
        elif sample.dim() == 4:
            out.append(torch.rand(tuple(sample.shape), generator=g))
        else:
            out.append(torch.randn(tuple(sample.shape), generator=g))
    return out


def torch_out(module, x):
    """The torch model's scores on ``x``: a Hugging Face model's logits (use_cache=False), as zkml.export proves."""
    import torch

    with torch.no_grad():
        out = module(x, use_cache=False) if hasattr(module, "generation_config") else module(x)
    return (out.logits if hasattr(out, "logits") else out).numpy()


def top1(a, b) -> float:
    """Share of positions (last axis = classes or vocabulary) where two score arrays rank the same entry first."""
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    k = a.shape[-1]
    return float(np.mean(a.reshape(-1, k).argmax(-1) == b.reshape(-1, k).argmax(-1)))


def run_entry(
    name: str, progress: Path | None = None, prove_budget_s: float | None = None, one_circuit: bool = False
) -> dict:
    """One gallery entry end to end in this process. Raises ZKMLError on a refusal (``r`` holds what was done)."""
    import resource

    import numpy as np
    import torch

    import zkml
    from models import architectures as A

    torch.set_num_threads(1)
    e = A.entry(name)
    r: dict = {"stage": "build"}

    def mark(**kw):
        r.update(kw)
        if progress is not None:
            progress.write_text(json.dumps(r))

    mark()
    module, sample = e.make()
    mark(params=int(sum(p.numel() for p in module.parameters())), input=[str(sample.dtype), list(sample.shape)])
    xs = inputs_like(sample)
    mark(stage="export")
    t0 = time.perf_counter()
    model = zkml.export(module, sample)
    mark(export_s=round(time.perf_counter() - t0, 2), export_error=model.parity["max_abs_error"], stage="compile")
    t0 = time.perf_counter()
    batch = np.stack([x.numpy()[0] for x in xs])
    split = e.max_logrows and not one_circuit
    circuit = zkml.compile(model, batch, **({"max_logrows": e.max_logrows} if split else {}))
    segments = len(getattr(circuit, "segments", ())) or 1
    est = zkml.estimate(circuit)
    mark(
        compile_s=round(time.perf_counter() - t0, 2),
        logrows=circuit.logrows,
        rows=circuit.num_rows,
        segments=segments,
        predicted_peak_gb=round(est.peak_memory_bytes / 1e9, 2),
        predicted_prove_s=round(est.prove_s, 1),
        stage="agreement",
    )
    agree, worst_torch = [], 0.0
    for x in xs:
        (got,) = circuit.run(x.numpy())
        with torch.no_grad():
            ref = torch_out(module, x)
        got = np.asarray(got).reshape(ref.shape)
        agree.append(top1(got, ref))
        worst_torch = max(worst_torch, float(np.abs(got - ref).max()))
    mark(
        top1_agreement=round(float(np.mean(agree)), 3),
        witness_max_abs_error=worst_torch,
        stage="setup",
    )
    if prove_budget_s is not None and est.prove_s > prove_budget_s:
        mark(not_proved=f"zkml.estimate predicts {est.prove_s:.0f} s to prove, over the {prove_budget_s:g} s budget")
        return r
    t0 = time.perf_counter()
    keys = circuit.setup()
    mark(setup_s=round(time.perf_counter() - t0, 2), stage="prove")
    t0 = time.perf_counter()
    proof = keys.prove(sample.numpy())
    mark(prove_s=round(time.perf_counter() - t0, 2), stage="verify")
    v = zkml.verify(proof, keys.vk)
    mark(verified=bool(v), **({} if v else {"reason": v.reason}))
    (out,) = v.outputs
    out = np.asarray(out, dtype=np.float64)
    (ort,) = model.run({model.inputs[0].name: sample.numpy()})
    with torch.no_grad():
        ref = torch_out(module, sample)
    mark(
        vs_onnxruntime=float(np.abs(out.reshape(ort.shape) - ort).max()),
        vs_torch=float(np.abs(out.reshape(ref.shape) - ref).max()),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        stage="done",
    )
    return r


def run_one(name: str, cap_s: float, prove_budget_s: float | None = None, one_circuit: bool = False) -> dict:
    """``run_entry`` in a child process, stopped after ``cap_s`` seconds (the record keeps the stage reached)."""
    d = Path(tempfile.mkdtemp(prefix="arch-"))
    out, progress = d / "r.json", d / "progress.json"
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.architectures import run_entry\n"
        f"import zkml, pathlib\nr = {{}}\n"
        f"try:\n    r = run_entry({name!r}, pathlib.Path({str(progress)!r}), {prove_budget_s!r}, {one_circuit!r})\n"
        f"except zkml.ZKMLError as e:\n"
        f"    r = json.loads(pathlib.Path({str(progress)!r}).read_text())\n"
        f"    r.update(refused=type(e).__name__, message=str(e)[:600])\n"
        f"open({str(out)!r}, 'w').write(json.dumps(r))"
    )
    t0 = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=cap_s, env=env)
    except subprocess.TimeoutExpired:
        r = json.loads(progress.read_text()) if progress.exists() else {}
        return {**r, "timeout": cap_s}
    if not out.exists():
        r = json.loads(progress.read_text()) if progress.exists() else {}
        return {**r, "crashed": p.returncode, "stderr": p.stderr[-500:]}
    r = json.loads(out.read_text())
    r["wall_s"] = round(time.perf_counter() - t0, 1)
    return r


def outcome(r: dict) -> str:
    if r.get("verified"):
        return "proved"
    if "refused" in r:
        return "refused"
    if "timeout" in r:
        return f"over the cap (at {r.get('stage', 'start')})"
    if "skipped" in r:
        return "not run"
    if "not_proved" in r:
        return "compiled, not proved"
    return "crashed" if "crashed" in r else "invalid proof"


def pattern(message: str) -> str:
    """The op or pattern a refusal names, from its text."""
    for rx in (
        r"operator '([\w:]+)'",
        r"unsupported op(?:eration)?s? [`'\"]?([\w:/.-]+)",
        r"\b(op|node) [`'\"]?([\w/.:-]+)",
        r"(Rust panic: [^\[.]*)",
        r"\[tract\] (running pass \w+)",
        r"(significant bit truncation[^.]*)",
        r"(values? too large for the column[^.]*)",
        r"(General synthesis error)",
    ):
        m = re.search(rx, message, re.IGNORECASE)
        if m:
            return m.group(m.lastindex)
    return message.split(":")[0][:80]


def main(argv=None) -> None:
    from models import architectures as A

    ap = argparse.ArgumentParser(prog="python -m benchmarks architectures")
    ap.add_argument("--models", default="", help="comma-separated names (default: all)")
    ap.add_argument("--cap", type=float, default=600.0, help="seconds per model")
    ap.add_argument(
        "--prove-budget",
        type=float,
        default=None,
        help="skip setup and proof when zkml.estimate predicts a longer proof (seconds; the record says so)",
    )
    ap.add_argument(
        "--one-circuit", action="store_true", help="compile without the entries' max_logrows (no split search)"
    )
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-arch-"))  # one home: the dev SRS is made once
    names = [m for m in args.models.split(",") if m] or [e.name for e in A.ENTRIES]
    out = Path(args.out)
    prior = out / "architectures.json"
    rows = {r["model"]: r for r in json.loads(prior.read_text())["rows"]} if prior.exists() else {}
    for name in names:
        e = A.entry(name)
        base = {"model": name, "library": e.library, "constructor": e.constructor, "reductions": e.reductions}
        if not A.available(e):
            r = {
                "skipped": f"{A.LIBRARY_MODULE[e.library]} is not installed (pip install 'zkml-prover[architectures]')"
            }
        else:
            r = run_one(name, args.cap, args.prove_budget, args.one_circuit)
            r["one_circuit"] = args.one_circuit
        rows[name] = {**base, "zkml": outcome(r), **r}
        print(f"{name:20s} {outcome(r):24s} {json.dumps(r)[:200]}", flush=True)
        write(rows, args.cap, out)


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def segments(r: dict) -> str:
    from models import architectures as A

    n = _fmt(r.get("segments"))
    return f"{n} (no split search)" if r.get("one_circuit") and A.entry(r["model"]).max_logrows else n


def write(rows: dict, cap: float | str, out: Path) -> None:
    from models import architectures as A

    order = [e.name for e in A.ENTRIES]
    ordered = [rows[k] for k in order if k in rows]
    res = {"benchmark": "architecture gallery through zkml", "cap_s": cap, "inputs": INPUTS, "rows": ordered}
    counts: dict[str, int] = {}
    for r in ordered:
        key = r["zkml"].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    lines = [
        f"{len(ordered)} models, {cap if isinstance(cap, str) else f'{cap:g} s'} cap each (export, compile, setup, "
        "prove, verify on 2 cores shared with other work; "
        "seeded random weights, nothing downloaded): " + ", ".join(f"{v} {k}" for k, v in counts.items()),
        "",
        "Errors are max abs differences of the proof's public outputs from onnxruntime's and torch's on the sample; "
        f"top-1 is the circuit's witness against the float model over {INPUTS} seeded inputs (every token position "
        "for the language models), with the witness's max abs error from torch over the same inputs: random weights give "
        "near-tied scores (a 4-way head's spread is a few hundredths), which an error of that size may reorder, so "
        "the error is the stricter measure. Peak MB is the child process's peak RSS; predicted peak GB is zkml.estimate's. "
        "A model compiled with --one-circuit was not offered the split search (its entry's max_logrows). Times move "
        "with the machine's load (up to 3x here: mistral's circuit is llama's, byte for byte).",
        "",
        "| model | library: constructor | reductions | zkml | logrows | rows | segments | prove s | peak MB | "
        "predicted peak GB "
        "| err vs onnxruntime | err vs torch | witness err (8 inputs) | top-1 | refusal, limit or note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in ordered:
        why = ""
        if "refused" in r:
            why = f"**{pattern(r['message']).strip()}** ({r['refused']} at {r.get('stage')}: {r['message'][:160]}...)"
        elif "timeout" in r:
            est = r.get("predicted_peak_gb")
            why = f"past {r['timeout']:g} s at {r.get('stage')}" + (
                f"; zkml.estimate: ~{r.get('predicted_prove_s')} s prove, {est} GB peak" if est is not None else ""
            )
        elif "skipped" in r:
            why = r["skipped"]
        elif "not_proved" in r:
            why = r["not_proved"]
        elif "crashed" in r:
            why = f"exit {r['crashed']}: {r.get('stderr', '')[-200:]}"
        why = "; ".join(w for w in [why, *A.entry(r["model"]).notes] if w)
        why = why.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {r['model']} | {r['library']}: `{r['constructor']}` | {r['reductions']} | {r['zkml']} | "
            f"{_fmt(r.get('logrows'))} | {_fmt(r.get('rows'))} | {segments(r)} | {_fmt(r.get('prove_s'))} | "
            f"{_fmt(r.get('peak_rss_mb'))} | {_fmt(r.get('predicted_peak_gb'))} | {_fmt(r.get('vs_onnxruntime'))} | {_fmt(r.get('vs_torch'))} | "
            f"{_fmt(r.get('witness_max_abs_error'))} | {_fmt(r.get('top1_agreement'))} | {why} |"
        )
    lines += ["", "What the gallery changes besides sizes (models/architectures.py):", ""]
    lines += [f"- {n}" for n in A.NOTES]
    write_results("architectures", res, "\n".join(lines), out, echo=False)


if __name__ == "__main__":
    main()
