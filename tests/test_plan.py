"""The worker planner (zkml/circuit/plan.py): the segment size that minimises the critical path on N workers
under a per-worker memory cap, from the cost model alone."""

import pytest

import zkml
from zkml.circuit.estimate import _memory
from zkml.circuit.plan import choose_logrows, critical_path, parse_memory, predict


def _settings(logrows: int, fill: float = 0.9, **extra) -> dict:
    """A plain MLP-like circuit's settings (width 1) of 2^logrows rows, ``fill`` of them used."""
    return {"run_args": {"logrows": logrows, "num_inner_cols": 2}, "num_rows": int(fill * 2**logrows), **extra}


def test_critical_path_schedules_longest_first():
    assert critical_path([5, 4, 3, 3], 2) == 8  # 5+3 and 4+3
    assert critical_path([5, 4, 3, 3], 1, witness_s=1, startup_s=9) == 16  # in process: no start-up
    assert critical_path([5, 4, 3, 3], 32, witness_s=1, startup_s=2) == 8  # nothing beats the longest segment


def test_one_worker_keeps_the_whole_circuit_when_it_fits():
    plan = choose_logrows(_settings(16), workers=1, max_memory=10**11)
    assert (plan.logrows, plan.segments) == (16, 1)


def test_more_workers_cut_smaller_and_shorten_the_critical_path():
    whole = _settings(20)
    one = choose_logrows(whole, workers=1, max_memory=10**11)
    eight = choose_logrows(whole, workers=8, max_memory=10**11)
    assert one.segments == 1
    assert eight.segments > 1 and eight.logrows < one.logrows
    assert eight.critical_path_s < 0.5 * one.critical_path_s
    assert eight.segments <= 8  # one round: more segments only shave rounding, and cost setup, size and gas
    # no other size that needs at most one segment per worker is faster
    for k in range(11, 21):
        other = predict(whole, k, 8)
        if other.segments <= 8:
            assert eight.critical_path_s <= 1.05 * other.critical_path_s + 1e-9


def test_the_memory_cap_bounds_every_workers_segment():
    whole = _settings(20)
    cap = _memory(2**15, 1.0) + 1
    plan = choose_logrows(whole, workers=2, max_memory=cap)
    assert plan.worker_memory_bytes <= cap
    assert plan.logrows <= 15 and plan.segments >= 2**20 * 0.9 / 2**15
    assert choose_logrows(whole, workers=2, max_memory=10**11).logrows > plan.logrows


def test_max_logrows_is_an_upper_bound_of_the_plan():
    assert choose_logrows(_settings(20), workers=1, max_memory=10**11, max_logrows=14).logrows == 14


def test_a_cap_no_segment_fits_is_refused_with_the_numbers():
    with pytest.raises(zkml.ZKMLError) as e:
        choose_logrows(_settings(20), workers=1, max_memory=10**6)
    assert e.value.where == "max_memory" and "GB" in e.value.message and "raise max_memory" in e.value.hint


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", True])
def test_workers_must_be_a_positive_count(bad):
    with pytest.raises(zkml.ZKMLError) as e:
        choose_logrows(_settings(16), workers=bad)
    assert e.value.where == "workers"


@pytest.mark.parametrize(
    "text, want", [("4GB", 4 * 10**9), ("3.5 GiB", int(3.5 * 2**30)), ("512MB", 512 * 10**6), (10**9, 10**9)]
)
def test_memory_sizes_parse_with_units(text, want):
    assert parse_memory(text) == want


@pytest.mark.parametrize("bad", ["lots", "4 parsecs", "-1GB", 0, "0GB"])
def test_memory_sizes_that_mean_nothing_are_refused(bad):
    with pytest.raises(zkml.ZKMLError) as e:
        parse_memory(bad)
    assert e.value.where == "max_memory" and "4GB" in e.value.hint


@pytest.fixture(scope="module")
def deep():
    """The MLP just over one 2^12 circuit that tests/test_split.py splits (same seed and data: a warm cache)."""
    import numpy as np
    import torch

    from conftest import deep_mlp

    return zkml.export(deep_mlp(0), torch.zeros(1, 16)), np.random.default_rng(0).normal(size=(8, 16))


def test_compile_plans_the_split_for_workers_under_a_memory_cap(deep):
    from zkml.circuit.estimate import width

    model, cal = deep
    whole = zkml.compile(model, cal)
    cap = _memory(2 ** (whole.logrows - 1), width(whole.settings)) + 1
    events = []
    sc = zkml.compile(model, cal, workers=2, max_memory=cap, progress=events.append)
    assert sc.units >= 2 and all(s.logrows <= whole.logrows - 1 for s in sc.segments)
    plan = zkml.plan(sc, workers=2)
    assert plan.segments == sc.units and plan.worker_memory_bytes <= cap
    assert any(e.step.startswith("plan: ") for e in events)  # the plan is said before it is compiled
    keys = sc.setup()
    seen = []
    assert zkml.verify(keys.prove(cal[0], workers=2, progress=seen.append), keys.vk)
    # each worker's own steps come back beneath the proof, named by segment (per-segment progress)
    relayed = {e.step.split(":")[0] for e in seen if e.step.startswith("segment ") and e.status == "done"}
    assert relayed == {f"segment {i + 1}/{sc.units}" for i in range(sc.units)}, [e.step for e in seen]
    # without a cap, a small circuit stays whole: a worker's start-up costs more than halving its proof saves
    assert zkml.compile(model, cal, workers=2).units == 1


def test_planning_a_split_of_a_private_input_is_refused(deep):
    from zkml.circuit.estimate import width

    model, cal = deep
    whole = zkml.compile(model, cal)
    cap = _memory(2 ** (whole.logrows - 1), width(whole.settings)) + 1
    with pytest.raises(zkml.ZKMLError) as e:
        zkml.compile(model, cal[:1], workers=2, max_memory=cap, private_data=True)
    assert e.value.where == "max_memory" and "--calibration" in e.value.hint
    with pytest.raises(zkml.ZKMLError) as e:
        zkml.compile(model, cal, workers=2, target="fastest")
    assert e.value.where == "workers"


def test_estimate_prints_the_plan_without_compiling_segments(deep, tmp_path):
    import json

    import numpy as np

    from conftest import run_cli

    model, cal = deep
    model.save(tmp_path / "m.onnx")
    np.save(tmp_path / "cal.npy", cal)
    r = run_cli(
        "estimate",
        str(tmp_path / "m.onnx"),
        "--calibration",
        str(tmp_path / "cal.npy"),
        "--workers",
        "8",
        "--max-memory",
        "100GB",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan["workers"] == 8 and plan["segments"] >= 1 and plan["critical_path_s"] > 0
    text = run_cli("estimate", str(tmp_path / "m.onnx"), "--calibration", str(tmp_path / "cal.npy"), "--workers", "8")
    assert "plan: " in text.stdout and "critical path" in text.stdout
    bad = run_cli(
        "estimate",
        str(tmp_path / "m.onnx"),
        "--calibration",
        str(tmp_path / "cal.npy"),
        "--max-memory",
        "lots",
        "--json",
    )
    assert bad.returncode == 1
    err = json.loads(bad.stdout)
    assert (
        err["ok"] is False and err["error"] == "CompileError" and "max_memory" in err["message"] + str(err.get("where"))
    )


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), "9" * 400 + "GB", "1e9", 2**70, 0.5])
def test_memory_sizes_out_of_range_are_refused_not_crashed(bad):
    with pytest.raises(zkml.ZKMLError) as e:
        parse_memory(bad)
    assert e.value.where == "max_memory"


@pytest.mark.parametrize("workers, max_logrows", [(0, None), (True, None), (-2, None), (2, True), (2, 0)])
def test_compile_refuses_planner_values_that_mean_nothing(deep, workers, max_logrows):
    model, cal = deep
    with pytest.raises(zkml.ZKMLError) as e:
        zkml.compile(model, cal, workers=workers, max_logrows=max_logrows)
    assert e.value.where == ("workers" if max_logrows is None else "max_logrows")


def test_a_max_logrows_below_the_smallest_split_is_named():
    with pytest.raises(zkml.ZKMLError) as e:
        choose_logrows(_settings(16), workers=2, max_memory=10**11, max_logrows=9)
    assert e.value.where == "max_logrows"


def test_too_many_workers_are_refused_not_overflowed():
    with pytest.raises(zkml.ZKMLError) as e:
        choose_logrows(_settings(16), workers=10**400)
    assert e.value.where == "workers"


def test_estimate_of_a_split_circuit_checks_the_memory_cap(deep, tmp_path):
    import json

    from conftest import run_cli

    model, cal = deep
    whole = zkml.compile(model, cal)
    sc = zkml.compile(model, cal, max_logrows=whole.logrows - 1).save(tmp_path / "sc")
    bad = run_cli("estimate", sc, "--workers", "2", "--max-memory", "banana", "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"] == "CompileError"
    small = run_cli("estimate", sc, "--workers", "2", "--max-memory", "1MB", "--json")
    err = json.loads(small.stdout)
    assert small.returncode == 1 and "largest segment needs" in err["message"]
    ok = run_cli("estimate", sc, "--workers", "2", "--max-memory", "100GB", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["plan"]["segments"] == 2
