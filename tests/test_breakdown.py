"""Why this size: rows by op and by lookup table, what sets logrows, the setting that shrinks it, the report page."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import zkml
from conftest import run_cli
from zkml.circuit.breakdown import RESERVED_ROWS, breakdown, report_html
from zkml.errors import ZKMLError


@pytest.fixture(scope="module")
def iris_proba(tmp_path_factory):
    """scikit-learn's LogisticRegression on iris, exporting predict_proba (a Softmax): the issue's 2^17 circuit."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = zkml.export(LogisticRegression(max_iter=500).fit(X, y), X[:4], sklearn_output="proba")
    circuit = zkml.compile(model, X[:32])
    return circuit.save(tmp_path_factory.mktemp("iris") / "circuit"), circuit


def test_iris_proba_says_the_exp_table_dominates_and_names_the_setting(iris_proba):
    path, circuit = iris_proba
    [b] = breakdown(circuit)
    big = b.largest
    assert big.kind == "lookup" and big.name.startswith("Exp lookup table")
    lo, hi = circuit.settings["run_args"]["lookup_range"]
    assert big.rows == hi - lo + 1 and big.logrows == circuit.logrows  # the table alone sets 2^logrows
    assert big.rows > 100 * circuit.num_rows  # the ops are a sliver of it
    assert "set by the Exp lookup table" in b.message
    assert "sklearn_output='decision'" in b.advice and "scales=[" in b.advice
    # per op: ezkl's layout puts the Softmax first, and the rows add up to the circuit's
    assert b.ops_sum_matches is True and sum(p.rows for p in b.ops) == circuit.num_rows
    assert max(b.ops, key=lambda p: p.rows).name.startswith("SOFTMAX")

    # the CLI: estimate --json carries it as a list; the text says it plainly
    res = run_cli("estimate", path, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    rows = info["breakdown"]
    exp = next(r for r in rows if r["kind"] == "lookup")
    assert exp["sets_logrows"] is True and exp["rows"] == big.rows and "sklearn_output" in exp["setting"]
    summary = next(r for r in rows if r["kind"] == "summary")
    assert summary["logrows"] == circuit.logrows and "Exp lookup table" in summary["message"]
    text = run_cli("estimate", path)
    assert (
        text.returncode == 0
        and "set by the Exp lookup table" in text.stdout
        and "sklearn_output='decision'" in text.stdout
    )
    shown = run_cli("inspect", path)
    assert shown.returncode == 0 and "set by the Exp lookup table" in shown.stdout


def test_a_tiny_mlp_breakdown_sums_to_num_rows(mlp_circuit, mlp_keys):
    [b] = breakdown(mlp_circuit)
    assert b.ops_sum_matches is True
    assert sum(p.rows for p in b.ops) == mlp_circuit.num_rows
    assert next(p for p in b.parts if p.kind == "ops").rows == mlp_circuit.num_rows
    assert {p.name.split(" ")[0] for p in b.ops} >= {"EINSUM", "input"}  # the Gemms, and the input's range checks
    assert sum(p.nodes for p in b.ops if p.name.startswith("EINSUM")) == 2
    # what sets logrows: the part with the most rows, plus ezkl's reserved rows, fits 2^logrows exactly
    need = max(p.rows for p in b.parts) + RESERVED_ROWS
    assert 2 ** (mlp_circuit.logrows - 1) < need <= 2**mlp_circuit.logrows
    assert b.largest.kind == "range_check" and "decomp_base" in b.advice  # the 1024-entry decomposition table
    # keys explain their circuit the same way
    [kb] = breakdown(mlp_keys)
    assert kb.to_json() == b.to_json()
    with pytest.raises(ZKMLError, match="circuit or keys"):
        breakdown(mlp_keys.vk)


def test_report_page_is_static_with_svg_and_no_external_urls(tmp_path, iris_proba, mlp_keys):
    path, circuit = iris_proba
    out = tmp_path / "report.html"
    res = run_cli("report", path, "-o", out)
    assert res.returncode == 0, res.stderr
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "</html>" in page
    assert not re.search(r"https?://|//cdn|<script|<link|@import|\bsrc=", page)
    assert "set by the Exp lookup table" in page and "sklearn_output=&#x27;decision&#x27;" in page
    assert "Largest absolute error of each output element" in page  # the calibration error per output
    assert "Estimate on this machine" in page
    # keys work too (their circuit), and anything else is refused with the stage and what to pass
    keys_dir = mlp_keys.save(tmp_path / "keys")
    assert run_cli("report", keys_dir, "-o", tmp_path / "k.html").returncode == 0
    assert "<svg" in (tmp_path / "k.html").read_text()
    bad = run_cli("report", keys_dir / "vk", "-o", tmp_path / "vk.html")
    assert bad.returncode == 1 and "ArtifactError" in bad.stderr and "circuit or keys" in bad.stderr
    assert not (tmp_path / "vk.html").exists()


def test_report_of_a_private_input_circuit_quotes_no_lookup_range(mlp_model):
    x = np.array([0.5, -1.25, 2.0, 0.75])
    circuit = zkml.compile(mlp_model, x, private_data=True)
    page = report_html(circuit)
    assert "lookup range [" not in page and "calibrated on the private input" in page
