"""The real prove-model console script, driven in subprocesses."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import zkml
from conftest import run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory, mlp_model, mlp_cal, mlp_x):
    d = tmp_path_factory.mktemp("cli")
    onnx = mlp_model.save(d / "net.onnx")
    (d / "input.json").write_text(json.dumps({"input_data": [mlp_x.tolist()]}))
    np.save(d / "input.npy", mlp_x.reshape(1, 4))
    np.savez(d / "input.npz", input=mlp_x)
    (d / "plain.json").write_text(json.dumps(mlp_x.tolist()))
    (d / "cal.json").write_text(json.dumps(mlp_cal.tolist()))
    return {"dir": d, "onnx": onnx}


def _one_line_error(res, name):
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{name}: "), res.stderr
    return lines[0]


def test_help_is_light():
    res = run_cli("--help")
    assert (
        res.returncode == 0 and "ZKML_HOME" in res.stdout and "ZKML_SRS" in res.stdout and "ZKML_RPC_URL" in res.stdout
    )
    import subprocess
    import sys

    code = "import sys; from zkml.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().endswith("False")


def test_run_json_then_cached(files, tmp_path):
    d = files["dir"]
    res = run_cli(
        "run",
        files["onnx"],
        "--input",
        d / "input.json",
        "--out",
        tmp_path / "out",
        "--json",
        "--calibration",
        d / "cal.json",
    )
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    for key in ("ok", "outputs", "proof", "logrows", "dev_srs", "timings"):
        assert key in s
    assert s["ok"] is True and s["dev_srs"] is True and len(s["outputs"][0][0]) == 3
    assert set(s["timings"]) >= {"compile", "setup", "prove", "verify"}
    assert (tmp_path / "out" / "proof.json").exists() and (tmp_path / "out" / "vk" / "vk.json").exists()
    again = run_cli(
        "run", files["onnx"], "--input", d / "input.json", "--out", tmp_path / "out2", "--calibration", d / "cal.json"
    )
    assert again.returncode == 0 and "reused cached circuit and keys" in again.stdout
    assert "INSECURE dev SRS" in again.stdout


@pytest.mark.parametrize("name", ["input.json", "input.npy", "input.npz", "plain.json"])
def test_prove_input_formats(files, name, tmp_path):
    res = run_cli(
        "run",
        files["onnx"],
        "--input",
        files["dir"] / name,
        "--calibration",
        files["dir"] / "cal.json",
        "--out",
        tmp_path,
        "--json",
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["ok"]


def test_step_by_step_and_tampered_verify(files, tmp_path):
    d = files["dir"]
    assert (
        run_cli("compile", files["onnx"], "--calibration", d / "cal.json", "-o", tmp_path / "circuit").returncode == 0
    )
    assert run_cli("setup", tmp_path / "circuit", "-o", tmp_path / "keys").returncode == 0
    res = run_cli("prove", tmp_path / "keys", "--input", d / "input.json", "-o", tmp_path / "proof.json", "--json")
    assert res.returncode == 0, res.stderr
    ok = run_cli("verify", tmp_path / "proof.json", "--vk", tmp_path / "keys" / "vk")
    assert ok.returncode == 0 and ok.stdout.startswith("valid")
    raw = json.loads((tmp_path / "proof.json").read_text())
    raw["proof"][40] ^= 1
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    bad = run_cli("verify", tmp_path / "bad.json", "--vk", tmp_path / "keys", "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
    # inspect every artifact kind
    for path, word in [
        (files["onnx"], "ONNX model"),
        (tmp_path / "circuit", "circuit:"),
        (tmp_path / "keys", "keys:"),
        (tmp_path / "keys" / "vk", "verifying key:"),
        (tmp_path / "proof.json", "proof:"),
    ]:
        res = run_cli("inspect", path)
        assert res.returncode == 0 and res.stdout.startswith(word), (path, res.stdout, res.stderr)


def test_circuit_spec_file(files, tmp_path):
    """--spec supplies visibility, target and compile options (a zoo circuit spec); flags still win."""
    d = files["dir"]
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "visibility": {"input": "public", "output": "public", "params": "fixed"},
                "target": "resources",
                "options": {"scales": [9]},
            }
        )
    )
    res = run_cli(
        "compile", files["onnx"], "--calibration", d / "cal.json", "--spec", spec, "-o", tmp_path / "c", "--json"
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["visibility"]["input"] == "public"
    assert json.loads((tmp_path / "c" / "settings.json").read_text())["run_args"]["input_scale"] == 9
    res = run_cli(
        "run",
        files["onnx"],
        "--input",
        d / "input.json",
        "--calibration",
        d / "cal.json",
        "--spec",
        spec,
        "--visibility",
        "input=private,output=public,params=fixed",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["visibility"]["input"] == "private"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"options": {"scales": [9]}, "scale": 3}))
    _one_line_error(
        run_cli("compile", files["onnx"], "--calibration", d / "cal.json", "--spec", bad, "-o", tmp_path / "c2"),
        "CompileError",
    )
    _one_line_error(
        run_cli(
            "compile",
            files["onnx"],
            "--calibration",
            d / "cal.json",
            "--spec",
            tmp_path / "none.json",
            "-o",
            tmp_path / "c3",
        ),
        "CompileError",
    )
    bad.write_text(json.dumps({"options": {"scale": [9]}}))
    _one_line_error(
        run_cli("run", files["onnx"], "--input", d / "input.json", "--spec", bad, "--out", tmp_path / "o3"),
        "CompileError",
    )


def test_every_zoo_circuit_spec_is_a_valid_spec():
    from conftest import ROOT

    specs = sorted((ROOT / "circuits").glob("*.json"))
    assert len(specs) >= 5
    for f in specs:
        spec = zkml.CircuitSpec.load(f)
        assert zkml.Visibility.parse(spec.visibility) and spec.target in ("resources", "accuracy", "fastest"), f
        assert spec.options == json.loads(f.read_text()).get("options", {}), f
    with pytest.raises(zkml.errors.CompileError, match="tolerance"):
        zkml.CircuitSpec.from_json({"tolerance": {"max_abs_error": "small"}})
    with pytest.raises(zkml.errors.CompileError, match="not a circuit spec"):
        zkml.CircuitSpec.from_json({"scales": [6]})
    assert (
        zkml.CircuitSpec.from_json({"visibility": {"output": "hashed"}}, visibility="input=public").visibility.output
        == "hashed"
    )


def test_export_command(tmp_path):
    (tmp_path / "net.py").write_text(
        "import torch\n\ndef build():\n    torch.manual_seed(0)\n    return torch.nn.Sequential(torch.nn.Linear(3, 2))\n"
    )
    (tmp_path / "sample.json").write_text("[[0.1, 0.2, 0.3]]")
    res = run_cli(
        "export",
        f"{tmp_path / 'net.py'}:build",
        "--sample",
        tmp_path / "sample.json",
        "-o",
        tmp_path / "net.onnx",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["inputs"][0]["shape"] == [1, 3] and (tmp_path / "net.onnx").exists()
    assert info["exporter"] == "torchscript" and info["parity"]["exporter_note"].startswith("auto: TorchScript")
    # --exporter picks one; a token-id sample stays int64 for a model whose first layer is an embedding
    (tmp_path / "lm.py").write_text(
        "import torch\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Flatten(), torch.nn.Linear(6, 2))\n"
    )
    (tmp_path / "ids.json").write_text("[[1, 4]]")
    res = run_cli(
        "export",
        f"{tmp_path / 'lm.py'}:build",
        "--sample",
        tmp_path / "ids.json",
        "-o",
        tmp_path / "lm.onnx",
        "--exporter",
        "dynamo",
    )
    assert res.returncode == 0, res.stderr
    assert "exporter  dynamo: exporter='dynamo' was asked for" in res.stdout
    assert zkml.load_model(tmp_path / "lm.onnx").inputs[0].dtype == "int64"
    bad = run_cli(
        "export",
        f"{tmp_path / 'net.py'}:build",
        "--sample",
        tmp_path / "sample.json",
        "-o",
        tmp_path / "y.onnx",
        "--exporter",
        "jit",
    )
    assert bad.returncode == 2 and "jit" in bad.stderr and not (tmp_path / "y.onnx").exists()
    _one_line_error(
        run_cli(
            "export", f"{tmp_path / 'net.py'}:nope", "--sample", tmp_path / "sample.json", "-o", tmp_path / "x.onnx"
        ),
        "ModelError",
    )


def test_usage_errors_exit_2(files):
    assert run_cli("run", files["onnx"]).returncode == 2  # missing --input
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("compile", files["onnx"], "--calibration", "x", "--target", "fast", "-o", "c").returncode == 2


def test_bad_inputs_are_one_line_errors(files, tmp_path):
    d = files["dir"]
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    (tmp_path / "shape.json").write_text("[1, 2, 3]")
    (tmp_path / "nan.json").write_text('{"input_data": [[1, NaN, 2, 3]]}')
    (tmp_path / "broken.json").write_text('{"input_data": [[1, 2')
    (tmp_path / "huge.json").write_text("[1e9, 1e9, 1e9, 1e9]")
    cases = [
        (("run", tmp_path / "missing.onnx", "--input", d / "input.json"), "ModelFileError"),
        (("run", tmp_path / "bad.onnx", "--input", d / "input.json"), "ModelFileError"),
        (("run", files["onnx"], "--input", tmp_path / "shape.json"), "InputShapeError"),
        (("run", files["onnx"], "--input", tmp_path / "nan.json"), "InputValueError"),
        (("run", files["onnx"], "--input", tmp_path / "broken.json"), "InputError"),
        (("run", files["onnx"], "--input", tmp_path / "huge.json", "--calibration", d / "cal.json"), "InputRangeError"),
        (("run", files["onnx"], "--input", d / "input.json", "--visibility", "input=secret"), "VisibilityError"),
        (("verify", d / "input.json", "--vk", tmp_path), "ArtifactError"),
        (("setup", tmp_path, "-o", tmp_path / "k"), "ArtifactError"),
    ]
    for args, name in cases:
        line = _one_line_error(run_cli(*args, "--out", tmp_path / "o") if args[0] == "run" else run_cli(*args), name)
        assert "Hint:" in line, line


def test_srs_from_environment(files, tmp_path):
    (tmp_path / "bad.srs").write_bytes(b"\x0b\x00\x00\x00" + b"\x00" * 100)
    res = run_cli(
        "run",
        files["onnx"],
        "--input",
        files["dir"] / "input.json",
        "--out",
        tmp_path / "o",
        env={"ZKML_SRS": str(tmp_path / "bad.srs")},
    )
    assert "SRSError" in _one_line_error(res, "SRSError")


def test_debug_shows_traceback(files, tmp_path):
    res = run_cli("run", tmp_path / "missing.onnx", "--input", files["dir"] / "input.json", env={"ZKML_DEBUG": "1"})
    assert res.returncode == 1 and "Traceback" in res.stderr


@pytest.mark.requires_solc
def test_contract_and_verify_onchain(files, tmp_path):
    d = files["dir"]
    assert (
        run_cli("compile", files["onnx"], "--calibration", d / "cal.json", "-o", tmp_path / "circuit").returncode == 0
    )
    assert run_cli("setup", tmp_path / "circuit", "-o", tmp_path / "keys").returncode == 0
    assert (
        run_cli("prove", tmp_path / "keys", "--input", d / "input.json", "-o", tmp_path / "proof.json").returncode == 0
    )
    res = run_cli("contract", tmp_path / "keys", "-o", tmp_path / "Verifier.sol", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert (tmp_path / "Verifier.sol").read_text().count("contract Halo2Verifier") == 1 and info[
        "deployed_size"
    ] < 24576
    assert run_cli("inspect", tmp_path / "Verifier.sol").stdout.startswith("Solidity source")
    res = run_cli("verify-onchain", tmp_path / "proof.json", "--contract", info["artifact"], "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["ok"] and out["gas_used"] > 400_000
    res = run_cli("verify-onchain", tmp_path / "proof.json", "--vk", tmp_path / "keys", "--reusable", "--json")
    assert res.returncode == 0 and len(json.loads(res.stdout)["outputs"]) == 3
    raw = json.loads((tmp_path / "proof.json").read_text())
    raw["proof"][99] ^= 1
    (tmp_path / "bad.json").write_text(json.dumps(raw))
    bad = run_cli("verify-onchain", tmp_path / "bad.json", "--vk", tmp_path / "keys")
    assert bad.returncode == 1 and bad.stdout.startswith("REJECTED")
    _one_line_error(run_cli("contract", tmp_path / "keys", "-o", tmp_path / "p.sol", "--production"), "ContractError")
    _one_line_error(run_cli("deploy", tmp_path / "keys"), "ChainError")


@pytest.mark.requires_anvil
def test_deploy_and_verify_on_anvil(files, tmp_path):
    import zkml

    d = files["dir"]
    assert (
        run_cli(
            "run", files["onnx"], "--input", d / "input.json", "--calibration", d / "cal.json", "--out", tmp_path / "o"
        ).returncode
        == 0
    )
    keys_dir = next((tmp_path / "o").glob("vk"))
    with zkml.evm.anvil() as node:
        res = run_cli("deploy", keys_dir, "--json", env={"ZKML_RPC_URL": node.url})
        assert res.returncode == 0, res.stderr
        address = json.loads(res.stdout)["address"]
        ok = run_cli(
            "verify-onchain", tmp_path / "o" / "proof.json", "--address", address, "--rpc-url", node.url, "--json"
        )
        assert ok.returncode == 0, ok.stderr
        out = json.loads(ok.stdout)
        assert out["ok"] and out["tx_hash"] is None and out["gas_used"] > 400_000  # a read: no transaction


def test_more_bad_inputs_through_the_cli(files, tmp_path, other_keys, mlp_keys):
    from onnx import TensorProto, helper

    d = files["dir"]
    g = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="det0")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    m.ir_version = 8
    (tmp_path / "det.onnx").write_bytes(m.SerializeToString())
    g2 = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    m2 = helper.make_model(g2, opset_imports=[helper.make_opsetid("", 18)])
    m2.ir_version = 8
    (tmp_path / "dyn.onnx").write_bytes(m2.SerializeToString())
    (tmp_path / "eye.json").write_text("[[1, 0], [0, 1]]")
    (tmp_path / "strings.json").write_text('["a", "b", "c", "d"]')
    line = _one_line_error(
        run_cli("run", tmp_path / "det.onnx", "--input", tmp_path / "eye.json", "--out", tmp_path / "o"),
        "UnsupportedModelError",
    )
    assert "Det" in line and "det0" in line
    _one_line_error(run_cli("run", tmp_path / "dyn.onnx", "--input", d / "input.json"), "DynamicShapeError")
    _one_line_error(
        run_cli("run", files["onnx"], "--input", tmp_path / "strings.json", "--out", tmp_path / "o"), "InputTypeError"
    )
    # a proof checked against another model's key: invalid, exit 1
    proof = mlp_keys.prove([0.1, 0.2, 0.3, 0.4]).save(tmp_path / "p.json")
    other = other_keys.vk.save(tmp_path / "other_vk")
    res = run_cli("verify", proof, "--vk", other)
    assert res.returncode == 1 and "another verifying key" in res.stdout
    # keys from another ezkl version
    keys = mlp_keys.save(tmp_path / "keys")
    meta = json.loads((keys / "vk" / "vk.json").read_text())
    meta["ezkl_version"] = "21.0.0"
    (keys / "vk" / "vk.json").write_text(json.dumps(meta))
    assert "21.0.0" in _one_line_error(run_cli("verify", proof, "--vk", keys / "vk"), "VersionMismatchError")


def test_progress_display_on_a_terminal(files, tmp_path):
    """On a terminal, each stage shows on stderr with its time; --quiet turns it off."""
    import shutil
    import sys

    if shutil.which("script") is None:
        pytest.skip("util-linux script is not available")
    exe = f"{sys.executable[: -len('python')]}prove-model" if sys.executable.endswith("python") else "prove-model"
    cmd = f"{exe} run {files['onnx']} --input {files['dir'] / 'input.json'} --out {tmp_path / 'o'}"
    import subprocess

    tty = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=300)
    assert tty.returncode == 0, tty.stdout
    assert all(f"  {stage:<10} " in tty.stdout for stage in ("load", "compile", "setup", "prove", "verify"))
    quiet = subprocess.run(
        ["script", "-qec", cmd.replace(" run ", " --quiet run "), "/dev/null"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert quiet.returncode == 0 and "  prove      " not in quiet.stdout and "  prove      " in tty.stdout


def test_batch_progress_bar_on_a_terminal(files, tmp_path, mlp_cal):
    import shutil
    import subprocess
    import sys

    if shutil.which("script") is None:
        pytest.skip("util-linux script is not available")
    d = tmp_path / "inputs"
    d.mkdir()
    for i in range(3):
        np.save(d / f"x{i}.npy", mlp_cal[i])
    keys = tmp_path / "keys"
    assert (
        run_cli("compile", files["onnx"], "--calibration", files["dir"] / "cal.json", "-o", tmp_path / "c").returncode
        == 0
    )
    assert run_cli("setup", tmp_path / "c", "-o", keys).returncode == 0
    exe = str(Path(sys.executable).parent / "prove-model")
    res = subprocess.run(
        ["script", "-qec", f"{exe} prove {keys} --batch {d} -o {tmp_path / 'out'} --workers 1", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # prove_many's own 'batch' step drives the display: the rich bar names it
    assert res.returncode == 0 and "batch: 3 proofs" in res.stdout and "proved 3 of 3" in res.stdout


def test_visibility_overrides_the_spec_field_by_field(files, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"visibility": {"input": "public", "output": "public", "params": "fixed"}}))
    res = run_cli(
        "compile",
        files["onnx"],
        "--calibration",
        files["dir"] / "cal.json",
        "--spec",
        spec,
        "--visibility",
        "output=hashed",
        "-o",
        tmp_path / "c",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["visibility"] == {"input": "public", "output": "hashed", "params": "fixed"}


def test_spec_tolerance_is_honoured(files, tmp_path):
    spec = tmp_path / "strict.json"
    spec.write_text(json.dumps({"tolerance": {"max_abs_error": 1e-12}}))
    line = _one_line_error(
        run_cli(
            "compile", files["onnx"], "--calibration", files["dir"] / "cal.json", "--spec", spec, "-o", tmp_path / "c"
        ),
        "CompileError",
    )
    assert "max_abs_error" in line
    assert not (tmp_path / "c").exists()  # refused: nothing written
    # without calibration data nothing is measured: a tolerance cannot be checked, so it is refused
    spec.write_text(json.dumps({"tolerance": {"max_abs_error": 1.0}}))
    line = _one_line_error(
        run_cli("run", files["onnx"], "--input", files["dir"] / "input.json", "--spec", spec, "-o", tmp_path / "o"),
        "CompileError",
    )
    assert "--calibration" in line
    spec.write_text(json.dumps({"tolerance": {"max_error": 1.0}}))
    _one_line_error(
        run_cli(
            "compile", files["onnx"], "--calibration", files["dir"] / "cal.json", "--spec", spec, "-o", tmp_path / "c"
        ),
        "CompileError",
    )


def test_max_error_is_refused_where_it_would_be_ignored(files, tmp_path):
    for cmd in (
        ("compile", files["onnx"], "--calibration", files["dir"] / "cal.json", "-o", tmp_path / "c"),
        ("run", files["onnx"], "--input", files["dir"] / "input.json", "-o", tmp_path / "o"),
    ):
        line = _one_line_error(run_cli(*cmd, "--max-error", "0.1"), "CompileError")
        assert "fastest" in line


def test_params_private_needs_the_explicit_opt_in(files, tmp_path):
    line = _one_line_error(
        run_cli(
            "compile",
            files["onnx"],
            "--calibration",
            files["dir"] / "cal.json",
            "--visibility",
            "params=private",
            "-o",
            tmp_path / "c",
        ),
        "VisibilityError",
    )
    assert "committed" in line and "private-unbound" in line
    res = run_cli(
        "compile",
        files["onnx"],
        "--calibration",
        files["dir"] / "cal.json",
        "--visibility",
        "params=private-unbound",
        "-o",
        tmp_path / "c",
        "--json",
    )
    assert res.returncode == 0 and json.loads(res.stdout)["visibility"]["params"] == "private", res.stderr


def test_every_writing_subcommand_takes_dash_o():
    from zkml.cli.main import cli

    writers = {"run", "export", "compile", "setup", "prove", "bundle", "contract"}
    for name in writers:
        opts = {o for p in cli.commands[name].params for o in getattr(p, "opts", [])}
        assert {"-o", "--output"} <= opts, name


def test_cache_list_and_prune(files, tmp_path, fresh_home):
    res = run_cli(
        "run",
        files["onnx"],
        "--input",
        files["dir"] / "input.json",
        "--calibration",
        files["dir"] / "cal.json",
        "-o",
        tmp_path / "o",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    listed = json.loads(run_cli("cache", "list", "--json").stdout)
    kinds = {e["kind"] for e in listed["entries"]}
    assert {"circuits", "keys", "srs"} <= kinds and listed["bytes"] > 0
    keys_bytes = sum(e["bytes"] for e in listed["entries"] if e["kind"] == "keys")
    res = run_cli("cache", "prune", "--max-size", str(listed["bytes"] - 1), "--json")
    pruned = json.loads(res.stdout)
    assert res.returncode == 0 and pruned["removed"] and pruned["bytes_freed"] >= 1
    assert json.loads(run_cli("cache", "list", "--json").stdout)["bytes"] <= listed["bytes"] - 1
    assert keys_bytes > 0
    # the dev SRS registry is not a cache entry: pruning everything keeps the record that the SRS was dev
    run_cli("cache", "prune", "--older-than", "0s")
    assert json.loads(run_cli("cache", "list", "--json").stdout)["entries"] == []
    assert any((fresh_home / "registry" / "dev-srs").iterdir())
    _one_line_error(run_cli("cache", "prune", "--max-size", "lots"), "StoreError")


def test_cache_cap_applies_after_each_build(files, tmp_path, fresh_home, other_keys):
    """With ZKML_CACHE_MAX, a build prunes least recently used entries, never the ones the running command uses."""
    first = run_cli(
        "run",
        files["onnx"],
        "--input",
        files["dir"] / "input.json",
        "--calibration",
        files["dir"] / "cal.json",
        "-o",
        tmp_path / "a",
        "--json",
    )
    assert first.returncode == 0, first.stderr
    before = {e["path"] for e in json.loads(run_cli("cache", "list", "--json").stdout)["entries"]}
    other = other_keys.circuit.model.save(tmp_path / "other.onnx")
    second = run_cli(
        "run",
        other,
        "--input",
        files["dir"] / "input.json",
        "--calibration",
        files["dir"] / "cal.json",
        "-o",
        tmp_path / "b",
        "--json",
        env={"ZKML_CACHE_MAX": "1"},
    )
    assert second.returncode == 0, second.stderr
    after = {e["path"]: e["kind"] for e in json.loads(run_cli("cache", "list", "--json").stdout)["entries"]}
    gone = before - set(after)
    assert any("/circuits/" in p for p in gone) and any("/keys/" in p for p in gone)  # the first model's
    assert {"circuits", "keys", "srs"} <= set(after.values())  # what the second run used stays


def test_bench_refuses_outside_a_checkout(tmp_path):
    import shutil
    import sys
    from pathlib import Path

    # an installed copy of the package (not the checkout): no benchmarks/ beside it or above the cwd
    site = tmp_path / "site"
    shutil.copytree(Path(zkml.__file__).parent, site / "zkml")
    code = "import sys; sys.path.insert(0, %r); from zkml.cli import main; main(['bench'])" % str(site)
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 1 and "DependencyError" in res.stderr and "checkout" in res.stderr


def test_json_errors_are_json_on_stdout(tmp_path):
    """--json means JSON on failure too: one object on stdout, the error's name, stage, message and hint, and the
    same exit codes (1 for a ZKMLError, 2 for a usage error)."""
    res = run_cli("verify", tmp_path / "missing.json", "--vk", tmp_path / "nokey", "--json")
    assert res.returncode == 1
    err = json.loads(res.stdout)
    assert err["ok"] is False and err["error"].endswith("Error") and err["stage"] and err["message"] and err["hint"]
    usage = run_cli("verify", "--json")
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["error"] == "UsageError"
    plain = run_cli("verify", tmp_path / "missing.json", "--vk", tmp_path / "nokey")
    assert plain.returncode == 1 and plain.stdout == "" and "Error" in plain.stderr
