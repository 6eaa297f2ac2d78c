import subprocess
import sys

import pytest

import zkml


def test_all_is_sorted_and_resolvable():
    assert zkml.__all__ == sorted(zkml.__all__)
    for name in zkml.__all__:
        assert getattr(zkml, name) is not None, name
    for name in (
        "export",
        "load_model",
        "compile",
        "verify",
        "Visibility",
        "Model",
        "Circuit",
        "Keys",
        "VerifyingKey",
        "Proof",
        "Verification",
        "ZKMLError",
    ):
        assert name in zkml.__all__


def test_import_zkml_is_light():
    code = (
        "import sys, zkml; heavy = [m for m in ('torch', 'ezkl', 'onnx', 'onnxruntime', 'numpy', 'web3', 'pyrevm') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import zkml pulled in: {out.stdout}"


def test_warm_cli_run_skips_onnx_and_the_batch_machinery(tmp_path, mlp_model, mlp_cal, mlp_keys):
    """A warm `prove-model run` (cached parse, circuit and keys) loads neither the onnx package nor
    multiprocessing: the two biggest costs of process start that a single proof does not need."""
    import json

    onnx_path = mlp_model.save(tmp_path / "m.onnx")
    (tmp_path / "x.json").write_text(json.dumps(mlp_cal[0].tolist()))
    (tmp_path / "cal.json").write_text(json.dumps(mlp_cal.tolist()))
    args = [
        "--quiet",
        "run",
        str(onnx_path),
        "--input",
        str(tmp_path / "x.json"),
        "--calibration",
        str(tmp_path / "cal.json"),
        "--out",
        str(tmp_path / "out"),
    ]
    code = (
        "import sys\nfrom zkml.cli import main\ntry: main(sys.argv[1:])\nexcept SystemExit as e: code = e.code\n"
        "print('MODS', ','.join(m for m in ('onnx', 'multiprocessing', 'py_ecc') if m in sys.modules))"
    )
    for _ in range(2):  # the first run fills the parse cache
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert "verified" in out.stdout, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "MODS", out.stdout


def test_model_parse_is_cached_and_checked(tmp_path, fresh_home, mlp_model, monkeypatch):
    from zkml.model import model as _model

    path = mlp_model.save(tmp_path / "m.onnx")
    first = zkml.load_model(path)
    parsed = list(fresh_home.glob("models/*/parsed.json"))
    assert len(parsed) == 1
    real = _model._parse
    monkeypatch.setattr(_model, "_parse", lambda *a: (_ for _ in ()).throw(AssertionError("parsed again")))
    again = zkml.load_model(path)
    assert (again.hash, again.inputs, again.outputs) == (first.hash, first.inputs, first.outputs)
    # other bytes (the same graph, another producer name) are never served from that entry
    import onnx

    proto = onnx.load_model_from_string(mlp_model.onnx_bytes)
    proto.producer_name = "someone-else"
    (tmp_path / "other.onnx").write_bytes(proto.SerializeToString())
    with pytest.raises(AssertionError, match="parsed again"):
        zkml.load_model(tmp_path / "other.onnx")
    monkeypatch.setattr(_model, "_parse", real)
    # a damaged entry is parsed again, not trusted
    parsed[0].write_text("{not json")
    calls = []
    monkeypatch.setattr(_model, "_parse", lambda *a: calls.append(1) or real(*a))
    assert zkml.load_model(path).outputs == first.outputs and calls == [1]


def test_model_loads_with_an_unwritable_cache(tmp_path, mlp_model, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("ZKML_HOME", str(blocker / "home"))
    m = zkml.load_model(mlp_model.save(tmp_path / "m.onnx"))
    assert m.outputs == mlp_model.outputs


def test_error_tree_matches_builtins():
    e = zkml.errors.InputShapeError("bad", where="input 'x'", hint="reshape it")
    assert isinstance(e, zkml.ZKMLError) and isinstance(e, ValueError)
    assert "input 'x'" in str(e) and "reshape it" in str(e) and str(e).startswith("[input]")
    assert issubclass(zkml.errors.StoreError, OSError)
    assert issubclass(zkml.errors.DependencyError, ImportError)
    assert all(issubclass(getattr(zkml.errors, n), zkml.ZKMLError) for n in zkml.errors.__all__)


def test_error_pickles_across_processes():
    import pickle

    e = zkml.errors.ProveError("x failed", where="keys/", hint="retry")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and str(e2) == str(e)
