import subprocess
import sys

import zkml


def test_all_is_sorted_and_resolvable():
    assert zkml.__all__ == sorted(zkml.__all__)
    for name in zkml.__all__:
        assert getattr(zkml, name) is not None, name
    for name in ("export", "load_model", "compile", "verify", "Visibility", "Model", "Circuit", "Keys",
                 "VerifyingKey", "Proof", "Verification", "ZKMLError"):
        assert name in zkml.__all__


def test_import_zkml_is_light():
    code = ("import sys, zkml; heavy = [m for m in ('torch', 'ezkl', 'onnx', 'onnxruntime', 'numpy', 'web3', 'pyrevm') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import zkml pulled in: {out.stdout}"


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
