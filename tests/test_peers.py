"""benchmarks/peers.py without JSTprove installed: its refusals, its step measurement and its table."""

from __future__ import annotations

import sys

import pytest

from benchmarks import peers
from zkml.errors import DependencyError


def test_refuses_without_openmpi_naming_the_install_command(tmp_path):
    # a search path with no mpirun on it: the check is shutil.which on that path, as for $PATH
    with pytest.raises(DependencyError) as err:
        peers.require_jstprove(tmp_path / "venv", install=False, search_path=str(tmp_path))
    text = str(err.value)
    assert "mpirun" in text and "OpenMPI" in text
    assert "apt-get install -y libopenmpi-dev openmpi-bin" in text
    assert err.value.stage == "peers"
    assert not (tmp_path / "venv").exists()  # refused before creating anything


def test_refuses_a_venv_without_jstprove_when_not_installing(tmp_path):
    venv = tmp_path / "jstprove-venv"
    tools = peers.jstprove_tools(venv)
    assert not any(p.is_file() for p in tools.values())
    with pytest.raises(DependencyError) as err:
        peers.require_jstprove(venv, install=False)
    if peers.openmpi_missing():  # this machine lacks OpenMPI: that refusal comes first
        assert "libopenmpi-dev openmpi-bin" in str(err.value)
    else:
        assert "not installed" in str(err.value) and str(venv) in str(err.value)
    assert not venv.exists()


def test_default_venv_lives_under_zkml_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ZKML_HOME", str(tmp_path))
    assert peers.default_venv() == tmp_path / "peers" / "jstprove-venv"


def test_a_step_reports_its_own_peak_memory_and_result(tmp_path):
    code = "x = bytearray(150 * 2**20); x[::4096] = b'1' * len(x[::4096]); print('RESULT {\"n\": 7}')"
    m = peers._measured([sys.executable, "-c", code], cwd=tmp_path)
    assert m["rc"] == 0 and m["result"] == {"n": 7}
    assert m["peak_rss_mb"] >= 150  # the child's RSS, not the wrapper's (a bare interpreter is ~10 MB)
    small = peers._measured([sys.executable, "-c", "print('RESULT {}')"], cwd=tmp_path)
    assert small["peak_rss_mb"] < 100
    bad = peers._measured([sys.executable, "-c", "raise SystemExit('no such model')"], cwd=tmp_path)
    assert bad["rc"] == 1 and "result" not in bad
    assert "no such model" in peers._fail("prove", bad)


def test_table_rows_ratios_against_ezkl_and_refusals():
    rows = [
        {
            "model": "m",
            "system": "ezkl",
            "setup_s": 30.0,
            "witness_s": 0.5,
            "prove_s": 10.0,
            "verify_s": 0.2,
            "ok": True,
            "peak_rss_mb": 2000.0,
            "proof_bytes": 3072,
            "verifier_bytes": 70000,
            "srs_bytes": 262404,
            "max_abs_error": 1e-4,
        },
        {
            "model": "m",
            "system": "JSTprove",
            "setup_s": 5.0,
            "witness_s": 3.0,
            "prove_s": 2.0,
            "verify_s": 1.5,
            "ok": False,
            "peak_rss_mb": 1000.0,
            "proof_bytes": 48696,
            "verifier_bytes": 10508995,
            "max_abs_error": 5e-6,
        },
        {"model": "lenet", "system": "JSTprove", "refused": "Unsupported operations {'AveragePool'} | x"},
    ]
    table = peers.format_table(rows).splitlines()
    width = table[0].count("|")
    assert all(line.count("|") == width for line in table)  # every row, refusals too, fills every column
    ezkl, jst, refused = table[2], table[3], table[4]
    assert "| 1.000 / 1.000 |" in ezkl and "| 0.200 / 0.500 |" in jst
    assert "0.200 valid" in ezkl and "1.500 NOT VALID" in jst
    assert "48,696" in jst and "10,508,995" in jst and "SRS 262,404" in ezkl
    assert peers.PRIVATE["JSTprove"] in jst and "input hidden" in ezkl
    assert "refused: Unsupported operations {'AveragePool'}" in refused
