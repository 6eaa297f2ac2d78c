"""Progress: the library's stage events (callback and logging), the CLI's rendering of them, and privacy."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import zkml
from conftest import run_cli
from zkml.support.progress import Event, reporting, step

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
SECRET = 3.14159265  # a distinctive private input value: no event, log line or progress line may carry it
SECRET_TEXTS = ("3.14159", "3.1415", "314159")


def _check_order(events: list[Event]) -> None:
    """Every step starts before it ends, done/total stay consistent, elapsed and time only grow."""
    open_: dict[tuple, Event] = {}
    for e in events:
        k = (e.stage, e.step, e.depth)
        assert e.elapsed >= 0
        if e.total is not None and e.done is not None:
            assert 0 <= e.done <= e.total, e
        if e.status == "start":
            assert k not in open_, f"{k} started twice"
            open_[k] = e
        elif e.status in ("done", "failed"):
            assert k in open_, f"{k} ended without starting"
            assert e.elapsed >= open_.pop(k).elapsed
        elif k in open_:
            assert e.elapsed >= open_[k].elapsed
            open_[k] = e
    assert not open_, f"steps never ended: {list(open_)}"
    times = [e.time for e in events]
    assert times == sorted(times)


def test_callback_gets_ordered_events_for_compile_setup_prove(fresh_home, mlp_model, mlp_cal):
    events: list[Event] = []
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("zkml")
    handler, old_level = Keep(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        circuit = zkml.compile(mlp_model, mlp_cal, progress=events.append)
        n_compile = len(events)
        keys = zkml.setup(circuit, progress=events.append)
        n_setup = len(events)
        x = mlp_cal[2].copy()
        x[0] = SECRET
        keys.prove(x, progress=events.append)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    _check_order(events)
    compile_ev, setup_ev, prove_ev = events[:n_compile], events[n_compile:n_setup], events[n_setup:]
    assert {e.stage for e in compile_ev} == {"compile"} and {e.stage for e in setup_ev} == {"setup"}
    assert {e.stage for e in prove_ev} == {"prove"}
    # compile: the outer step, a build, ezkl's calibration, and the report's samples counted to their total
    steps = [e.step for e in compile_ev if e.status == "start"]
    assert steps[0] == "target resources" and any(s.startswith("build (decomposition 1024x3") for s in steps)
    report = [e for e in compile_ev if e.step.startswith("calibration report")]
    assert report[0].status == "start" and report[0].done == 0 and report[-1].done == report[-1].total == 16
    assert any("set by" in e.step for e in compile_ev)  # why this size, said at the end of compile
    # setup: one step around ezkl's setup with the cost model's prediction as its ETA
    start = next(e for e in setup_ev if e.status == "start" and e.step.startswith("keys for 2^"))
    assert start.eta == pytest.approx(zkml.estimate(circuit).setup_s)
    assert [e.status for e in setup_ev if e.step == start.step] == ["start", "done"]
    # prove: witness, then the proof
    assert [(e.step.split(" ")[0], e.status) for e in prove_ev] == [
        ("witness", "start"),
        ("witness", "done"),
        ("proof", "start"),
        ("proof", "done"),
    ]
    # the same events reached logging: start/done at INFO
    logged = [r.getMessage() for r in records]
    assert any(m.startswith("setup: keys for 2^") and "done in" in m for m in logged)
    assert all(r.levelno == logging.DEBUG for r in records if "elapsed" in r.getMessage())
    # nothing of the private input in any event or log line
    text = "\n".join([*map(repr, events), *logged])
    assert not any(s in text for s in SECRET_TEXTS)


def test_context_callback_and_a_broken_callback(mlp_circuit):
    seen: list[Event] = []
    with reporting(seen.append):
        with step("demo", "outer"):
            with step("demo", "inner", total=2) as s:
                s.advance()
                s.advance()
    assert [(e.step, e.status, e.depth) for e in seen if e.status != "update"] == [
        ("outer", "start", 0),
        ("inner", "start", 1),
        ("inner", "done", 1),
        ("outer", "done", 0),
    ]
    assert [e.done for e in seen if e.step == "inner"][-1] == 2
    _check_order(seen)

    def broken(event):
        raise RuntimeError("display gone")

    with reporting(broken):  # a failing display never breaks the work
        keys = zkml.setup(mlp_circuit)
    assert keys.circuit.key == mlp_circuit.key
    outside: list[Event] = []
    with reporting(outside.append):
        pass
    with step("demo", "after"):  # no callback installed here any more
        pass
    assert outside == []


def _cli_files(tmp_path, mlp_model, mlp_cal):
    onnx = mlp_model.save(tmp_path / "m.onnx")
    x = mlp_cal[5].copy()
    x[1] = SECRET
    (tmp_path / "x.json").write_text(json.dumps({"input_data": [x.tolist()]}))
    (tmp_path / "cal.json").write_text(json.dumps(mlp_cal.tolist()))
    return onnx


def test_cli_prints_timestamped_progress_when_stderr_is_not_a_terminal(tmp_path, mlp_model, mlp_cal):
    onnx = _cli_files(tmp_path, mlp_model, mlp_cal)
    home = tmp_path / "home"
    # no --calibration: the circuit is calibrated on the private input itself, the hardest case for privacy
    res = run_cli(
        "run",
        onnx,
        "--input",
        tmp_path / "x.json",
        "-o",
        tmp_path / "out",
        env={"ZKML_HOME": str(home), "ZKML_PROGRESS_INTERVAL": "0.1"},
    )
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if STAMP.match(ln)]
    body = [STAMP.sub("", ln) for ln in lines]
    # steps predicted to take the interval or more say so when they start, and when they end
    setup = next(
        i for i, b in enumerate(body) if re.fullmatch(r"setup: keys for 2\^11 rows: started, ~.* predicted", b)
    )
    proof = next(
        i for i, b in enumerate(body) if re.fullmatch(r"prove: proof of 2\^11 rows: started, ~.* predicted", b)
    )
    assert setup < proof
    assert any(b.startswith("setup: keys for 2^11 rows: done in ") for b in body[setup:proof]), body
    assert any(b.startswith("prove: proof of 2^11 rows: done in ") for b in body[proof:]), body
    everything = res.stdout + res.stderr
    assert not any(s in everything for s in SECRET_TEXTS)
    # the lookup range chosen on the private input is not quoted either
    assert "lookup range [" not in res.stderr

    quiet = run_cli(
        "-q",
        "run",
        onnx,
        "--input",
        tmp_path / "x.json",
        "--calibration",
        tmp_path / "cal.json",
        "-o",
        tmp_path / "out2",
        env={"ZKML_HOME": str(home), "ZKML_PROGRESS_INTERVAL": "0.1"},
    )
    assert quiet.returncode == 0, quiet.stderr
    assert not [ln for ln in quiet.stderr.splitlines() if STAMP.match(ln)]
    assert "started" not in quiet.stderr and "elapsed" not in quiet.stderr


def test_the_display_ticks_while_a_step_runs():
    """The display process prints a line every interval while a step is open, whatever the main process does
    (ezkl holds the GIL through a setup): polled until it appears, never waited for blindly."""
    from zkml.cli.common import _VIEW

    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", _VIEW, "plain", "0.1"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    got: list[str] = []
    ticked = threading.Event()

    def read():
        for line in proc.stderr:
            got.append(line.rstrip("\n"))
            if "elapsed" in line and "~" in line:
                ticked.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    import time

    start = Event("setup", "keys for 2^20 rows", "start", elapsed=0.0, eta=500.0, time=time.time()).to_json()
    proc.stdin.write(json.dumps({"kind": "event", **start}) + "\n")
    proc.stdin.flush()
    try:
        assert ticked.wait(30), got
    finally:
        done = {**start, "status": "done", "elapsed": 1.0, "eta": 0.0}
        proc.stdin.write(json.dumps({"kind": "event", **done}) + "\n")
        proc.stdin.close()
        proc.wait(30)
    reader.join(10)
    proc.stderr.close()
    assert proc.returncode == 0
    assert all(STAMP.match(ln) for ln in got), got
    assert STAMP.sub("", got[0]) == "setup: keys for 2^20 rows: started, ~8 min 20 s predicted"
    tick = next(STAMP.sub("", ln) for ln in got if "elapsed" in ln)
    assert re.fullmatch(r"setup: keys for 2\^20 rows: \d+\.\d s elapsed, ~8 min \d\d s left", tick), tick
    assert STAMP.sub("", got[-1]) == "setup: keys for 2^20 rows: done in 1.0 s"


class _Records(logging.Handler):
    """Every record of the ``zkml`` logger while installed (searched for the private value)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    @contextlib.contextmanager
    def on(self, name: str = "zkml"):
        logger = logging.getLogger(name)
        old = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(old)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


def test_prove_many_reports_the_batch_and_each_workers_steps(mlp_keys, mlp_cal, tmp_path):
    xs = [mlp_cal[i].copy() for i in range(4)]
    xs[2][1] = SECRET
    events: list[Event] = []
    with _Records().on() as logs:
        results = zkml.prove_many(mlp_keys, xs, workers=2, out_dir=tmp_path, progress=events.append)
    assert all(results) and len(results) == 4
    # the parent's batch step: start, updates whose done only grows, done reaching the total
    batch = [e for e in events if e.stage == "batch"]
    assert (batch[0].status, batch[0].total, batch[0].done, batch[0].unit) == ("start", 4, 0, "proofs")
    assert batch[-1].status == "done" and batch[-1].done == batch[-1].total == 4
    done = [e.done for e in batch if e.status == "update"]
    assert done == sorted(done) and done[-1] == 4
    assert all(e.eta is not None for e in batch if e.status == "update")  # the measured mean per item
    assert [e.eta for e in batch if e.status == "update"][-1] == 0
    # each worker's own steps, reported here beneath the batch step
    for i in range(1, 5):
        mine = [e for e in events if e.stage == "prove" and e.step.startswith(f"input {i}/4: ")]
        assert {e.step.split(": ", 1)[1] for e in mine if e.status == "done"} >= {"witness", "proof of 2^11 rows"}
        assert all(e.depth == batch[0].depth + 1 for e in mine)
    # a rerun proves nothing and says so
    again: list[Event] = []
    zkml.prove_many(mlp_keys, xs, workers=2, out_dir=tmp_path, progress=again.append)
    assert [(e.stage, e.status, e.done, e.total) for e in again] == [("batch", "note", 4, 4)]
    # no event and no log line carries the private value
    text = json.dumps([e.to_json() for e in events + again]) + logs.text()
    assert "input 3/4: proof of 2^11 rows" in text
    assert not any(s in text for s in SECRET_TEXTS)


def test_cli_batch_progress_is_printed_in_a_log(tmp_path, mlp_keys, mlp_cal):
    """`prove --batch` with stderr not a terminal: timestamped lines of the batch step, its count reaching the
    total (the batch's events are no longer hidden behind a terminal-only bar)."""
    keys = mlp_keys.save(tmp_path / "keys")
    d = tmp_path / "inputs"
    d.mkdir()
    for i in range(3):
        x = np.array(mlp_cal[i], dtype=np.float64)
        x.flat[0] = SECRET  # a private value that no line may carry
        np.save(d / f"x{i}.npy", x)
    res = run_cli(
        "prove",
        keys,
        "--batch",
        d,
        "-o",
        tmp_path / "out",
        "--workers",
        "1",
        env={"ZKML_PROGRESS_INTERVAL": "0.01"},
    )
    assert res.returncode == 0, res.stderr
    body = [STAMP.sub("", ln) for ln in res.stderr.splitlines() if STAMP.match(ln)]
    assert any(b.startswith("batch: 3 proofs") for b in body), body
    assert any(re.match(r"batch: 3 proofs 3/3: done in ", b) for b in body), body
    assert not any(t in res.stdout + res.stderr for t in SECRET_TEXTS)
