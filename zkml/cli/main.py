"""``prove-model``: each subcommand is a thin wrapper over one public zkml function.

Exit codes: 0 success, 1 an invalid proof or a ZKMLError, 2 a usage error.
Imports nothing heavy at module level, so ``--help`` is instant and never loads torch.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import ZKMLError
from .common import ENV_HELP, _dev_warning, _emit, _json_opt, _load_input, _State


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=ENV_HELP)
@click.option(
    "--home",
    envvar="ZKML_HOME",
    type=click.Path(file_okay=False),
    help="Cache directory [env: ZKML_HOME; default ~/.cache/zkml].",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.version_option(package_name="zkml-prover")
@click.pass_context
def cli(ctx: click.Context, home: str | None, quiet: bool) -> None:
    """Prove that an ML model produced an output on a private input, and verify it."""
    if home:
        os.environ["ZKML_HOME"] = str(Path(home).expanduser().resolve())
    ctx.obj = _State(quiet)


_srs_opt = click.option(
    "--srs",
    envvar="ZKML_SRS",
    type=click.Path(dir_okay=False),
    help="Ceremony SRS file [env: ZKML_SRS]; default: a cached INSECURE dev SRS.",
)
_srs_sha_opt = click.option(
    "--srs-sha256",
    envvar="ZKML_SRS_SHA256",
    help="Pin the SRS file's sha256 (the ceremony's published digest) [env: ZKML_SRS_SHA256].",
)
_setup_prod_opt = click.option(
    "--production",
    is_flag=True,
    help="Refuse any SRS but a ceremony SRS whose digest is pinned (--srs-sha256) or known to zkml.",
)
_vis_opt = click.option(
    "--visibility",
    help="input/output: private|public|hashed; params: fixed|committed|hashed "
    "(private-unbound: private weights bound to nothing). Fields given override the --spec's one by one "
    "[default: input=private,output=public,params=fixed].",
)
_target_opt = click.option(
    "--target",
    type=click.Choice(["resources", "accuracy", "fastest"]),
    help="fastest: search settings for the fastest proof within --max-error (cached) [default: resources, or the --spec's].",
)
_spec_opt = click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False),
    help="A circuit spec JSON: visibility, target and compile options such as scales (e.g. circuits/wine_attention.json).",
)


def _compile_args(spec_path: str | None, visibility: str | None, target: str | None) -> tuple[Any, str, dict, Any]:
    """(visibility, target, options, spec): flags first, then the spec file, then the defaults (zkml.CircuitSpec)."""
    from ..circuit.spec import CircuitSpec

    spec = CircuitSpec.load(spec_path, visibility=visibility, target=target)
    return spec.visibility, spec.target, dict(spec.options), spec


def _check_tolerance(circuit, spec, spec_path: str | None) -> None:
    """The spec's tolerance, checked on the calibration report (CircuitSpec.check)."""
    spec.check(circuit)


def _max_logrows(value: str | None):
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("a number (log2 of the rows each segment may use) or 'auto'") from None


_max_logrows_opt = click.option(
    "--max-logrows",
    "max_logrows",
    callback=lambda ctx, p, v: _max_logrows(v),
    help="Split the model into segments of at most 2^K rows when it does not fit (K, or "
    "'auto': what fits this machine's memory). A model that fits stays one circuit.",
)
_plan_workers_opt = click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Plan the split for this many one-core workers: the segment size with the shortest predicted "
    "critical path (at most one segment per worker unless --max-memory needs more).",
)
_max_memory_opt = click.option(
    "--max-memory",
    "max_memory",
    help="Plan the split so each worker's proof needs at most this much memory (e.g. 4GB = 4*10^9 bytes, 3.5GiB).",
)
_max_error_opt = click.option(
    "--max-error",
    type=float,
    help="With --target fastest: the largest output error allowed "
    "(refused with any other target, where it would be ignored).",
)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Input: ezkl JSON, JSON array, .npy or .npz.",
)
@click.option(
    "--calibration",
    type=click.Path(dir_okay=False),
    help="Calibration data. Without it, the circuit is calibrated on the private input itself: nothing of the "
    "input is kept, but the public settings are then chosen for it and reveal its scale.",
)
@click.option(
    "-o",
    "--output",
    "--out",
    "out_dir",
    default="zkml-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where proof.json, vk/ and summary.json go.",
)
@_vis_opt
@_target_opt
@_max_error_opt
@_max_logrows_opt
@_spec_opt
@_srs_opt
@_srs_sha_opt
@_setup_prod_opt
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="A split model: prove its segments on this many processes at once (with --max-memory, also plan the "
    "split for them).",
)
@_max_memory_opt
@_json_opt
@click.pass_obj
def run(
    st: _State,
    model: str,
    input_path: str,
    calibration: str | None,
    out_dir: str,
    visibility: str | None,
    target: str | None,
    max_error: float | None,
    max_logrows,
    spec_path: str | None,
    srs: str | None,
    srs_sha256: str | None,
    production: bool,
    workers: int | None,
    max_memory: str | None,
    as_json: bool,
) -> None:
    """Compile (cached) + setup (cached) + prove + verify MODEL on INPUT."""
    import zkml

    vis, target, options, tolerance = _compile_args(spec_path, visibility, target)
    with st.stage("load"):
        m = zkml.load_model(model)
        x = _load_input(input_path)
        cal = _load_input(calibration) if calibration else x
    with st.stage("compile"):
        circuit = zkml.compile(
            m,
            cal,
            visibility=vis,
            target=target,
            max_error=max_error,
            private_data=calibration is None,
            max_logrows=max_logrows,
            **({"workers": workers, "max_memory": max_memory} if max_memory else {}),
            **options,
        )
    _check_tolerance(circuit, tolerance, spec_path)
    with st.stage("setup"):
        keys = circuit.setup(srs=srs, production=production, srs_sha256=srs_sha256)
    segments = circuit.units
    with st.stage("prove"):
        proof = keys.prove(x, workers=workers)
    with st.stage("verify"):
        result = zkml.verify(proof, keys.vk)
    out = Path(out_dir)
    proof.save(out / "proof.json")
    keys.vk.save(out / "vk")
    summary = {
        "ok": bool(result),
        "reason": result.reason,
        "model": str(model),
        "model_id": result.model_id or keys.id,
        "model_sha256": m.hash,
        "outputs": [o.tolist() for o in result.outputs],
        "hashes": result.hashes,
        "proof": str(out / "proof.json"),
        "vk": str(out / "vk"),
        "logrows": circuit.logrows,
        "num_rows": circuit.num_rows,
        "dev_srs": keys.dev_srs,
        "srs": keys.srs.kind,
        "visibility": circuit.visibility.to_json(),
        "cached": {"circuit": circuit.cached, "keys": keys.cached},
        "calibration": circuit.report.to_json(),
        "proof_bytes": proof.size,
        "timings": dict(st.timings),
        "weights_commitment": result.weights_commitment,
        "segments": segments,
    }
    from ..support.files import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    reuse = (
        "reused cached circuit and keys"
        if circuit.cached and keys.cached
        else (
            "reused cached circuit"
            if circuit.cached
            else "compiled and set up"
            if calibration is None
            else "compiled and set up (now cached)"
        )
    )
    lines = [
        f"{'verified' if result else 'NOT verified: ' + str(result.reason)}  {model}",
        f"  outputs   {_shown(result, circuit.visibility.output)}",
        f"  model id  {result.model_id or keys.id}",
        f"  circuit   2^{circuit.logrows} rows ({circuit.num_rows} used"
        + (f", {segments} segments linked by commitments" if segments > 1 else "")
        + f"), {reuse}",
        f"  accuracy  {circuit.report}",
        f"  proof     {out / 'proof.json'} ({proof.size} bytes{f' in {proof.units} segments' if proof.units > 1 else ''})",
        "  time      " + ", ".join(f"{k} {v:.2f}s" for k, v in st.timings.items()),
        *_dev_warning(keys.dev_srs),
    ]
    if calibration is None and not st.quiet:
        click.echo(
            "note: calibrated on the private input (no --calibration): nothing of it is kept and the circuit is "
            "never reused, but its public settings were chosen for this input and reveal its scale",
            err=True,
        )
    _emit(as_json, summary, lines)
    if not result:
        sys.exit(1)


def _shown(result, visibility: str | None = None) -> str:
    """Outputs as the verifying key decodes them, rounded and shaped like the model's outputs (full precision in
    --json): values, hashes, or why there are none."""
    import numpy as np

    if not result:
        return "(none: the proof did not verify)"
    if result.outputs:
        return "; ".join(
            np.array2string(np.asarray(o), precision=4, separator=", ", suppress_small=True).replace("\n", "")
            for o in result.outputs
        )
    if result.hashes:
        return str(result.hashes)
    return f"({visibility})" if visibility and visibility != "public" else "(private)"


@cli.command("export")
@click.argument("factory", metavar="PYFILE:FACTORY")
@click.option(
    "--sample", required=True, type=click.Path(dir_okay=False), help="Sample input (fixes the static shapes)."
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the .onnx file.")
@click.option("--opset", default=18, show_default=True, type=int)
@click.option(
    "--sklearn-output",
    type=click.Choice(["decision", "predict", "proba"]),
    help="A scikit-learn estimator's output: decision (a classifier's scores), predict (its class index, or a "
    "regressor's prediction) or proba (probabilities: a softmax, far more rows) [default: the cheapest "
    "to prove: decision, proba for tree classifiers, predict for regressors].",
)
@click.option(
    "--exporter",
    type=click.Choice(["auto", "torchscript", "dynamo"]),
    default="auto",
    show_default=True,
    help="The torch exporter: auto tries TorchScript, then dynamo when TorchScript fails or does not match torch.",
)
@_json_opt
@click.pass_obj
def export_cmd(
    st: _State,
    factory: str,
    sample: str,
    output: str,
    opset: int,
    sklearn_output: str | None,
    exporter: str,
    as_json: bool,
) -> None:
    """Export a torch model or a fitted scikit-learn estimator (XGBoost, LightGBM included) built by FACTORY() in
    PYFILE to ONNX (parity-checked). For an estimator, --sample holds rows of X."""
    import zkml

    from ..model.pyfile import load_factory

    obj = load_factory(factory)
    np = __import__("numpy")
    with st.stage("export"):
        x = np.asarray(_load_input(sample))  # integers stay integers: token ids for a model that embeds them
        m = zkml.export(obj, x, opset=opset, sklearn_output=sklearn_output, exporter=exporter)
    m.save(output)
    parity = dict(m.parity or {})
    info = {
        "ok": True,
        "onnx": output,
        "sha256": m.hash,
        "inputs": [t.to_json() for t in m.inputs],
        "outputs": [t.to_json() for t in m.outputs],
        "parity": parity,
        "source": m.source,
        "sklearn_output": parity.get("output"),
        "output_note": parity.get("output_note"),
        "exporter": parity.get("exporter"),
        "timings": st.timings,
    }
    against = "scikit-learn" if m.source.startswith("sklearn:") else "torch"
    _emit(
        as_json,
        info,
        [
            f"wrote {output}: {m}",
            f"  parity vs {against}: max abs error {m.parity['max_abs_error']:.3g}",
            *(
                [f"  output    {parity.get('output', 'output')}: {parity['output_note']}"]
                if parity.get("output_note")
                else []
            ),
            *([f"  exporter  {parity['exporter']}: {parity['exporter_note']}"] if parity.get("exporter") else []),
        ],
    )


@cli.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--calibration", required=True, type=click.Path(dir_okay=False), help="Calibration samples (N x input shape)."
)
@_target_opt
@_max_error_opt
@_max_logrows_opt
@_plan_workers_opt
@_max_memory_opt
@_vis_opt
@_spec_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the circuit.")
@_json_opt
@click.pass_obj
def compile_cmd(
    st: _State,
    model: str,
    calibration: str,
    target: str | None,
    max_error: float | None,
    max_logrows,
    workers: int | None,
    max_memory: str | None,
    visibility: str | None,
    spec_path: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Compile MODEL into a circuit calibrated on DATA."""
    import zkml

    vis, target, options, tolerance = _compile_args(spec_path, visibility, target)
    with st.stage("compile"):
        c = zkml.compile(
            zkml.load_model(model),
            _load_input(calibration),
            visibility=vis,
            target=target,
            max_error=max_error,
            max_logrows=max_logrows,
            workers=workers,
            max_memory=max_memory,
            **options,
        )
    _check_tolerance(c, tolerance, spec_path)
    c.save(output)
    info = {
        "ok": True,
        "circuit": output,
        "logrows": c.logrows,
        "num_rows": c.num_rows,
        "cached": c.cached,
        "segments": len(getattr(c, "segments", ())) or 1,
        "visibility": c.visibility.to_json(),
        "calibration": c.report.to_json(),
        "timings": st.timings,
    }
    plan = zkml.plan(c, workers=workers) if workers or max_memory else None
    if plan is not None:
        info["plan"] = plan.to_json()
    _emit(
        as_json,
        info,
        [
            f"wrote {output}: 2^{c.logrows} rows ({c.num_rows} used){' [cached]' if c.cached else ''}",
            f"  accuracy  {c.report}",
            *([f"  plan      {plan}"] if plan else []),
        ],
    )


@cli.command("setup")
@click.argument("circuit", type=click.Path(file_okay=False))
@_srs_opt
@_srs_sha_opt
@_setup_prod_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the keys.")
@_json_opt
@click.pass_obj
def setup_cmd(
    st: _State, circuit: str, srs: str | None, srs_sha256: str | None, production: bool, output: str, as_json: bool
) -> None:
    """Generate proving and verifying keys for CIRCUIT."""
    import zkml

    with st.stage("setup"):
        c = zkml.load(circuit, kinds=("circuit", "split_circuit"))
        keys = c.setup(srs=srs, production=production, srs_sha256=srs_sha256)
    keys.save(output)
    info = {
        "ok": True,
        "keys": output,
        "vk": str(Path(output) / "vk"),
        "model_id": keys.id,
        "dev_srs": keys.dev_srs,
        "cached": keys.cached,
        "srs": {**keys.srs.to_json(), "kind": keys.srs.kind},
        "timings": st.timings,
    }
    _emit(
        as_json,
        info,
        [
            f"wrote {output} (verifying key in {Path(output) / 'vk'}){' [cached]' if keys.cached else ''}",
            f"  model id  {keys.id}",
            f"  srs       {keys.srs.describe()}",
            *_dev_warning(keys.dev_srs),
        ],
    )


@cli.command("prove")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="One input.")
@click.option(
    "--batch",
    "batch_path",
    type=click.Path(exists=True),
    help="Many inputs: a .jsonl file (one per line) or a directory of input files.",
)
@click.option("-o", "--output", required=True, type=click.Path(), help="Proof JSON (or, with --batch, a directory).")
@click.option(
    "--workers",
    type=int,
    help="Processes for --batch (default: this machine's cores), or for the segments of one split inference.",
)
@click.option(
    "--ray-address",
    help="Prove --batch (or the segments of one split inference) on this Ray cluster "
    "(host:port, or 'auto') instead of local processes.",
)
@click.option(
    "--weights",
    "weights_path",
    type=click.Path(dir_okay=False),
    help="Keys with committed weights: prove with this model's weights (same graph) under the same key.",
)
@_json_opt
@click.pass_obj
def prove_cmd(
    st: _State,
    keys: str,
    input_path: str | None,
    batch_path: str | None,
    output: str,
    workers: int | None,
    ray_address: str | None,
    weights_path: str | None,
    as_json: bool,
) -> None:
    """Prove the model in KEYS on INPUT (or on every input of --batch, resumably)."""
    import zkml

    if bool(input_path) == bool(batch_path):
        raise click.UsageError("give exactly one of --input and --batch")
    from ..keys.split import load_keys

    k = load_keys(keys)
    if weights_path:
        if batch_path:
            raise click.UsageError("--weights works with --input (a batch proves the keys' own model)")
        k = k.with_weights(weights_path)
    if batch_path:
        ids, xs = _batch_inputs(Path(batch_path))
        with st.stage("prove-batch"):  # prove_many's 'batch' events drive the display (a bar on a terminal)
            results = zkml.prove_many(k, xs, workers=workers, out_dir=output, ids=ids, cluster=ray_address)
        errs = [r.__dict__ for r in results if isinstance(r, zkml.BatchError)]
        info = {
            "ok": not errs,
            "proved": len(results) - len(errs),
            "failed": len(errs),
            "errors": errs,
            "out": output,
            "dev_srs": k.dev_srs,
            "timings": st.timings,
        }
        _emit(
            as_json,
            info,
            [
                f"proved {info['proved']} of {len(results)} inputs into {output}",
                *[f"  failed {e['id']}: {e['error']}: {e['message']}" for e in errs],
                *_dev_warning(k.dev_srs),
            ],
        )
        if errs:
            sys.exit(1)
        return
    if ray_address and k.units == 1:
        raise click.UsageError(
            "--ray-address spreads a --batch, or the segments of a split model; one proof of one circuit runs here"
        )
    x = _load_input(input_path)
    with st.stage("prove"):
        proof = k.prove(x, workers=workers, cluster=ray_address)
    proof.save(output)
    info = {
        "ok": True,
        "proof": output,
        "model_id": proof.model_id,
        "key_id": k.vk.key_id,
        "outputs": [o.tolist() for o in proof.outputs],
        "hashes": proof.hashes,
        "weights_commitment": proof.weights_commitment,
        "dev_srs": proof.dev_srs,
        "logrows": k.circuit.logrows,
        "segments": proof.units,
        "proof_bytes": proof.size,
        "timings": {**st.timings, **proof.timings},
    }
    _emit(
        as_json,
        info,
        [
            f"wrote {output} ({proof.size} bytes{f' in {proof.units} segments' if proof.units > 1 else ''})",
            f"  outputs   {_shown(_Shown(proof.outputs, proof.hashes), k.vk.visibility['output'])}",
            f"  model id  {proof.model_id}",
            *_dev_warning(proof.dev_srs),
        ],
    )


class _Shown:
    """A proof this process made, shown like a verdict (its values are the circuit's own)."""

    def __init__(self, outputs: list, hashes: dict):
        self.outputs, self.hashes = outputs, hashes

    def __bool__(self) -> bool:
        return True


def _batch_inputs(path: Path) -> tuple[list[str], list]:
    """(ids, inputs) from a .jsonl file (ids = line numbers) or a directory (ids = file stems)."""
    from ..errors import InputError
    from ..model.inputs import unwrap_input_data

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".npy", ".npz"))
        if not files:
            raise InputError(
                "no .json, .npy or .npz files in the batch directory", where=path, hint="put one input per file"
            )
        return [p.stem for p in files], [_load_input(str(p)) for p in files]
    ids, xs = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise InputError(
                f"line {n} is not JSON: {err}", where=f"{path}:{n}", hint="one JSON input per line"
            ) from err
        ids.append(f"line{n}")
        xs.append(unwrap_input_data(obj, f"{path}:{n}"))
    return ids, xs


@cli.command("verify")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--vk", type=click.Path(file_okay=False), help="Verifying-key directory (or a keys directory).")
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False), help="A model bundle (.car) instead of --vk.")
@click.option(
    "--cid",
    "bundle_cid",
    help="With --bundle: the bundle's core CID you trust (prove-model bundle prints it; the root CID pins it "
    "too): a bundle with another core is refused.",
)
@click.option(
    "--vk-id",
    help="The model id you trust (the statement: with committed weights it covers the weights "
    "fingerprint; the bare key id pins the architecture only): another one is refused.",
)
@click.option(
    "--weights-commitment",
    help="Committed weights: accept only a proof made with the weights of this published "
    "fingerprint (read from the proof bytes).",
)
@_json_opt
@click.pass_obj
def verify_cmd(
    st: _State,
    proof: str,
    vk: str | None,
    bundle_path: str | None,
    bundle_cid: str | None,
    vk_id: str | None,
    weights_commitment: str | None,
    as_json: bool,
) -> None:
    """Verify PROOF against a verifying key or a bundle. Exit 0 if valid, 1 if not.

    Everything shown is decoded with the key; the proof file's own metadata is only compared with it."""
    from ..proof.proof import Proof
    from ..verifier.verification import verify

    if bool(vk) == bool(bundle_path):
        raise click.UsageError("give exactly one of --vk and --bundle")
    if bundle_cid and not bundle_path:
        raise click.UsageError("--cid pins a bundle: use it with --bundle")
    p = Proof.load(proof)
    b = None
    if bundle_path:
        from ..verifier.bundles import Bundle

        # the statement in the bundle's core (key and pinned weights fingerprint), refused unless it is the core
        # --cid pins and the model id --vk-id pins
        b = Bundle.load(bundle_path)
        against = b.verifying_key(id=vk_id, cid=bundle_cid)
    else:
        from ..keys.split import load_vk

        against = load_vk(vk, id=vk_id)
    with st.stage("verify"):
        result = verify(p, against, weights_commitment=weights_commitment)
    info = {
        "ok": bool(result),
        "reason": result.reason,
        "model_id": result.model_id,
        "key_id": result.key_id,
        "outputs": [o.tolist() for o in result.outputs],
        "hashes": result.hashes,
        "weights_commitment": result.weights_commitment,
        "weights_checked": result.weights_checked,
        "weights_note": result.weights_note,
        "pinned_model_id": against.id,
        "dev_srs": result.dev_srs,
        "srs_status": result.srs_status,
        "srs_name": result.srs_name,
        "srs_message": result.srs_message,
        "model_sha256": result.model_hash,
        # the bundle's own identifiers (its core CID is what a verifier pins, with the statement id pinned_model_id),
        # and the bare key's core CID, which proofs record
        "bundle_cid": b.core if b is not None else None,
        "bundle_root_cid": b.root if b is not None else None,
        "bundle_cid_checked": bundle_cid is not None,
        "key_core_cid": getattr(against, "core_cid", None),
        "segments": len(p.segments) or 1,
        "timings": st.timings,
    }
    line = "valid" if result else f"INVALID: {result.reason}"
    lines = [
        f"{line}  {proof}",
        f"  model id  {result.model_id}",
        f"  key id    {result.key_id}",
        f"  outputs   {_shown(result)}",
        f"  srs       {result.srs_status}: {result.srs_message}",
    ]
    if b is not None:
        lines.append(f"  bundle    core {b.core} ({'the pinned CID' if bundle_cid else 'not pinned: pass --cid'})")
    if result.weights_note:
        lines.append(f"  weights   {result.weights_commitment[:18]}… {result.weights_note}")
    if not result and against.weights_commitment:
        lines.append(f"  pinned    model {against.id} (weights {against.weights_commitment[:18]}…)")
    _emit(as_json, info, [*lines, *_dev_warning(result.dev_srs)])
    if not result:
        sys.exit(1)


@cli.command("estimate")
@click.argument("model", type=click.Path())
@click.option(
    "--calibration", type=click.Path(dir_okay=False), help="Calibration samples (needed when MODEL is an ONNX file)."
)
@_vis_opt
@_max_logrows_opt
@_plan_workers_opt
@_max_memory_opt
@_json_opt
@click.pass_obj
def estimate_cmd(
    st: _State,
    model: str,
    calibration: str | None,
    visibility: str | None,
    max_logrows,
    workers: int | None,
    max_memory: str | None,
    as_json: bool,
) -> None:
    """Predict rows, proving-key size, peak memory, setup and prove time of MODEL (an .onnx with --calibration, or a
    compiled circuit directory) on this machine, before spending them."""
    import zkml

    from ..circuit.breakdown import breakdown, for_estimate, lines, to_json

    p = Path(model)
    if p.is_dir():
        target = zkml.load(p, kinds=("circuit", "split_circuit"))
    else:
        if not calibration:
            raise click.UsageError("an ONNX model needs --calibration (it is compiled first, cached)")
        with st.stage("compile"):
            target = for_estimate(
                zkml.load_model(p), _load_input(calibration), visibility=visibility, max_logrows=max_logrows
            )
    est = zkml.estimate(target)
    with st.stage("breakdown"):
        parts = breakdown(target)
    plan = _estimate_plan(target, workers, max_memory, max_logrows) if workers or max_memory else None
    _emit(
        as_json,
        {
            "ok": True,
            **est.to_json(),
            "breakdown": to_json(parts),
            **({"plan": plan.to_json()} if plan else {}),
            "timings": st.timings,
        },
        [
            str(est),
            "  fits this machine" if est.fits else "  does NOT fit this machine: compile with --max-logrows auto",
            *(
                [
                    f"  plan: {plan}",
                    f"  compile with --workers {plan.workers}{f' --max-memory {max_memory}' if max_memory else ''}",
                ]
                if plan
                else []
            ),
            *lines(parts),
        ],
    )


def _estimate_plan(target, workers: int | None, max_memory: str | None, max_logrows):
    """A compiled split's own plan; for one circuit, the split the planner would choose (from the cost model:
    nothing more is compiled)."""
    import zkml

    from ..circuit.plan import choose_logrows, parse_memory

    cap = parse_memory(max_memory)
    if target.units > 1:  # a compiled split: its own segments, which the cap must hold
        plan = zkml.plan(target, workers=workers or 1)
        if cap is not None and plan.worker_memory_bytes > cap:
            from ..circuit.estimate import gb
            from ..errors import CompileError

            raise CompileError(
                f"this split circuit's largest segment needs {gb(plan.worker_memory_bytes)} per worker, over "
                f"--max-memory {gb(cap)}",
                where="max_memory",
                hint="compile the model again with --max-memory (and --workers) to plan smaller segments",
            )
        return plan
    return choose_logrows(
        target.settings,
        workers=workers or 1,
        max_memory=cap,
        max_logrows=max_logrows if isinstance(max_logrows, int) else None,
    )


@cli.command("commit")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("keys", type=click.Path(file_okay=False))
@_json_opt
@click.pass_obj
def commit_cmd(st: _State, model: str, keys: str, as_json: bool) -> None:
    """Print the public fingerprint of MODEL's weights under KEYS (committed weights), without proving.

    Publish it once; every proof made with these weights carries it, and `verify --weights-commitment` checks it."""
    import zkml

    _refuse_vk_dir(keys, "commit")
    k = zkml.Keys.load(keys)
    with st.stage("commit"):
        c = zkml.commit(model, k)
    info = {"ok": True, "weights_commitment": c, "model_id": k.id, "dev_srs": k.dev_srs, "timings": st.timings}
    _emit(as_json, info, [c, f"  model id  {k.id} (the key: one per architecture)", *_dev_warning(k.dev_srs)])


def _refuse_vk_dir(keys: str, stage: str) -> None:
    """A verifying-key directory where the keys are needed: say so, instead of "run setup again"."""
    from ..errors import ArtifactError

    p = Path(keys)
    if (p / "vk.json").is_file() and not (p / "keys.json").is_file():
        raise ArtifactError(
            "this is a verifying-key directory: it holds no proving key",
            stage=stage,
            where=p,
            hint=f"pass the keys directory that setup wrote (the one holding pk.key and vk/, e.g. "
            f"{p.parent if p.name == 'vk' else 'KEYS'}, not its vk/)",
        )


@cli.command("bundle")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .car file to write.")
@click.option(
    "--contract",
    "contract_dir",
    type=click.Path(file_okay=False),
    help="Include this contract (from `prove-model contract`).",
)
@click.option("--no-srs", is_flag=True, help="Leave the SRS file out (verifiers then need it themselves).")
@click.option(
    "--weights-commitment",
    help="Committed weights: the published fingerprint (prove-model commit) the bundle's "
    "statement pins; its model id then covers it.",
)
@_json_opt
@click.pass_obj
def bundle_cmd(
    st: _State,
    keys: str,
    output: str,
    contract_dir: str | None,
    no_srs: bool,
    weights_commitment: str | None,
    as_json: bool,
) -> None:
    """Write everything a verifier needs (and nothing private) as a CAR file; print its root CID.

    The core is the verifying statement (the key(s), and with --weights-commitment the fingerprint): verifiers pin
    its model id."""
    import zkml

    from ..keys.split import load_keys, load_vk

    p = Path(keys)
    src = load_keys(p) if (p / "keys.json").exists() or (p / "split.json").exists() else load_vk(p)
    c = zkml.VerifierContract.load(contract_dir) if contract_dir else None
    with st.stage("bundle"):
        b = zkml.bundle(src, c, include_srs=not no_srs, weights_commitment=weights_commitment)
        b.save(output)
    info = {
        "ok": True,
        "root_cid": b.root,
        "core_cid": b.core,
        "model_id": b.model_id,
        "key_id": b.key_id,
        "weights_commitment": b.weights_commitment,
        "compiled_sha256": b.compiled_sha256,
        "segments": b.segments,
        "car": output,
        "files": sorted(b.files),
        "bytes": Path(output).stat().st_size,
        "dev_srs": b.dev_srs,
        "timings": st.timings,
    }
    weights = (
        [f"  weights   {b.weights_commitment} (pinned: in the core, under the model id)"]
        if b.weights_commitment
        else []
    )
    _emit(
        as_json,
        info,
        [
            b.root,
            f"  model id  {b.model_id} (what verifiers pin: --vk-id)",
            f"  key id    {b.key_id}",
            *weights,
            f"  wrote {output} ({info['bytes']:,} bytes): {', '.join(info['files'])}",
            f"  core      {b.core} (what verifiers pin: verify --bundle {output} --cid)",
            *_dev_warning(b.dev_srs),
        ],
    )


@cli.command("bench", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_cmd(args: tuple[str, ...]) -> None:
    """Run the benchmark harness (zkml vs ezkl's recommended flow); ARGS go to it (e.g. --models a,b --lenet)."""
    import subprocess

    from ..errors import DependencyError
    from ..support.checkout import find_upwards

    harness = find_upwards("benchmarks/harness.py")
    if harness is not None:
        sys.exit(subprocess.call([sys.executable, "-m", "benchmarks", "harness", *args], cwd=harness.parents[1]))
    raise DependencyError(
        "the benchmark harness lives in the zkml checkout (benchmarks/)",
        stage="bench",
        hint="run prove-model bench from a zkml checkout",
    )


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@_json_opt
def inspect(path: str, as_json: bool) -> None:
    """Say what a model, circuit, keys, verifying key, proof or contract is."""
    from .inspect import describe

    info, lines = describe(Path(path))
    _emit(as_json, info, lines)


from .cache_cmd import cache_group  # noqa: E402
from .chain_cmds import contract_cmd, deploy_cmd, record_onchain_cmd, verify_onchain_cmd  # noqa: E402
from .page_cmd import page_cmd  # noqa: E402

for _cmd in (contract_cmd, deploy_cmd, verify_onchain_cmd, record_onchain_cmd, cache_group):
    cli.add_command(_cmd)
cli.add_command(page_cmd)
from .serve_cmd import serve_cmd  # noqa: E402

cli.add_command(serve_cmd)
from .srs_cmd import srs_group  # noqa: E402

cli.add_command(srs_group)
from .report_cmd import report_cmd  # noqa: E402

cli.add_command(report_cmd)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args  # --json means JSON on failure too: one object on stdout, the same exit codes
    try:
        cli.main(args=args, prog_name="prove-model", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        if as_json:
            _json_error("UsageError", None, e.format_message(), "see prove-model COMMAND --help")
        else:
            e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except ZKMLError as e:
        if os.environ.get("ZKML_DEBUG"):
            raise
        if as_json:
            _json_error(type(e).__name__, e.stage, e.message, e.hint, str(e.where) if e.where is not None else None)
        else:
            click.echo(click.style(f"{type(e).__name__}: {e}", fg="red"), err=True)
        sys.exit(1)
    except Exception as e:  # a bug in zkml or a dependency: still one line unless debugging
        if os.environ.get("ZKML_DEBUG"):
            raise
        message = f"{type(e).__name__}: {e}"
        if as_json:
            _json_error("InternalError", None, message, "run with ZKML_DEBUG=1 for a traceback")
        else:
            click.echo(
                click.style(f"InternalError: {message} (run with ZKML_DEBUG=1 for a traceback)", fg="red"), err=True
            )
        sys.exit(1)


def _json_error(name: str, stage: str | None, message: str, hint: str | None, where: str | None = None) -> None:
    click.echo(
        json.dumps({"ok": False, "error": name, "stage": stage, "message": message, "hint": hint, "where": where})
    )


if __name__ == "__main__":
    main()
