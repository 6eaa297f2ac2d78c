"""ezkl's own example models, run through zkml: what ezkl proves, zkml must prove; the rest, refuse clearly.

The corpus (``shared/corpus/ezkl-examples``, beside the clone; ``ZKML_CORPUS`` overrides) holds
``<name>/network.onnx`` and ``<name>/input.json`` per model, and a README table with ezkl 23.0.5's
measured status. For each model, in its own process with a time cap, zkml loads the ONNX, compiles
it calibrated on the sample input, sets up keys (dev SRS), proves the sample and verifies the proof.

    python -m benchmarks corpus [--models a,b] [--cap 120] [--max-logrows K|auto]   -> results/corpus.{json,md}

With ``--max-logrows``, a model over 2^K rows is split into linked segments (split proving); the record
then says how many segments, and the child's peak RSS.
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


def corpus_dir() -> Path | None:
    env = os.environ.get("ZKML_CORPUS")
    d = Path(env) if env else ROOT.parent / "shared" / "corpus" / "ezkl-examples"
    return d if (d / "README.md").is_file() else None


def ezkl_status(corpus: Path) -> dict[str, dict]:
    """The README's table: ``{name: {"passes": bool, "logrows": int|None, "rows": int|None, "text": str}}``."""
    out = {}
    for line in (corpus / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*([\w.-]+)\s*\|\s*(.+?)\s*\|$", line)
        if not m or m.group(1) in ("model", "---") or not (corpus / m.group(1)).is_dir():
            continue
        text = m.group(2)
        nums = re.search(r"logrows (\d+), (\d+) rows", text)
        out[m.group(1)] = {
            "passes": text.startswith("mock passes"),
            "text": text,
            "logrows": int(nums.group(1)) if nums else None,
            "rows": int(nums.group(2)) if nums else None,
        }
    return out


# why a model ezkl's mock passes is refused: the mock is not a proof about an input of it
EXPLAINED = {
    "arange": "a constant graph (one Constant node, no input): ezkl's mock only checks that the circuit's "
    "constant equals its own public output; there is no input, private or public, for a proof to be about",
    "self_attention": "repaired at load (opset 10 -> 11: Equal on floats; shapes folded); its sample input is 1.0 "
    "everywhere, so layernorm /ln_1's denominator sqrt(var + eps) is sqrt(1e-5) = 0.0032, under half "
    "a step at ezkl's scale 7: it rounds to 0 and /ln_1/Div overflows ('integer ... is too large to be "
    "represented by base 16384 and n 2', ezkl's General synthesis error, in ezkl as in zkml); on a "
    "random input ezkl's default settings (scale 7) need about 4.8 million rows (2^23), beyond this machine",
    "nanoGPT": "repaired at load (opset 10 -> 11: Equal on floats; 439 nodes folded to 196); zkml.estimate on its "
    "sample input: 2^25 rows (24.2 million used, width 5.5), a 785 GB proving key and about 1.5 TB peak "
    "memory, far past the 2^21 rows this machine proves in one circuit: compiled, not proved",
}


def file_inputs(model, x) -> tuple[object, list[int] | None]:
    """The entries of an input file meant for the graph's inputs. A file with more entries than the graph has
    inputs, for a graph whose inputs are named ``input<K>`` (an exporter dropped the inputs the graph never
    reads: bitwise_ops keeps ``input2``, ``input3`` of four), gives entries K; any other file is passed whole."""
    names = [t.name for t in model.inputs]
    picks = [int(m.group(1)) if (m := re.fullmatch(r"input_?(\d+)", n)) else None for n in names]
    if isinstance(x, list) and len(x) > len(names) and None not in picks and max(picks) < len(x):
        return [x[k] for k in picks], picks
    return x, None


def rewrites(model) -> list[dict]:
    """What zkml's loader rewrote in the graph before ezkl saw it (the ONNX metadata entry ``zkml.rewrites``)."""
    import onnx

    props = {p.key: p.value for p in onnx.load_model_from_string(model.onnx_bytes).metadata_props}
    return json.loads(props.get("zkml.rewrites", "[]"))


def prove_example(example: Path) -> dict:
    """zkml end to end on one corpus model (in this process). Returns a record; raises ZKMLError on refusal."""
    import zkml
    from zkml.internals import load_input_file

    r: dict = {}
    t0 = time.perf_counter()
    model = zkml.load_model(example / "network.onnx")
    x, picked = file_inputs(model, load_input_file(example / "input.json"))
    if picked is not None:
        r["file_entries"] = picked
    done = rewrites(model)
    if done:
        r["rewrites"] = sorted({w["rewrite"] for w in done})
    k = os.environ.get("ZKML_CORPUS_MAX_LOGROWS")
    circuit = zkml.compile(model, x, **({"max_logrows": k if k == "auto" else int(k)} if k else {}))
    r.update(
        compile_s=round(time.perf_counter() - t0, 2),
        logrows=circuit.logrows,
        rows=circuit.num_rows,
        max_abs_error=circuit.report.max_abs_error,
        segments=len(getattr(circuit, "segments", ())) or 1,
    )
    t0 = time.perf_counter()
    keys = circuit.setup()
    r["setup_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    proof = keys.prove(x)
    r["prove_s"] = round(time.perf_counter() - t0, 2)
    v = zkml.verify(proof, keys.vk)
    r["verified"] = bool(v)
    if not v:
        r["reason"] = v.reason
    import resource

    r["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return r


def run_one(example: Path, cap_s: float) -> dict:
    """``prove_example`` in a child process, stopped after ``cap_s`` seconds."""
    out = Path(tempfile.mkdtemp(prefix="corpus-")) / "r.json"
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.corpus import prove_example; import zkml\n"
        f"try:\n    r = prove_example(__import__('pathlib').Path({str(example)!r}))\n"
        f"except zkml.ZKMLError as e:\n    r = {{'refused': type(e).__name__, 'message': str(e)[:300]}}\n"
        f"open({str(out)!r}, 'w').write(json.dumps(r))"
    )
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=cap_s)
    except subprocess.TimeoutExpired:
        return {"timeout": cap_s}
    if not out.exists():
        return {"crashed": p.returncode, "stderr": p.stderr[-500:]}
    r = json.loads(out.read_text())
    r["wall_s"] = round(time.perf_counter() - t0, 1)
    return r


def outcome(r: dict) -> str:
    if r.get("verified"):
        return "proved"
    if "refused" in r:
        return "refused"
    if "timeout" in r:
        return "timeout"
    return "crashed" if "crashed" in r else "invalid proof"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks corpus")
    ap.add_argument("--models", default="", help="comma-separated names (default: all)")
    ap.add_argument("--cap", type=float, default=120.0, help="seconds per model")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--max-logrows", help="split models over 2^K rows (K, or auto)")
    args = ap.parse_args(argv)
    if args.max_logrows:
        os.environ["ZKML_CORPUS_MAX_LOGROWS"] = args.max_logrows
    corpus = corpus_dir()
    if corpus is None:
        sys.exit("no corpus: set ZKML_CORPUS to the ezkl-examples folder")
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-corpus-"))
    status = ezkl_status(corpus)
    names = [m for m in args.models.split(",") if m] or sorted(status)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # results are merged by model into an existing corpus.json and written after every model,
    # so a run cut short keeps what it measured and a later run can fill in the rest
    prior = out / "corpus.json"
    rows = {r["model"]: r for r in json.loads(prior.read_text())["rows"]} if prior.exists() else {}
    for name in names:
        r = run_one(corpus / name, args.cap)
        rows[name] = {"model": name, "ezkl": status[name]["text"], "zkml": outcome(r), **r}
        print(f"{name:24s} {outcome(r):9s} {json.dumps(r)[:160]}", flush=True)
        write(rows, args.cap, out)


def write(rows: dict, cap: float, out: Path) -> None:
    ordered = [rows[k] for k in sorted(rows)]
    res = {"benchmark": "ezkl example corpus through zkml", "cap_s": cap, "rows": ordered}
    counts = {
        k: sum(r["zkml"] == k for r in ordered) for k in ("proved", "refused", "timeout", "crashed", "invalid proof")
    }
    lines = [
        f"{len(ordered)} models, {cap:g} s cap each (compile + setup + prove + verify, 2 cores): "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v),
        "",
        "| model | ezkl 23.0.5 (mock, its recommended flow) | zkml (compile, setup, prove, verify) | logrows | rows | segments | prove s | peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in ordered:
        detail = r["zkml"] + (f": {r['refused']}" if "refused" in r else "")
        detail += f" ({EXPLAINED[r['model']]})" if r["zkml"] != "proved" and r["model"] in EXPLAINED else ""
        detail += f" (rewrites: {', '.join(r['rewrites'])})" if r.get("rewrites") else ""
        detail += f" (input file entries {r['file_entries']})" if r.get("file_entries") else ""
        lines.append(
            f"| {r['model']} | {r['ezkl']} | {detail} | {r.get('logrows', '-')} | {r.get('rows', '-')} | "
            f"{r.get('segments', '-')} | {r.get('prove_s', '-')} | {r.get('peak_rss_mb', '-')} |"
        )
    write_results("corpus", res, "\n".join(lines), out, echo=False)


if __name__ == "__main__":
    main()
