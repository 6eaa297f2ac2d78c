"""Issue #24's rough edges, each pinned: hints that name the real cause, help that matches behaviour, scrubbing that
keeps identifiers, `cache list` that says what an entry is, and one unit (GB = 10^9 bytes) in every message."""

import json
import re

import numpy as np
import pytest

import zkml
from conftest import run_cli
from zkml import errors

# --- hints that point to the real cause --------------------------------------------------------------------------


def test_a_verifying_key_directory_where_keys_are_needed_says_so(mlp_keys, mlp_model, tmp_path):
    keys = mlp_keys.save(tmp_path / "keys")
    onnx = mlp_model.save(tmp_path / "m.onnx")
    res = run_cli("commit", onnx, keys / "vk")
    assert res.returncode == 1
    assert "ArtifactError" in res.stderr and "verifying-key directory" in res.stderr, res.stderr
    assert "run setup again" not in res.stderr and str(keys) in res.stderr  # it names the keys directory to pass
    body = json.loads(run_cli("commit", onnx, keys / "vk", "--json").stdout)
    assert body["ok"] is False and body["stage"] == "commit" and "pk.key" in body["hint"]


def test_prove_and_keys_load_on_a_verifying_key_directory_say_so(mlp_keys, tmp_path):
    keys = mlp_keys.save(tmp_path / "keys")
    with pytest.raises(zkml.errors.ArtifactError, match="verifying-key directory") as err:
        zkml.Keys.load(keys / "vk")
    assert "run setup again" not in str(err.value)
    (tmp_path / "x.json").write_text(json.dumps([0.1, 0.2, 0.3, 0.4]))
    res = run_cli("prove", keys / "vk", "--input", tmp_path / "x.json", "-o", tmp_path / "p.json")
    assert res.returncode == 1 and "verifying-key directory" in res.stderr and "run setup again" not in res.stderr


@pytest.mark.parametrize("legacy", [False, True])
def test_a_torch_checkpoint_is_named_with_the_export_command(mlp_torch, tmp_path, legacy):
    import torch

    path = tmp_path / "net.pt"
    torch.save(mlp_torch.state_dict(), path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(errors.ModelFileError) as ei:
        zkml.load_model(path)
    assert ("torch checkpoint" if not legacy else "pickle") in ei.value.message
    assert "not an ONNX model" in ei.value.message and str(ei.value.where) == str(path)
    assert "zkml.export" in ei.value.hint and "prove-model export" in ei.value.hint
    assert "export the model again" not in ei.value.hint


def test_run_on_a_torch_checkpoint_gives_the_export_command(mlp_torch, tmp_path):
    import torch

    torch.save(mlp_torch.state_dict(), tmp_path / "net.pt")
    (tmp_path / "x.json").write_text(json.dumps([0.1, 0.2, 0.3, 0.4]))
    res = run_cli("run", tmp_path / "net.pt", "--input", tmp_path / "x.json", "-o", tmp_path / "out")
    assert res.returncode == 1 and "ModelFileError" in res.stderr
    assert "torch checkpoint" in res.stderr and "prove-model export" in res.stderr, res.stderr


def test_a_valid_onnx_file_is_not_mistaken_for_a_checkpoint(mlp_model, tmp_path):
    assert zkml.load_model(mlp_model.save(tmp_path / "m.onnx")).hash == mlp_model.hash


def test_a_wrong_sample_shape_names_the_expected_shape(mlp_torch, cnn_torch):
    import torch

    with pytest.raises(errors.InputShapeError) as ei:
        zkml.export(mlp_torch, torch.zeros(1, 5))
    assert ei.value.stage == "export" and ei.value.where == "sample_input"
    assert "[1, 5]" in ei.value.message and "[1, 4]" in ei.value.hint
    with pytest.raises(errors.InputShapeError) as ei:
        zkml.export(cnn_torch, torch.zeros(1, 3, 6, 6))
    assert "[1, 1, H, W]" in ei.value.hint and "Conv2d" in ei.value.hint


def test_a_forward_that_fails_otherwise_is_a_model_error_not_a_shape_hint():
    import torch

    class TwoInputs(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    with pytest.raises(errors.ModelError) as ei:
        zkml.export(TwoInputs(), torch.zeros(1, 4))
    assert not isinstance(ei.value, errors.InputShapeError) and "forward() fails" in ei.value.message


def test_a_wrong_sample_for_an_estimator_names_the_expected_shape():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    with pytest.raises(errors.ModelError) as ei:
        zkml.export(LogisticRegression(max_iter=500).fit(X, y), X[:3, :2])
    assert "[N, 4]" in ei.value.hint


# --- help that matches behaviour --------------------------------------------------------------------------------


def test_deploy_help_says_a_node_is_required_as_deploy_does(mlp_keys, tmp_path):
    text = " ".join(run_cli("deploy", "--help").stdout.split())
    assert "default: an in-process EVM" not in text and "Required" in text
    res = run_cli("deploy", mlp_keys.save(tmp_path / "keys"), env={"ZKML_RPC_URL": ""})
    assert res.returncode == 1 and "--rpc-url" in res.stderr  # what the help says: no node, no deploy


# --- scrubbing keeps identifiers, not values ---------------------------------------------------------------------


def test_scrub_keeps_identifiers_and_removes_every_number():
    from zkml.support.scrub import scrub

    text = scrub("halo2 proof over bn254: sha256 and keccak256 of input_0 (conv2d) differ")
    assert text == "halo2 proof over bn254: sha256 and keccak256 of input_0 (conv2d) differ"
    leaky = scrub("pixel 183 at x=17 is -0.25; got [12, 7, 3] in a 1x5 tensor, felt 0x2a, 3e-2, halo2 row 4096")
    assert "halo2" in leaky
    for secret in ("183", "17", "0.25", "12", "0x2a", "3e-2", "4096", "1x5", "x5"):
        assert secret not in leaky, (secret, leaky)
    assert not re.search(r"\d", leaky.replace("halo2", "")), leaky


# --- cache list: model name, kind, size, last use --------------------------------------------------------------


def test_cache_list_names_the_model_of_each_entry(fresh_home, mlp_model, mlp_cal, tmp_path):
    path = mlp_model.save(tmp_path / "iris_mlp.onnx")
    zkml.compile(zkml.load_model(path), mlp_cal).setup()
    listed = json.loads(run_cli("cache", "list", "--json").stdout)
    by_kind = {}
    for e in listed["entries"]:
        by_kind.setdefault(e["kind"], []).append(e)
    for kind in ("circuits", "keys"):
        (entry,) = by_kind[kind]
        assert entry["name"] == "iris_mlp.onnx" and entry["bytes"] > 0 and entry["last_used"] > 0
        assert re.search(r"2\^\d+ rows", entry["detail"]), entry
    assert any(e["detail"].startswith("dev SRS") for e in by_kind["srs"])
    text = run_cli("cache", "list").stdout
    line = next(ln for ln in text.splitlines() if " keys " in ln)
    assert "iris_mlp.onnx" in line and "ago" in line and re.search(r"\d+\.\d (kB|MB|GB)", line), text
    # a saved Model directory or a zoo model (folder/model.onnx) is named by its folder
    zkml.load_model(mlp_model.save(tmp_path / "digits_like" / "model.onnx"))
    assert zkml.support.store.Store().model_name(mlp_model.hash) == "digits_like/model.onnx"


def test_cache_list_keeps_no_trace_of_a_private_input(fresh_home, mlp_model, tmp_path):
    x = np.array([[0.123456, 7.654321, 3.141592, 2.718281]])
    zkml.compile(zkml.load_model(mlp_model.save(tmp_path / "m.onnx")), x, private_data=True)
    text = run_cli("cache", "list", "--json").stdout
    for v in ("0.123456", "7.654321", "3.141592", "2.718281", "123456"):
        assert v not in text


# --- one unit: GB = 10^9 bytes ----------------------------------------------------------------------------------


def test_estimate_prints_the_bytes_its_json_holds(mlp_circuit, tmp_path):
    circuit = mlp_circuit.save(tmp_path / "circuit")
    est = json.loads(run_cli("estimate", circuit, "--json").stdout)
    text = run_cli("estimate", circuit).stdout
    pk = float(re.search(r"proving key ([\d.]+) GB", text).group(1))
    peak = float(re.search(r"peak memory ([\d.]+) GB", text).group(1))
    assert pk == round(est["pk_bytes"] / 1e9, 2) and peak == round(est["peak_memory_bytes"] / 1e9, 2), text
    assert "GiB" not in text and "KB" not in text


def test_a_big_estimate_and_the_compile_refusal_use_decimal_gb():
    from zkml.circuit.estimate import Estimate

    e = Estimate(
        logrows=22,
        rows=3_000_000,
        width=4.0,
        pk_bytes=21_300_000_000,
        peak_memory_bytes=30_000_000_000,
        setup_s=500,
        prove_s=300,
        verifier_bytes=26_800,
        machine_memory_bytes=25_200_000_000,
    )
    text = str(e)
    assert "proving key 21.30 GB" in text and "peak memory 30.00 GB of 25.2 GB" in text and "26.8 kB" in text
    assert not e.fits


def test_cache_sizes_are_decimal():
    from zkml.cli.cache_cmd import _size

    assert _size(1_600_000_000) == "1.6 GB" and _size(21_300_000) == "21.3 MB" and _size(999) == "999 B"
