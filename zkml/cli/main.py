"""``prove-model``: each subcommand is a thin wrapper over one public zkml function.

Exit codes: 0 success, 1 an invalid proof or a ZKMLError, 2 a usage error.
Imports nothing heavy at module level, so ``--help`` is instant and never loads torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import click

from ..errors import ZKMLError

ENV_HELP = ("Environment: ZKML_HOME (cache), ZKML_CACHE_MAX (cache size cap), ZKML_SRS (SRS file), ZKML_SRS_SHA256 (its pinned digest), ZKML_RPC_URL (JSON-RPC nodes), ZKML_PRIVATE_KEY / ZKML_KEYSTORE + ZKML_KEYSTORE_PASSWORD (the account that sends transactions), ZKML_NODE_MODULES (solc-js, anvil), ZKML_ANVIL (anvil binary), ZKML_DEBUG=1 (tracebacks).")


class _State:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; show a live spinner with the elapsed time on a terminal's stderr."""
        t0 = time.perf_counter()
        status = None
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console

            status = Console(stderr=True).status(f"{name}…")
            status.start()
        try:
            yield
        finally:
            if status is not None:
                status.stop()
            self.timings[name] = round(time.perf_counter() - t0, 4)
            if not self.quiet and sys.stderr.isatty():
                click.echo(f"  {name:<10} {self.timings[name]:.2f}s", err=True)


def _emit(as_json: bool, obj: dict, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, default=_jsonable))
    else:
        for line in lines:
            click.echo(line)


def _jsonable(o: Any):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _dev_warning(dev: bool) -> list[str]:
    return [click.style("WARNING: made with an INSECURE dev SRS (generated locally). Pass --srs FILE (or ZKML_SRS) "
                        "with a ceremony SRS for production.", fg="yellow")] if dev else []


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=ENV_HELP)
@click.option("--home", envvar="ZKML_HOME", type=click.Path(file_okay=False), help="Cache directory [env: ZKML_HOME; default ~/.cache/zkml].")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.version_option(package_name="zkml")
@click.pass_context
def cli(ctx: click.Context, home: str | None, quiet: bool) -> None:
    """Prove that an ML model produced an output on a private input, and verify it."""
    if home:
        os.environ["ZKML_HOME"] = str(Path(home).expanduser().resolve())
    ctx.obj = _State(quiet)


_json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
_srs_opt = click.option("--srs", envvar="ZKML_SRS", type=click.Path(dir_okay=False),
                        help="Ceremony SRS file [env: ZKML_SRS]; default: a cached INSECURE dev SRS.")
_srs_sha_opt = click.option("--srs-sha256", envvar="ZKML_SRS_SHA256",
                            help="Pin the SRS file's sha256 (the ceremony's published digest) [env: ZKML_SRS_SHA256].")
_setup_prod_opt = click.option("--production", is_flag=True,
                               help="Refuse any SRS but a ceremony SRS whose digest is pinned (--srs-sha256) or known to zkml.")
_vis_opt = click.option("--visibility", help="input/output: private|public|hashed; params: fixed|committed|hashed "
                        "(private-unbound: private weights bound to nothing). Fields given override the --spec's one by one "
                        "[default: input=private,output=public,params=fixed].")
_target_opt = click.option("--target", type=click.Choice(["resources", "accuracy", "fastest"]),
                           help="fastest: search settings for the fastest proof within --max-error (cached) [default: resources, or the --spec's].")
_spec_opt = click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
                         help="A circuit spec JSON: visibility, target and compile options such as scales (e.g. circuits/wine_attention.json).")
# circuits/*.json: description and notes are documentation; every other field is used
SPEC_KEYS = {"description", "notes", "visibility", "target", "options", "tolerance"}
TOLERANCE_KEYS = {"max_abs_error", "min_top1_agreement"}


def _compile_args(spec_path: str | None, visibility: str | None, target: str | None) -> tuple[Any, str, dict, dict]:
    """(visibility, target, options, tolerance): flags first, then the spec file, then the defaults.
    ``--visibility`` overrides the spec's visibility field by field."""
    from ..circuit.visibility import Visibility
    from ..errors import CompileError
    from ..support.files import read_json

    spec: dict = {}
    if spec_path:
        hint = 'write {"visibility": {...}, "target": "resources", "options": {"scales": [6]}, "tolerance": {...}}'
        spec = read_json(spec_path, error_cls=CompileError, stage="compile", hint=hint)
        if not isinstance(spec, dict) or not isinstance(spec.get("options", {}), dict) or set(spec) - SPEC_KEYS:
            raise CompileError(f"not a circuit spec (known fields: {', '.join(sorted(SPEC_KEYS))})", where=spec_path, hint=hint)
        if not isinstance(spec.get("tolerance", {}), dict) or set(spec.get("tolerance", {})) - TOLERANCE_KEYS:
            raise CompileError(f"the spec's tolerance has unknown fields (known: {', '.join(sorted(TOLERANCE_KEYS))})",
                               where=f"{spec_path} -> tolerance", hint=hint)
    vis = Visibility.parse(visibility, base=Visibility.parse(spec.get("visibility")))
    return vis, target or spec.get("target") or "resources", dict(spec.get("options", {})), dict(spec.get("tolerance", {}))


def _check_tolerance(circuit, tolerance: dict, spec_path: str | None) -> None:
    """The spec's tolerance, checked on the calibration report (refused when nothing was measured)."""
    from ..errors import CompileError

    if not tolerance:
        return
    r = circuit.report
    if r.private:
        raise CompileError("the spec sets a tolerance, but the circuit was calibrated on the private input, where "
                           "nothing is measured", where=f"{spec_path} -> tolerance",
                           hint="pass --calibration FILE so the tolerance can be checked")
    if "max_abs_error" in tolerance and r.max_abs_error > float(tolerance["max_abs_error"]):
        raise CompileError(f"the circuit's max abs error {r.max_abs_error:.4g} is over the spec's {tolerance['max_abs_error']}",
                           where=f"{spec_path} -> tolerance -> max_abs_error", hint="use --target accuracy or other scales")
    # top-1 agreement is measured on class-score outputs; a single score (a logit) has none to compare
    if "min_top1_agreement" in tolerance and r.top1_agreement is not None and r.top1_agreement < float(tolerance["min_top1_agreement"]):
        raise CompileError(f"the circuit's top-1 agreement {r.top1_agreement} is under the spec's "
                           f"{tolerance['min_top1_agreement']}", where=f"{spec_path} -> tolerance -> min_top1_agreement",
                           hint="use --target accuracy or other scales")


def _max_logrows(value: str | None):
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter("a number (log2 of the rows each segment may use) or 'auto'") from None


_max_logrows_opt = click.option("--max-logrows", "max_logrows", callback=lambda ctx, p, v: _max_logrows(v),
                                help="Split the model into segments of at most 2^K rows when it does not fit (K, or "
                                     "'auto': what fits this machine's memory). A model that fits stays one circuit.")
_max_error_opt = click.option("--max-error", type=float, help="With --target fastest: the largest output error allowed "
                              "(refused with any other target, where it would be ignored).")


def _load_input(path: str):
    from ..model.inputs import load_input_file

    return load_input_file(path)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="Input: ezkl JSON, JSON array, .npy or .npz.")
@click.option("--calibration", type=click.Path(dir_okay=False),
              help="Calibration data. Without it, the circuit is calibrated on the private input itself: nothing of the "
                   "input is kept, but the public settings are then chosen for it and reveal its scale.")
@click.option("-o", "--output", "--out", "out_dir", default="zkml-out", show_default=True, type=click.Path(file_okay=False),
              help="Where proof.json, vk/ and summary.json go.")
@_vis_opt
@_target_opt
@_max_error_opt
@_max_logrows_opt
@_spec_opt
@_srs_opt
@_srs_sha_opt
@_setup_prod_opt
@click.option("--workers", type=int, help="A split model: prove its segments on this many processes at once.")
@_json_opt
@click.pass_obj
def run(st: _State, model: str, input_path: str, calibration: str | None, out_dir: str, visibility: str | None, target: str | None,
        max_error: float | None, max_logrows, spec_path: str | None, srs: str | None, srs_sha256: str | None, production: bool,
        workers: int | None, as_json: bool) -> None:
    """Compile (cached) + setup (cached) + prove + verify MODEL on INPUT."""
    import zkml

    vis, target, options, tolerance = _compile_args(spec_path, visibility, target)
    with st.stage("load"):
        m = zkml.load_model(model)
        x = _load_input(input_path)
        cal = _load_input(calibration) if calibration else x
    with st.stage("compile"):
        circuit = zkml.compile(m, cal, visibility=vis, target=target, max_error=max_error, private_data=calibration is None,
                               max_logrows=max_logrows, **options)
    _check_tolerance(circuit, tolerance, spec_path)
    with st.stage("setup"):
        keys = circuit.setup(srs=srs, production=production, srs_sha256=srs_sha256)
    segments = len(getattr(circuit, "segments", ())) or 1
    with st.stage("prove"):
        proof = keys.prove(x, workers=workers) if segments > 1 else keys.prove(x)
    with st.stage("verify"):
        result = zkml.verify(proof, keys.vk)
    out = Path(out_dir)
    proof.save(out / "proof.json")
    keys.vk.save(out / "vk")
    summary = {
        "ok": bool(result), "reason": result.reason, "model": str(model), "model_id": keys.id, "model_sha256": m.hash,
        "outputs": [o.tolist() for o in result.outputs], "hashes": result.hashes, "proof": str(out / "proof.json"),
        "vk": str(out / "vk"), "logrows": circuit.logrows, "num_rows": circuit.num_rows, "dev_srs": keys.dev_srs,
        "srs": keys.srs.kind, "visibility": circuit.visibility.to_json(), "cached": {"circuit": circuit.cached, "keys": keys.cached},
        "calibration": circuit.report.to_json(), "proof_bytes": len(proof.proof), "timings": dict(st.timings),
        "weights_commitment": result.weights_commitment, "segments": segments,
    }
    from ..support.files import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    reuse = "reused cached circuit and keys" if circuit.cached and keys.cached else (
        "reused cached circuit" if circuit.cached else "compiled and set up (now cached)")
    lines = [
        f"{'verified' if result else 'NOT verified: ' + str(result.reason)}  {model}",
        f"  outputs   {_shown(result)}",
        f"  model id  {keys.id}",
        f"  circuit   2^{circuit.logrows} rows ({circuit.num_rows} used"
        + (f", {segments} segments linked by commitments" if segments > 1 else "") + f"), {reuse}",
        f"  accuracy  {circuit.report}",
        f"  proof     {out / 'proof.json'} ({len(proof.proof)} bytes)",
        "  time      " + ", ".join(f"{k} {v:.2f}s" for k, v in st.timings.items()),
        *_dev_warning(keys.dev_srs),
    ]
    if calibration is None and not st.quiet:
        click.echo("note: calibrated on the private input (no --calibration): nothing of it is kept and the circuit is "
                   "never reused, but its public settings were chosen for this input and reveal its scale", err=True)
    _emit(as_json, summary, lines)
    if not result:
        sys.exit(1)


def _shown(result) -> str:
    """Outputs as the verifying key decodes them: values, hashes, or (private)."""
    if result.outputs:
        return str([o.tolist() for o in result.outputs])
    return str(result.hashes) if result.hashes else "(private)"


@cli.command("export")
@click.argument("factory", metavar="PYFILE:FACTORY")
@click.option("--sample", required=True, type=click.Path(dir_okay=False), help="Sample input (fixes the static shapes).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the .onnx file.")
@click.option("--opset", default=18, show_default=True, type=int)
@_json_opt
@click.pass_obj
def export_cmd(st: _State, factory: str, sample: str, output: str, opset: int, as_json: bool) -> None:
    """Export a torch model built by FACTORY() in PYFILE to ONNX (parity-checked)."""
    import zkml

    from ..model.pyfile import load_factory

    obj = load_factory(factory)
    np = __import__("numpy")
    with st.stage("export"):
        m = zkml.export(obj, np.asarray(_load_input(sample), dtype=np.float32), opset=opset)
    m.save(output)
    info = {"ok": True, "onnx": output, "sha256": m.hash, "inputs": [t.to_json() for t in m.inputs],
            "outputs": [t.to_json() for t in m.outputs], "parity": dict(m.parity or {}), "timings": st.timings}
    _emit(as_json, info, [f"wrote {output}: {m}", f"  parity vs torch: max abs error {m.parity['max_abs_error']:.3g}"])


@cli.command("compile")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calibration", required=True, type=click.Path(dir_okay=False), help="Calibration samples (N x input shape).")
@_target_opt
@_max_error_opt
@_max_logrows_opt
@_vis_opt
@_spec_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the circuit.")
@_json_opt
@click.pass_obj
def compile_cmd(st: _State, model: str, calibration: str, target: str | None, max_error: float | None, max_logrows,
                visibility: str | None, spec_path: str | None, output: str, as_json: bool) -> None:
    """Compile MODEL into a circuit calibrated on DATA."""
    import zkml

    vis, target, options, tolerance = _compile_args(spec_path, visibility, target)
    with st.stage("compile"):
        c = zkml.compile(zkml.load_model(model), _load_input(calibration), visibility=vis, target=target,
                         max_error=max_error, max_logrows=max_logrows, **options)
    _check_tolerance(c, tolerance, spec_path)
    c.save(output)
    info = {"ok": True, "circuit": output, "logrows": c.logrows, "num_rows": c.num_rows, "cached": c.cached,
            "segments": len(getattr(c, "segments", ())) or 1,
            "visibility": c.visibility.to_json(), "calibration": c.report.to_json(), "timings": st.timings}
    _emit(as_json, info, [f"wrote {output}: 2^{c.logrows} rows ({c.num_rows} used){' [cached]' if c.cached else ''}",
                          f"  accuracy  {c.report}"])


@cli.command("setup")
@click.argument("circuit", type=click.Path(file_okay=False))
@_srs_opt
@_srs_sha_opt
@_setup_prod_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the keys.")
@_json_opt
@click.pass_obj
def setup_cmd(st: _State, circuit: str, srs: str | None, srs_sha256: str | None, production: bool, output: str,
              as_json: bool) -> None:
    """Generate proving and verifying keys for CIRCUIT."""
    import zkml

    with st.stage("setup"):
        c = zkml.SplitCircuit.load(circuit) if (Path(circuit) / "split.json").exists() else zkml.Circuit.load(circuit)
        keys = c.setup(srs=srs, production=production, srs_sha256=srs_sha256)
    keys.save(output)
    info = {"ok": True, "keys": output, "vk": str(Path(output) / "vk"), "model_id": keys.id, "dev_srs": keys.dev_srs,
            "cached": keys.cached, "srs": {**keys.srs.to_json(), "kind": keys.srs.kind}, "timings": st.timings}
    _emit(as_json, info, [f"wrote {output} (verifying key in {Path(output) / 'vk'}){' [cached]' if keys.cached else ''}",
                          f"  model id  {keys.id}", f"  srs       {keys.srs.describe()}", *_dev_warning(keys.dev_srs)])


@cli.command("prove")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="One input.")
@click.option("--batch", "batch_path", type=click.Path(exists=True), help="Many inputs: a .jsonl file (one per line) or a directory of input files.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Proof JSON (or, with --batch, a directory).")
@click.option("--workers", type=int, help="Processes for --batch (default: this machine's cores), or for the segments "
                                          "of one split inference.")
@click.option("--ray-address", help="Prove --batch on this Ray cluster (host:port, or 'auto') instead of local processes.")
@click.option("--weights", "weights_path", type=click.Path(dir_okay=False),
              help="Keys with committed weights: prove with this model's weights (same graph) under the same key.")
@_json_opt
@click.pass_obj
def prove_cmd(st: _State, keys: str, input_path: str | None, batch_path: str | None, output: str, workers: int | None,
              ray_address: str | None, weights_path: str | None, as_json: bool) -> None:
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
        with st.stage("prove-batch"), _progress(st, len(xs)) as advance:
            results = zkml.prove_many(k, xs, workers=workers, out_dir=output, ids=ids, cluster=ray_address,
                                      on_result=advance)
        errs = [r.__dict__ for r in results if isinstance(r, zkml.BatchError)]
        info = {"ok": not errs, "proved": len(results) - len(errs), "failed": len(errs), "errors": errs, "out": output,
                "dev_srs": k.dev_srs, "timings": st.timings}
        _emit(as_json, info, [f"proved {info['proved']} of {len(results)} inputs into {output}",
                              *[f"  failed {e['id']}: {e['error']}: {e['message']}" for e in errs], *_dev_warning(k.dev_srs)])
        if errs:
            sys.exit(1)
        return
    x = _load_input(input_path)
    with st.stage("prove"):
        proof = k.prove(x, workers=workers) if isinstance(k, zkml.SplitKeys) else k.prove(x)
    proof.save(output)
    info = {"ok": True, "proof": output, "model_id": k.id, "outputs": [o.tolist() for o in proof.outputs], "hashes": proof.hashes,
            "weights_commitment": proof.weights_commitment, "dev_srs": proof.dev_srs, "logrows": k.circuit.logrows,
            "segments": len(proof.segments) or 1,
            "timings": {**st.timings, **proof.timings}}
    _emit(as_json, info, [f"wrote {output} ({len(proof.proof)} bytes)",
                          f"  outputs   {info['outputs'] if proof.outputs else proof.hashes or '(private)'}",
                          *_dev_warning(proof.dev_srs)])


@contextlib.contextmanager
def _progress(st: _State, total: int):
    """A progress bar on a terminal's stderr as batch results stream back; a no-op otherwise."""
    if st.quiet or not sys.stderr.isatty():
        yield lambda i, r: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("proving", total=total)
        yield lambda i, r: bar.advance(task)


def _batch_inputs(path: Path) -> tuple[list[str], list]:
    """(ids, inputs) from a .jsonl file (ids = line numbers) or a directory (ids = file stems)."""
    from ..errors import InputError
    from ..model.inputs import unwrap_input_data

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".npy", ".npz"))
        if not files:
            raise InputError("no .json, .npy or .npz files in the batch directory", where=path, hint="put one input per file")
        return [p.stem for p in files], [_load_input(str(p)) for p in files]
    ids, xs = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise InputError(f"line {n} is not JSON: {err}", where=f"{path}:{n}", hint="one JSON input per line") from err
        ids.append(f"line{n}")
        xs.append(unwrap_input_data(obj, f"{path}:{n}"))
    return ids, xs


@cli.command("verify")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--vk", type=click.Path(file_okay=False), help="Verifying-key directory (or a keys directory).")
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False), help="A model bundle (.car) instead of --vk.")
@click.option("--vk-id", help="The model id (verifying-key identity) you trust: a key with another identity is refused.")
@click.option("--weights-commitment", help="Committed weights: accept only a proof made with the weights of this published "
                                           "fingerprint (read from the proof bytes).")
@_json_opt
@click.pass_obj
def verify_cmd(st: _State, proof: str, vk: str | None, bundle_path: str | None, vk_id: str | None,
               weights_commitment: str | None, as_json: bool) -> None:
    """Verify PROOF against a verifying key or a bundle. Exit 0 if valid, 1 if not.

    Everything shown is decoded with the key; the proof file's own metadata is only compared with it."""
    from ..keys.keys import VerifyingKey
    from ..proof.proof import Proof
    from ..verifier.verification import verify

    if bool(vk) == bool(bundle_path):
        raise click.UsageError("give exactly one of --vk and --bundle")
    p = Proof.load(proof)
    if bundle_path:
        from ..verifier.bundles import Bundle

        bundle = Bundle.load(bundle_path)
        against = bundle.verifying_key()
        if weights_commitment is None:
            weights_commitment = bundle.weights_commitment  # the set of weights this bundle vouches for
        if vk_id and against.id != vk_id.lower().removeprefix("0x"):
            from ..errors import ArtifactError

            raise ArtifactError(f"the bundle's model id is {against.id}, not the expected {vk_id}", stage="verify",
                                where=bundle_path, hint="you were given another model's bundle")
    else:
        from ..keys.split import load_vk

        against = load_vk(vk, id=vk_id)
    with st.stage("verify"):
        result = verify(p, against, weights_commitment=weights_commitment)
    info = {"ok": bool(result), "reason": result.reason, "model_id": result.model_id, "outputs": [o.tolist() for o in result.outputs],
            "hashes": result.hashes, "weights_commitment": result.weights_commitment, "dev_srs": result.dev_srs,
            "model_sha256": result.model_hash,
            "bundle_cid": getattr(against, "core_cid", None), "segments": len(p.segments) or 1, "timings": st.timings}
    line = "valid" if result else f"INVALID: {result.reason}"
    lines = [f"{line}  {proof}", f"  model id  {result.model_id}", f"  outputs   {_shown(result)}"]
    if result.weights_commitment:
        checked = "checked" if weights_commitment else "NOT checked: pass --weights-commitment with the published fingerprint"
        lines.append(f"  weights   {result.weights_commitment[:18]}… ({checked})")
    _emit(as_json, info, [*lines, *_dev_warning(result.dev_srs)])
    if not result:
        sys.exit(1)


@cli.command("estimate")
@click.argument("model", type=click.Path())
@click.option("--calibration", type=click.Path(dir_okay=False), help="Calibration samples (needed when MODEL is an ONNX file).")
@_vis_opt
@_max_logrows_opt
@_json_opt
@click.pass_obj
def estimate_cmd(st: _State, model: str, calibration: str | None, visibility: str | None, max_logrows, as_json: bool) -> None:
    """Predict rows, proving-key size, peak memory, setup and prove time of MODEL (an .onnx with --calibration, or a
    compiled circuit directory) on this machine, before spending them."""
    import zkml

    p = Path(model)
    if p.is_dir():
        target = zkml.SplitCircuit.load(p) if (p / "split.json").exists() else zkml.Circuit.load(p)
        est = zkml.estimate(target)
    else:
        if not calibration:
            raise click.UsageError("an ONNX model needs --calibration (it is compiled first, cached)")
        with st.stage("compile"):
            est = zkml.estimate(zkml.load_model(p), _load_input(calibration), visibility=visibility, max_logrows=max_logrows)
    _emit(as_json, {"ok": True, **est.to_json(), "timings": st.timings},
          [str(est), "  fits this machine" if est.fits else "  does NOT fit this machine: compile with --max-logrows auto"])


@cli.command("commit")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("keys", type=click.Path(file_okay=False))
@_json_opt
@click.pass_obj
def commit_cmd(st: _State, model: str, keys: str, as_json: bool) -> None:
    """Print the public fingerprint of MODEL's weights under KEYS (committed weights), without proving.

    Publish it once; every proof made with these weights carries it, and `verify --weights-commitment` checks it."""
    import zkml

    k = zkml.Keys.load(keys)
    with st.stage("commit"):
        c = zkml.commit(model, k)
    info = {"ok": True, "weights_commitment": c, "model_id": k.id, "dev_srs": k.dev_srs, "timings": st.timings}
    _emit(as_json, info, [c, f"  model id  {k.id} (the key: one per architecture)", *_dev_warning(k.dev_srs)])


@cli.command("bundle")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .car file to write.")
@click.option("--contract", "contract_dir", type=click.Path(file_okay=False), help="Include this contract (from `prove-model contract`).")
@click.option("--no-srs", is_flag=True, help="Leave the SRS file out (verifiers then need it themselves).")
@_json_opt
@click.pass_obj
def bundle_cmd(st: _State, keys: str, output: str, contract_dir: str | None, no_srs: bool, as_json: bool) -> None:
    """Write everything a verifier needs (and nothing private) as a CAR file; print its root CID."""
    import zkml

    p = Path(keys)
    if (p / "split.json").exists():
        from ..errors import ArtifactError

        raise ArtifactError("bundles of split keys are not supported yet", stage="bundle", where=p,
                            hint="share the verifying-key directory (keys/vk) with the proof instead")
    src = zkml.Keys.load(p) if (p / "keys.json").exists() else zkml.VerifyingKey.load(p)
    c = zkml.VerifierContract.load(contract_dir) if contract_dir else None
    with st.stage("bundle"):
        b = zkml.bundle(src, c, include_srs=not no_srs)
        b.save(output)
    info = {"ok": True, "root_cid": b.root, "core_cid": b.core, "model_id": b.model_id, "car": output, "files": sorted(b.files),
            "bytes": Path(output).stat().st_size, "dev_srs": b.dev_srs, "timings": st.timings}
    _emit(as_json, info, [b.root, f"  wrote {output} ({info['bytes']:,} bytes): {', '.join(info['files'])}",
                          f"  core      {b.core} (what proofs record)", *_dev_warning(b.dev_srs)])


_rpc_opt = click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True,
                        help="JSON-RPC node; repeat for failover [env: ZKML_RPC_URL, comma-separated]; default: an in-process EVM.")
_quorum_opt = click.option("--quorum", default=1, show_default=True, type=int,
                           help="Accept a verification only when this many endpoints agree.")
_prod_opt = click.option("--production", is_flag=True,
                         help="Refuse keys made with an INSECURE dev SRS or an SRS whose digest was not pinned.")
_evm_opt = click.option("--evm-version", default="cancun", show_default=True,
                        help="EVM version the verifier is compiled for: one every chain you target accepts.")


def _contract_from(path: str, reusable: bool, production: bool, evm_version: str):
    """A contract directory from `prove-model contract`, or keys / verifying-key directory to generate one from."""
    import zkml

    p = Path(path)
    if (p / "contract.json").exists():
        c = zkml.VerifierContract.load(p)
        if production and c.dev_srs:
            from ..errors import ContractError

            raise ContractError("refusing to deploy a verifier made from an INSECURE dev SRS with --production", where=p,
                                hint="run setup with --srs FILE (a ceremony SRS) and generate the contract again")
        return c
    return zkml.verifier_contract(p, reusable=reusable, production=production, evm_version=evm_version)


@cli.command("contract")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="A directory, or a .sol path (artifact goes beside it).")
@click.option("--reusable", is_flag=True, help="ezkl's shared verifier plus this model's VKA (smaller; one deployment per chain).")
@_evm_opt
@_prod_opt
@_json_opt
@click.pass_obj
def contract_cmd(st: _State, keys: str, output: str, reusable: bool, evm_version: str, production: bool, as_json: bool) -> None:
    """Generate and compile (solc-js) the Solidity verifier for KEYS."""
    from ..support.files import atomic_write_text

    with st.stage("contract"):
        c = _contract_from(keys, reusable, production, evm_version)
    out = Path(output)
    if out.suffix == ".sol":
        atomic_write_text(out, c.source)
        art = c.save(out.with_suffix(".contract"))
    else:
        art = c.save(out)
    info = {"ok": True, "name": c.name, "reusable": c.reusable, "deployed_size": c.deployed_size, "artifact": str(art),
            "source": str(out if out.suffix == ".sol" else art / f"{c.name}.sol"), "dev_srs": c.dev_srs, "timings": st.timings}
    _emit(as_json, info, [f"wrote {info['source']} ({c.name}, {c.deployed_size:,} bytes deployed, limit 24,576)",
                          f"  artifact  {art} (abi, bytecode{', vka' if c.reusable else ''})", *_dev_warning(c.dev_srs)])


@cli.command("deploy")
@click.argument("contract", type=click.Path(file_okay=False))
@click.option("--reusable", is_flag=True, help="When CONTRACT is a keys directory: deploy the reusable verifier.")
@_evm_opt
@_rpc_opt
@_prod_opt
@_json_opt
@click.pass_obj
def deploy_cmd(st: _State, contract: str, reusable: bool, evm_version: str, rpc_url: tuple[str, ...], production: bool,
               as_json: bool) -> None:
    """Deploy a verifier (a contract directory, or keys to generate one from) to --rpc-url.

    A transaction: the sending account comes from $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD),
    else the node's first unlocked account. Never from an argument.
    """
    from ..errors import ChainError
    from ..evm import RpcChain

    if not rpc_url:
        raise ChainError("deploy needs a node: an in-process chain forgets everything when this command exits",
                         where="--rpc-url", hint="pass --rpc-url URL (or ZKML_RPC_URL); `verify-onchain` without a URL deploys and verifies in-process")
    c = _contract_from(contract, reusable, production, evm_version)
    with st.stage("deploy"):
        chain = RpcChain(list(rpc_url))
        address = chain.deploy(c)
    info = {"ok": True, "address": address, "chain_id": chain.chain_id, "rpc_url": chain.url, "reusable": c.reusable,
            "sender": chain.account, "model_id": c.meta.get("model_id"), "dev_srs": c.dev_srs, "timings": st.timings}
    _emit(as_json, info, [f"deployed {c.name} at {address} (chain {chain.chain_id})", *_dev_warning(c.dev_srs)])


@cli.command("verify-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--address", help="Verifier address (needed with --rpc-url).")
@click.option("--vk", "vk_dir", type=click.Path(file_okay=False),
              help="Keys or verifying-key directory: builds the contract and decodes the outputs.")
@click.option("--contract", "contract_dir", type=click.Path(file_okay=False), help="Contract directory from `prove-model contract`.")
@click.option("--reusable", is_flag=True, help="Use the reusable verifier.")
@_evm_opt
@click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True,
              help="JSON-RPC node(s); repeat for failover [env: ZKML_RPC_URL, comma-separated]. With it: one eth_call to the "
                   "verifier at --address, a read that needs no account and spends no gas. Without it: the contract is "
                   "deployed to an in-process EVM (pyrevm) and called there.")
@_quorum_opt
@_json_opt
@click.pass_obj
def verify_onchain_cmd(st: _State, proof: str, address: str | None, vk_dir: str | None, contract_dir: str | None,
                       reusable: bool, evm_version: str, rpc_url: tuple[str, ...], quorum: int, as_json: bool) -> None:
    """Verify PROOF with a verifier contract (a read). Without --rpc-url: deploy and verify on an in-process EVM."""
    from ..errors import ChainError
    from ..evm import InProcessChain, RpcChain
    from ..keys.keys import VerifyingKey
    from ..proof.proof import Proof

    vk = VerifyingKey.load(vk_dir) if vk_dir else None
    p = Proof.load(proof, vk=vk)
    source = contract_dir or vk_dir
    c = _contract_from(source, reusable, False, evm_version) if source else None
    if c is not None and vk is not None and c.meta.get("model_id") != vk.id:
        raise ChainError("the contract was made for another model than --vk", stage="verify", where=contract_dir or vk_dir,
                         hint="generate the contract from this verifying key (prove-model contract KEYS)")
    wrong = []
    if vk is not None:
        from ..proof.proof import disagreements

        wrong = disagreements(p.meta, vk)
    if wrong:  # a falsy verdict, as zkml.verify gives: the chain is not asked
        info = {"ok": False, "reason": f"the proof file's metadata disagrees with --vk on {', '.join(wrong)}",
                "gas_used": None, "tx_hash": None, "address": address, "chain": "rpc" if rpc_url else "in-process",
                "outputs": [], "timings": st.timings}
        _emit(as_json, info, [f"REJECTED: {info['reason']}"])
        sys.exit(1)
    with st.stage("verify-onchain"):
        if rpc_url:
            if not address:
                raise ChainError("--address is needed with --rpc-url", where="--address", hint="pass the address printed by `prove-model deploy`")
            chain = RpcChain(list(rpc_url), quorum=quorum)
            if c is not None and chain.code_at(address) != c.deployed_bytecode:
                # outputs decoded with --vk mean something only if the contract there is this key's verifier
                raise ChainError(f"the code at {address} is not the verifier built from --vk/--contract", stage="verify",
                                 where=address, hint="pass the address of this model's verifier (prove-model deploy prints it)")
        else:
            if c is None:
                raise ChainError("the in-process chain needs the contract to deploy", where="--vk/--contract",
                                 hint="pass --vk KEYS_DIR (or --contract DIR), or --rpc-url and --address for a deployed verifier")
            chain = InProcessChain()
            address = chain.deploy(c)
        res = chain.verify(address, p, contract=c)
    # outputs: the reusable verifier returns them; otherwise they are decoded with --vk, never from the proof file
    outputs = res.outputs or ([o.tolist() for o in p.outputs] if vk is not None and res else [])
    info = {"ok": bool(res), "reason": res.reason, "gas_used": res.gas_used, "tx_hash": res.tx_hash, "address": address,
            "chain": "rpc" if rpc_url else "in-process", "outputs": outputs, "timings": st.timings}
    word = "accepted" if res else f"REJECTED: {res.reason}"
    unchecked = ["  note      the code at this address was not compared with a verifier you trust: pass --vk"] if rpc_url and c is None else []
    info["code_checked"] = not unchecked
    _emit(as_json, info, [f"{word} by {address} on {info['chain']} chain (a read: no transaction)", *unchecked,
                          f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a",
                          f"  outputs   {outputs if outputs else '(pass --vk to decode them)'}"])
    if not res:
        sys.exit(1)


@cli.command("record-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--registry", required=True, help="Address of a VerifiedOutputRegistry (it verifies the proof, then records its output).")
@click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True, required=True,
              help="JSON-RPC node(s) [env: ZKML_RPC_URL]. Required: recording is a transaction, and an in-process chain forgets it.")
@_json_opt
@click.pass_obj
def record_onchain_cmd(st: _State, proof: str, registry: str, rpc_url: tuple[str, ...], as_json: bool) -> None:
    """Record PROOF's verified output on chain: a transaction through a VerifiedOutputRegistry.

    Needs an account: $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD), else the node's first
    unlocked account. Never from an argument. To only check a proof, use verify-onchain (a read).
    """
    from ..evm import RpcChain
    from ..proof.proof import Proof

    p = Proof.load(proof)
    with st.stage("record-onchain"):
        chain = RpcChain(list(rpc_url))
        res = chain.record(registry, p)
    info = {"ok": res.ok, "reason": res.reason, "gas_used": res.gas_used, "tx_hash": res.tx_hash, "registry": registry,
            "sender": chain.account if res.tx_hash else None, "timings": st.timings}
    _emit(as_json, info, [f"{'recorded' if res.ok else 'NOT recorded: ' + str(res.reason)} by {registry} (tx {res.tx_hash})",
                          f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a"])
    if not res.ok:
        sys.exit(1)


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
    raise DependencyError("the benchmark harness lives in the zkml checkout (benchmarks/)", stage="bench",
                          hint="run prove-model bench from a zkml checkout")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@_json_opt
def inspect(path: str, as_json: bool) -> None:
    """Say what a model, circuit, keys, verifying key, proof or contract is."""
    from .inspect import describe

    info, lines = describe(Path(path))
    _emit(as_json, info, lines)


@cli.group("cache")
def cache_group() -> None:
    """The cache under ZKML_HOME: circuits, keys (proving keys can be gigabytes), SRS files, contracts.

    ZKML_CACHE_MAX (e.g. 20G) caps its size: after each new entry, the least recently used entries go first."""


@cache_group.command("list")
@_json_opt
def cache_list(as_json: bool) -> None:
    """Every cache entry with its size and last use."""
    from ..support.store import Store

    store = Store()
    entries = store.entries()
    total = sum(e.size for e in entries)
    info = {"root": str(store.root), "bytes": total, "entries": [e.to_json() for e in entries]}
    _emit(as_json, info, [f"{store.root}: {len(entries)} entries, {_size(total)}",
                          *[f"  {e.kind:<10} {e.key[:24]:<24} {_size(e.size):>9}  {_age(e.last_used)}" for e in entries]])


@cache_group.command("prune")
@click.option("--older-than", help="Remove entries not used for this long (e.g. 30d, 12h).")
@click.option("--max-size", help="Then remove the least recently used entries until the cache fits (e.g. 10G, 500M).")
@_json_opt
def cache_prune(older_than: str | None, max_size: str | None, as_json: bool) -> None:
    """Remove cache entries; entries in use by another process are left alone."""
    from ..support.store import Store, parse_age, parse_size

    if not older_than and not max_size:
        raise click.UsageError("give --older-than, --max-size or both")
    removed = Store().prune(older_than=parse_age(older_than) if older_than else None,
                            max_bytes=parse_size(max_size) if max_size else None)
    info = {"removed": [e.to_json() for e in removed], "bytes_freed": sum(e.size for e in removed)}
    _emit(as_json, info, [f"removed {len(removed)} entries, {_size(info['bytes_freed'])} freed",
                          *[f"  {e.kind:<10} {e.key[:24]}" for e in removed]])


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _age(t: float) -> str:
    days = (time.time() - t) / 86400
    return f"used {days:.1f} days ago" if days >= 1 else f"used {days * 24:.1f} hours ago"


from .page_cmd import page_cmd  # noqa: E402
cli.add_command(page_cmd)
from .serve_cmd import serve_cmd  # noqa: E402
cli.add_command(serve_cmd)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="prove-model", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except ZKMLError as e:
        if os.environ.get("ZKML_DEBUG"):
            raise
        click.echo(click.style(f"{type(e).__name__}: {e}", fg="red"), err=True)
        sys.exit(1)
    except Exception as e:  # a bug in zkml or a dependency: still one line unless debugging
        if os.environ.get("ZKML_DEBUG"):
            raise
        click.echo(click.style(f"InternalError: {type(e).__name__}: {e} (run with ZKML_DEBUG=1 for a traceback)", fg="red"), err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
