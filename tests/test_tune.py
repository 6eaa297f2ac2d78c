"""The settings tuner: fastest proof within an error bound, cached, reachable from compile and the CLI."""

import json
import sys

import pytest

import zkml
from conftest import run_cli
from zkml import errors


@pytest.fixture(scope="module")
def tuned(mlp_model, mlp_cal):
    return zkml.tune(mlp_model, mlp_cal, budget_s=120)


def test_tuner_meets_the_bound_and_beats_ezkl_defaults(tuned, mlp_model, mlp_cal):
    assert tuned.circuit.report.max_abs_error <= tuned.max_error
    chosen = [r for r in tuned.table if r["status"] == "chosen"]
    assert len(chosen) == 1 and chosen[0]["options"] == tuned.options
    ezkl_like = zkml.compile(mlp_model, mlp_cal, decomp_base=16384, decomp_legs=2)
    assert tuned.circuit.logrows < ezkl_like.logrows  # smaller circuit than ezkl's default decomposition
    infeasible = [r for r in tuned.table if r["status"] == "over the error bound"]
    assert all(r["max_abs_error"] > tuned.max_error for r in infeasible)
    # round 2 searched scales and the rebase multiplier around the best shapes
    assert any("scale_rebase_multiplier" in r["options"] for r in tuned.table)
    assert any(r["options"].get("scales") == [7] for r in tuned.table)
    # only candidates that passed the mock prover were proved for real
    assert all(r["status"] in ("chosen", "feasible") for r in tuned.table if "prove_s" in r)
    # a proof time within noise of the fastest is a tie, and a tie goes to the more accurate
    timed = [r for r in tuned.table if "prove_s" in r]
    fastest = min(r["prove_s"] for r in timed)
    ties = [r for r in timed if r["prove_s"] <= fastest * (1 + zkml.circuit.tuner.NOISE)]
    assert chosen[0] in ties and chosen[0]["max_abs_error"] == min(r["max_abs_error"] for r in ties)
    keys = tuned.circuit.setup()
    assert zkml.verify(keys.prove(mlp_cal[0]), keys.vk)


def test_a_tie_in_proof_time_goes_to_the_more_accurate_circuit():
    from types import SimpleNamespace as NS

    from zkml.circuit.tuner import NOISE, _choose

    def c(err):
        return NS(report=NS(max_abs_error=err))

    fast_rough, close_exact, slow_exact = (10.0, 0, c(2e-4)), (10.0 * (1 + NOISE / 2), 1, c(5e-5)), (12.0, 2, c(1e-5))
    assert _choose([fast_rough, close_exact, slow_exact]) is close_exact  # within noise: the accurate one
    assert _choose([fast_rough, slow_exact]) is fast_rough  # 20% slower is not noise
    same_err = (10.2, 3, c(2e-4))
    assert _choose([same_err, fast_rough]) is fast_rough  # equal error: the faster


def test_tuning_is_cached(tuned, mlp_model, mlp_cal, monkeypatch):
    import ezkl

    proves = []
    real = ezkl.prove
    monkeypatch.setattr(ezkl, "prove", lambda *a: proves.append(a) or real(*a))
    again = zkml.compile(mlp_model, mlp_cal, target="fastest")
    assert again.key == tuned.circuit.key and proves == []


def test_impossible_bound_is_a_clear_error(mlp_model, mlp_cal):
    with pytest.raises(errors.CompileError, match="no settings keep the error") as ei:
        zkml.tune(mlp_model, mlp_cal, max_error=1e-12, budget_s=60)
    assert "raise max_error" in ei.value.hint


def test_cli_target_fastest(tuned, mlp_model, tmp_path, mlp_cal):
    onnx = mlp_model.save(tmp_path / "m.onnx")
    (tmp_path / "cal.json").write_text(json.dumps(mlp_cal.tolist()))
    res = run_cli(
        "compile", onnx, "--calibration", tmp_path / "cal.json", "--target", "fastest", "-o", tmp_path / "c", "--json"
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["logrows"] == tuned.circuit.logrows


def test_fixed_options_are_kept_in_every_candidate(mlp_model, mlp_cal):
    """compile(target='fastest', scales=..., num_inner_cols=...) searches only what the caller left open."""
    c = zkml.compile(mlp_model, mlp_cal, target="fastest", scales=[9], num_inner_cols=1)
    assert c.options["num_inner_cols"] == 1 and c.settings["run_args"]["input_scale"] == 9
    t = zkml.tune(mlp_model, mlp_cal, scales=[9], num_inner_cols=1)
    assert t.circuit.key == c.key  # the same search, cached
    opts = [r["options"] for r in t.table]
    assert all(o["scales"] == [9] and o["num_inner_cols"] == 1 for o in opts)
    assert len({json.dumps(o, sort_keys=True) for o in opts}) == len(opts)  # no candidate tried twice
    with pytest.raises(errors.CompileError, match="unknown compile option"):
        zkml.compile(mlp_model, mlp_cal, target="fastest", decomp_bass=512)


def test_a_search_takes_its_arguments_in_once(tuned, mlp_model, mlp_cal, tmp_path):
    """Compile's arguments flow down as one prepared value: however many candidates a search builds, the model is
    loaded once, the calibration data batched once and the options checked once, at the entry point (each built
    circuit is still read back from its directory, by load_circuit)."""
    onnx = mlp_model.save(tmp_path / "m.onnx")
    calls: list[tuple[str, str]] = []

    def spy(frame, event, arg):
        if event == "call" and frame.f_code.co_name in ("to_batch", "load_model", "check_options"):
            calls.append((frame.f_code.co_name, frame.f_back.f_code.co_name))

    bound = tuned.max_error * 1.5  # another bound: a search of its own, over candidates already cached
    sys.setprofile(spy)
    try:
        t = zkml.tune(onnx, mlp_cal, max_error=bound, proofs=1)
    finally:
        sys.setprofile(None)
    built = [r for r in t.table if "logrows" in r]
    assert len(built) >= 8 and t.max_error == bound  # many candidates were compiled (from the cache)
    assert calls.count(("to_batch", "batch")) == 1 and [c for c in calls if c[0] == "to_batch"] == [
        ("to_batch", "batch")
    ]
    assert [c for c in calls if c[0] == "check_options"] == [("check_options", "tune")]
    loads = [caller for name, caller in calls if name == "load_model"]
    assert loads.count("of") == 1 and set(loads) == {"of", "load_circuit"}
    with pytest.raises(errors.CompileError, match="unknown compile option"):
        zkml.tune(mlp_model, mlp_cal, decomp_bass=512)  # the entry point checks the options, before any compile


def test_candidates_failing_the_mock_prover_are_never_chosen(mlp_model, mlp_cal, fresh_home, monkeypatch):
    import ezkl

    monkeypatch.setattr(ezkl, "mock", lambda *a: False)
    with pytest.raises(errors.CompileError, match="failed ezkl's mock proof"):
        zkml.tune(mlp_model, mlp_cal, budget_s=60)
    assert not list(fresh_home.glob("**/tune.json"))  # a failed search caches nothing


@pytest.mark.slow
def test_bench_command_runs_the_harness(tmp_path):
    from conftest import ROOT

    res = run_cli("bench", "--models", "credit_logreg", "--out", tmp_path, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "| credit_logreg | zkml-tuned |" in res.stdout and (tmp_path / "harness.png").stat().st_size > 1000
    rows = json.loads((tmp_path / "harness.json").read_text())["rows"]
    tuned = next(r for r in rows if r["flow"] == "zkml-tuned")
    assert tuned["max_abs_error"] <= next(r for r in rows if r["flow"] == "ezkl")["max_abs_error"] * 2 + 1e-3
