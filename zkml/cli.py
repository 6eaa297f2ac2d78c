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

from .errors import ZKMLError

ENV_HELP = "Environment: ZKML_HOME (cache), ZKML_SRS (ceremony SRS file), ZKML_RPC_URL (JSON-RPC node), ZKML_DEBUG=1 (tracebacks)."


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
_vis_opt = click.option("--visibility", help="input/output: private|public|hashed; params: fixed|private|hashed "
                        "[default: input=private,output=public,params=fixed, or the --spec's].")
_target_opt = click.option("--target", type=click.Choice(["resources", "accuracy", "fastest"]),
                           help="fastest: search settings for the fastest proof within --max-error (cached) [default: resources, or the --spec's].")
_spec_opt = click.option("--spec", "spec_path", type=click.Path(dir_okay=False),
                         help="A circuit spec JSON: visibility, target and compile options such as scales (e.g. circuits/wine_attention.json).")
SPEC_KEYS = {"description", "notes", "visibility", "target", "options", "tolerance", "contract"}  # circuits/*.json


def _compile_args(spec_path: str | None, visibility: str | None, target: str | None) -> tuple[Any, str, dict]:
    """(visibility, target, options): flags first, then the spec file, then the defaults."""
    spec: dict = {}
    if spec_path:
        from ._util import read_json
        from .errors import CompileError

        hint = 'write {"visibility": {...}, "target": "resources", "options": {"scales": [6]}}'
        spec = read_json(spec_path, error_cls=CompileError, stage="compile", hint=hint)
        if not isinstance(spec, dict) or not isinstance(spec.get("options", {}), dict) or set(spec) - SPEC_KEYS:
            raise CompileError(f"not a circuit spec (known fields: {', '.join(sorted(SPEC_KEYS))})", where=spec_path, hint=hint)
    return (visibility or spec.get("visibility") or "input=private,output=public,params=fixed",
            target or spec.get("target") or "resources", dict(spec.get("options", {})))


_max_error_opt = click.option("--max-error", type=float, help="With --target fastest: the largest output error allowed.")


def _load_input(path: str):
    from ._inputs import load_input_file

    return load_input_file(path)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False), help="Input: ezkl JSON, JSON array, .npy or .npz.")
@click.option("--calibration", type=click.Path(dir_okay=False), help="Calibration data (default: the input itself).")
@click.option("--out", "out_dir", default="zkml-out", show_default=True, type=click.Path(file_okay=False), help="Where proof.json, vk/ and summary.json go.")
@_vis_opt
@_target_opt
@_spec_opt
@_srs_opt
@_json_opt
@click.pass_obj
def run(st: _State, model: str, input_path: str, calibration: str | None, out_dir: str, visibility: str | None, target: str | None,
        spec_path: str | None, srs: str | None, as_json: bool) -> None:
    """Compile (cached) + setup (cached) + prove + verify MODEL on INPUT."""
    import zkml

    visibility, target, options = _compile_args(spec_path, visibility, target)
    with st.stage("load"):
        m = zkml.load_model(model)
        x = _load_input(input_path)
        cal = _load_input(calibration) if calibration else x
    with st.stage("compile"):
        circuit = zkml.compile(m, cal, visibility=visibility, target=target, **options)
    with st.stage("setup"):
        keys = circuit.setup(srs=srs)
    with st.stage("prove"):
        proof = keys.prove(x)
    with st.stage("verify"):
        result = zkml.verify(proof, keys.vk)
    out = Path(out_dir)
    proof.save(out / "proof.json")
    keys.vk.save(out / "vk")
    summary = {
        "ok": bool(result), "reason": result.reason, "model": str(model), "model_sha256": m.hash,
        "outputs": [o.tolist() for o in proof.outputs], "hashes": proof.hashes, "proof": str(out / "proof.json"),
        "vk": str(out / "vk"), "logrows": circuit.logrows, "num_rows": circuit.num_rows, "dev_srs": keys.dev_srs,
        "visibility": circuit.visibility.to_json(), "cached": {"circuit": circuit.cached, "keys": keys.cached},
        "calibration": circuit.report.to_json(), "proof_bytes": len(proof.proof), "timings": dict(st.timings),
    }
    from ._util import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    reuse = "reused cached circuit and keys" if circuit.cached and keys.cached else (
        "reused cached circuit" if circuit.cached else "compiled and set up (now cached)")
    lines = [
        f"{'verified' if result else 'NOT verified: ' + str(result.reason)}  {model}",
        f"  outputs   {summary['outputs'] if proof.outputs else proof.hashes or '(private)'}",
        f"  circuit   2^{circuit.logrows} rows ({circuit.num_rows} used), {reuse}",
        f"  accuracy  {circuit.report}",
        f"  proof     {out / 'proof.json'} ({len(proof.proof)} bytes)",
        "  time      " + ", ".join(f"{k} {v:.2f}s" for k, v in st.timings.items()),
        *_dev_warning(keys.dev_srs),
    ]
    _emit(as_json, summary, lines)
    if not result:
        sys.exit(1)


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

    from ._pyfile import load_factory

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
@_vis_opt
@_spec_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the circuit.")
@_json_opt
@click.pass_obj
def compile_cmd(st: _State, model: str, calibration: str, target: str | None, max_error: float | None, visibility: str | None,
                spec_path: str | None, output: str, as_json: bool) -> None:
    """Compile MODEL into a circuit calibrated on DATA."""
    import zkml

    visibility, target, options = _compile_args(spec_path, visibility, target)
    with st.stage("compile"):
        c = zkml.compile(zkml.load_model(model), _load_input(calibration), visibility=visibility, target=target,
                         max_error=max_error, **options)
    c.save(output)
    info = {"ok": True, "circuit": output, "logrows": c.logrows, "num_rows": c.num_rows, "cached": c.cached,
            "visibility": c.visibility.to_json(), "calibration": c.report.to_json(), "timings": st.timings}
    _emit(as_json, info, [f"wrote {output}: 2^{c.logrows} rows ({c.num_rows} used){' [cached]' if c.cached else ''}",
                          f"  accuracy  {c.report}"])


@cli.command("setup")
@click.argument("circuit", type=click.Path(file_okay=False))
@_srs_opt
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Directory for the keys.")
@_json_opt
@click.pass_obj
def setup_cmd(st: _State, circuit: str, srs: str | None, output: str, as_json: bool) -> None:
    """Generate proving and verifying keys for CIRCUIT."""
    import zkml

    with st.stage("setup"):
        keys = zkml.Circuit.load(circuit).setup(srs=srs)
    keys.save(output)
    info = {"ok": True, "keys": output, "vk": str(Path(output) / "vk"), "dev_srs": keys.dev_srs, "cached": keys.cached,
            "srs": keys.srs.to_json(), "timings": st.timings}
    _emit(as_json, info, [f"wrote {output} (verifying key in {Path(output) / 'vk'}){' [cached]' if keys.cached else ''}",
                          f"  srs       {keys.srs.describe()}", *_dev_warning(keys.dev_srs)])


@cli.command("prove")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("--input", "input_path", type=click.Path(dir_okay=False), help="One input.")
@click.option("--batch", "batch_path", type=click.Path(exists=True), help="Many inputs: a .jsonl file (one per line) or a directory of input files.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Proof JSON (or, with --batch, a directory).")
@click.option("--workers", type=int, help="Processes for --batch (default: this machine's cores).")
@click.option("--ray-address", help="Prove --batch on this Ray cluster (host:port, or 'auto') instead of local processes.")
@_json_opt
@click.pass_obj
def prove_cmd(st: _State, keys: str, input_path: str | None, batch_path: str | None, output: str, workers: int | None,
              ray_address: str | None, as_json: bool) -> None:
    """Prove the model in KEYS on INPUT (or on every input of --batch, resumably)."""
    import zkml

    if bool(input_path) == bool(batch_path):
        raise click.UsageError("give exactly one of --input and --batch")
    k = zkml.Keys.load(keys)
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
        proof = k.prove(x)
    proof.save(output)
    info = {"ok": True, "proof": output, "outputs": [o.tolist() for o in proof.outputs], "hashes": proof.hashes,
            "dev_srs": proof.dev_srs, "logrows": k.circuit.logrows, "timings": {**st.timings, **proof.timings}}
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
    from .errors import InputError

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
        if isinstance(obj, dict) and "input_data" in obj:
            data = obj["input_data"]
            obj = data[0] if isinstance(data, list) and len(data) == 1 else data
        ids.append(f"line{n}")
        xs.append(obj)
    return ids, xs


@cli.command("verify")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--vk", type=click.Path(file_okay=False), help="Verifying-key directory (or a keys directory).")
@click.option("--bundle", "bundle_path", type=click.Path(dir_okay=False), help="A model bundle (.car) instead of --vk.")
@_json_opt
@click.pass_obj
def verify_cmd(st: _State, proof: str, vk: str | None, bundle_path: str | None, as_json: bool) -> None:
    """Verify PROOF against a verifying key or a bundle. Exit 0 if valid, 1 if not."""
    from ._proof import Proof, verify

    if bool(vk) == bool(bundle_path):
        raise click.UsageError("give exactly one of --vk and --bundle")
    p = Proof.load(proof)
    if bundle_path:
        from ._bundle import Bundle

        against = Bundle.load(bundle_path)
    else:
        from ._keys import VerifyingKey

        against = VerifyingKey.load(vk)
    with st.stage("verify"):
        result = verify(p, against)
    info = {"ok": bool(result), "reason": result.reason, "outputs": [o.tolist() for o in p.outputs], "hashes": p.hashes,
            "dev_srs": result.dev_srs, "model_sha256": result.model_hash, "bundle_cid": p.meta.get("bundle_cid"),
            "timings": st.timings}
    line = "valid" if result else f"INVALID: {result.reason}"
    _emit(as_json, info, [f"{line}  {proof}", f"  outputs   {info['outputs'] if p.outputs else p.hashes or '(private)'}",
                          *_dev_warning(result.dev_srs)])
    if not result:
        sys.exit(1)


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
    src = zkml.Keys.load(p) if (p / "keys.json").exists() else zkml.VerifyingKey.load(p)
    c = zkml.VerifierContract.load(contract_dir) if contract_dir else None
    with st.stage("bundle"):
        b = zkml.bundle(src, c, include_srs=not no_srs)
        b.save(output)
    info = {"ok": True, "root_cid": b.root, "core_cid": b.core, "car": output, "files": sorted(b.files),
            "bytes": Path(output).stat().st_size, "dev_srs": b.dev_srs, "timings": st.timings}
    _emit(as_json, info, [b.root, f"  wrote {output} ({info['bytes']:,} bytes): {', '.join(info['files'])}",
                          f"  core      {b.core} (what proofs record)", *_dev_warning(b.dev_srs)])


_rpc_opt = click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True,
                        help="JSON-RPC node; repeat for failover [env: ZKML_RPC_URL, comma-separated]; default: an in-process EVM.")
_quorum_opt = click.option("--quorum", default=1, show_default=True, type=int,
                           help="Accept a verification only when this many endpoints agree.")
_prod_opt = click.option("--production", is_flag=True, help="Refuse keys made with an INSECURE dev SRS.")


def _contract_from(path: str, reusable: bool, production: bool, evm_version: str):
    """A contract directory from `prove-model contract`, or keys / verifying-key directory to generate one from."""
    import zkml

    p = Path(path)
    if (p / "contract.json").exists():
        c = zkml.VerifierContract.load(p)
        if production and c.dev_srs:
            from .errors import ContractError

            raise ContractError("refusing to deploy a verifier made from an INSECURE dev SRS with --production", where=p,
                                hint="run setup with --srs FILE (a ceremony SRS) and generate the contract again")
        return c
    return zkml.verifier_contract(p, reusable=reusable, production=production, evm_version=evm_version)


@cli.command("contract")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="A directory, or a .sol path (artifact goes beside it).")
@click.option("--reusable", is_flag=True, help="ezkl's shared verifier plus this model's VKA (smaller; one deployment per chain).")
@click.option("--evm-version", default="cancun", show_default=True)
@_prod_opt
@_json_opt
@click.pass_obj
def contract_cmd(st: _State, keys: str, output: str, reusable: bool, evm_version: str, production: bool, as_json: bool) -> None:
    """Generate and compile (solc-js) the Solidity verifier for KEYS."""
    from ._util import atomic_write_text

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
@_rpc_opt
@_prod_opt
@_json_opt
@click.pass_obj
def deploy_cmd(st: _State, contract: str, reusable: bool, rpc_url: tuple[str, ...], production: bool, as_json: bool) -> None:
    """Deploy a verifier (a contract directory, or keys to generate one from) to --rpc-url.

    The sending account comes from $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD),
    else the node's first unlocked account. Never from an argument.
    """
    from .errors import ChainError
    from .evm import RpcChain

    if not rpc_url:
        raise ChainError("deploy needs a node: an in-process chain forgets everything when this command exits",
                         where="--rpc-url", hint="pass --rpc-url URL (or ZKML_RPC_URL); `verify-onchain` without a URL deploys and verifies in-process")
    c = _contract_from(contract, reusable, production, "cancun")
    with st.stage("deploy"):
        chain = RpcChain(list(rpc_url))
        address = chain.deploy(c)
    info = {"ok": True, "address": address, "chain_id": chain.chain_id, "rpc_url": chain.url, "reusable": c.reusable,
            "sender": chain.account, "dev_srs": c.dev_srs, "timings": st.timings}
    _emit(as_json, info, [f"deployed {c.name} at {address} (chain {chain.chain_id})", *_dev_warning(c.dev_srs)])


@cli.command("verify-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--address", help="Verifier address (needed with --rpc-url).")
@click.option("--vk", "vk_dir", type=click.Path(file_okay=False), help="Keys or verifying-key directory (to build the contract).")
@click.option("--contract", "contract_dir", type=click.Path(file_okay=False), help="Contract directory from `prove-model contract`.")
@click.option("--reusable", is_flag=True, help="Use the reusable verifier.")
@_rpc_opt
@_quorum_opt
@_json_opt
@click.pass_obj
def verify_onchain_cmd(st: _State, proof: str, address: str | None, vk_dir: str | None, contract_dir: str | None,
                       reusable: bool, rpc_url: tuple[str, ...], quorum: int, as_json: bool) -> None:
    """Verify PROOF with a verifier contract. Without --rpc-url: deploy and verify on an in-process EVM."""
    from ._proof import Proof
    from .errors import ChainError
    from .evm import InProcessChain, RpcChain

    p = Proof.load(proof)
    source = contract_dir or vk_dir
    c = _contract_from(source, reusable, False, "cancun") if source else None
    with st.stage("verify-onchain"):
        if rpc_url:
            if not address:
                raise ChainError("--address is needed with --rpc-url", where="--address", hint="pass the address printed by `prove-model deploy`")
            chain = RpcChain(list(rpc_url), quorum=quorum)
        else:
            if c is None:
                raise ChainError("the in-process chain needs the contract to deploy", where="--vk/--contract",
                                 hint="pass --vk KEYS_DIR (or --contract DIR), or --rpc-url and --address for a deployed verifier")
            chain = InProcessChain()
            address = chain.deploy(c)
        res = chain.verify(address, p, contract=c)
    info = {"ok": bool(res), "reason": res.reason, "gas_used": res.gas_used, "tx_hash": res.tx_hash, "address": address,
            "chain": "rpc" if rpc_url else "in-process", "outputs": res.outputs or [o.tolist() for o in p.outputs],
            "timings": st.timings}
    word = "accepted" if res else f"REJECTED: {res.reason}"
    _emit(as_json, info, [f"{word} by {address} on {info['chain']} chain", f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a",
                          f"  outputs   {info['outputs']}"])
    if not res:
        sys.exit(1)


@cli.command("bench", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_cmd(args: tuple[str, ...]) -> None:
    """Run the benchmark harness (zkml vs ezkl's recommended flow); ARGS go to it (e.g. --models a,b --lenet)."""
    import subprocess

    from .errors import DependencyError

    for base in (Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[1]):
        if (base / "benchmarks" / "harness.py").is_file():
            sys.exit(subprocess.call([sys.executable, "-m", "benchmarks", "harness", *args], cwd=base))
    raise DependencyError("the benchmark harness lives in the zkml checkout (benchmarks/)", stage="bench",
                          hint="run prove-model bench from a zkml checkout")


@cli.command()
@click.argument("path", type=click.Path(exists=True))
@_json_opt
def inspect(path: str, as_json: bool) -> None:
    """Say what a model, circuit, keys, verifying key, proof or contract is."""
    from ._inspect import describe

    info, lines = describe(Path(path))
    _emit(as_json, info, lines)


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
