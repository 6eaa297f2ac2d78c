"""The distribution a user installs: `pip wheel .` builds zkml-prover, whose wheel alone gives `import zkml`,
`prove-model --help`, the application contracts and the ceremony SRS table.

The wheel is installed with --no-deps into a --target folder (its dependencies are this venv's, already
installed) and run with only that folder ahead of the venv on the path, from outside the source tree, so
`zkml` must come from the wheel.
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

DIST = "zkml-prover"  # "zkml" on PyPI is another project (a Leo transpiler); the import name stays zkml


def _pip(*args, cwd=None):
    res = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return res


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", str(ROOT), "--no-deps", "-q", "-w", str(out))
    (whl,) = out.glob("*.whl")
    return whl


def test_the_wheel_is_zkml_prover_with_its_data_files(wheel):
    assert wheel.name.startswith("zkml_prover-")
    names = zipfile.ZipFile(wheel).namelist()
    sols = {Path(n).name for n in names if n.startswith("zkml/evm/contracts/") and n.endswith(".sol")}
    assert sols and sols == {p.name for p in (ROOT / "circuits" / "contracts").glob("*.sol")}  # force-include
    assert "zkml/srs_ceremonies.json" in names and "zkml/py.typed" in names
    assert not any(n.startswith(("tests/", "models/", "benchmarks/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert f"Name: {DIST}\n" in text
    entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "prove-model = zkml.cli:main" in entry


def test_the_installed_wheel_imports_and_runs_the_cli(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(target), "ZKML_HOME": str(tmp_path / "home")}
    elsewhere = tmp_path / "cwd"  # not the checkout: its zkml/ must not shadow the wheel's
    elsewhere.mkdir()

    def py(code: str) -> str:
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300
        )
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    info = json.loads(
        py(
            "import json, sys, zkml, importlib.metadata as md; from zkml.evm import app_contract; "
            "print(json.dumps({'file': zkml.__file__, 'version': md.version('zkml-prover'), "
            "'torch': 'torch' in sys.modules}))"
        )
    )
    assert Path(info["file"]).resolve().is_relative_to(target.resolve()), info
    assert info["version"] and not info["torch"]
    assert (target / "zkml" / "srs_ceremonies.json").is_file()
    assert list((target / "zkml" / "evm" / "contracts").glob("*.sol"))
    # the console script the wheel installs, run by this interpreter with the wheel's folder first
    script = target / "bin" / "prove-model"
    assert script.is_file()
    res = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300
    )
    assert res.returncode == 0 and "Prove that an ML model" in res.stdout and "export" in res.stdout, res.stderr
    res = subprocess.run(
        [sys.executable, str(script), "--version"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300
    )
    assert res.returncode == 0 and info["version"] in res.stdout, res.stdout + res.stderr
