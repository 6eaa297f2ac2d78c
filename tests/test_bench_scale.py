"""benchmarks/scale.py's derived numbers: the simulated critical paths and the planner's ratios follow from the
measurements it was given (the benchmark itself runs for minutes; `python -m benchmarks scale`)."""

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT))


def _result():
    plan = {n: {"critical_path_s": 24.0 if n == 1 else 16.0, "sequential_s": 24.0} for n in (1, 2, 4, 8, 16, 32)}
    return {
        "model": "m",
        "max_logrows": 12,
        "setup": {
            "units": 2,
            "logrows": [12, 12],
            "rows": [2048, 4096],
            "predicted": {"prove_s": [12.0, 11.0], "peak_memory_mb": [100.0, 100.0], "plan": plan},
        },
        "segments": [
            {"witness_chain_s": 0.0, "prove_s": 20.0, "cpu_s": 10.0, "peak_rss_mb": 200.0},
            {"witness_chain_s": 1.0, "prove_s": 10.0, "cpu_s": 10.0, "peak_rss_mb": 100.0},
        ],
        "measured": {1: {"prove_s": 30.0}, 2: {"prove_s": 24.0}},
    }


def test_scale_derives_the_critical_paths_and_the_planners_ratios_from_the_measurements():
    from benchmarks.scale import derive, table

    r = derive(_result())
    assert r["worker_startup_s"] == 3.0  # measured 24 s on 2 workers against 1 + 20 simulated
    assert r["critical_path_s"][1] == 31.0 and r["critical_path_s"][2] == 24.0 and r["critical_path_s"][32] == 24.0
    assert r["critical_path_cpu_s"][2] == 14.0  # 1 s of witnesses, 3 s of start-up, the longer 10 s proof
    p = r["planner"]
    assert p["segment_prove_s_ratio"] == [0.6, 1.1] and p["segment_prove_cpu_s_ratio"] == [1.2, 1.1]
    assert p["segment_memory_ratio"] == [0.5, 1.0] and p["fill"] == [0.5, 1.0]
    assert p["critical_path_ratio_vs_measured"] == {1: 0.8, 2: round(16 / 24, 3)}
    assert p["worker_startup_s"] == {"planner": 3.0, "measured": 3.0}  # 16 - (24 - 23) - 12
    md = table([r, {"model": "big", "max_logrows": 11, "error": "does not fit\n2^11 rows"}])
    assert "| m at 2^12 | 2 (12, 12) | 20.0 (10.0 CPU), 10.0 (10.0 CPU) / 12.0, 11.0 |" in md
    assert "| big at 2^11 | refused: does not fit 2^11 rows |" in md
