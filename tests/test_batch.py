"""Batch proving on a local process pool: order, per-item errors, resume, a worker killed mid-batch."""

import contextlib
import json
import multiprocessing as mp
import os
import signal

import numpy as np
import pytest

import zkml
from conftest import run_cli
from zkml import errors


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory, mlp_keys):
    return mlp_keys.save(tmp_path_factory.mktemp("bk") / "keys")


def test_batch_with_one_bad_input(mlp_keys, mlp_cal, tmp_path):
    inputs = [mlp_cal[0], mlp_cal[1], np.zeros(5), mlp_cal[2]]
    results = zkml.prove_many(mlp_keys, inputs, workers=2, out_dir=tmp_path)
    assert [bool(r) for r in results] == [True, True, False, True]
    bad = results[2]
    assert isinstance(bad, zkml.BatchError) and bad.error == "InputShapeError" and bad.index == 2
    for r, x in zip(results, inputs):
        if r:
            assert zkml.verify(r, mlp_keys.vk)
            np.testing.assert_array_equal(r.outputs[0], mlp_keys.prove(x).outputs[0])  # input order kept
    assert sorted(p.name for p in tmp_path.glob("*.proof.json")) == ["0.proof.json", "1.proof.json", "3.proof.json"]
    assert json.loads((tmp_path / "errors.json").read_text())[0]["id"] == "2"


def test_resume_proves_only_what_is_missing(mlp_keys, mlp_cal, tmp_path):
    zkml.prove_many(mlp_keys, mlp_cal[:2], workers=1, out_dir=tmp_path)
    (tmp_path / "1.proof.json").write_text("{}")  # a broken leftover is proved again
    before = (tmp_path / "0.proof.json").stat().st_mtime_ns
    proved = []
    results = zkml.prove_many(
        mlp_keys, mlp_cal[:3], workers=1, out_dir=tmp_path, on_result=lambda i, r: proved.append(i)
    )
    assert sorted(proved) == [1, 2] and all(results)
    assert (tmp_path / "0.proof.json").stat().st_mtime_ns == before


@pytest.fixture
def deaths(monkeypatch):
    """Every worker death the batch noticed (and retried), recorded as it happens."""
    from zkml.batch.common import Run

    seen = []
    real = Run.worker_died
    monkeypatch.setattr(Run, "worker_died", lambda self, i, what: seen.append(i) or real(self, i, what))
    return seen


def test_killed_worker_items_are_retried(mlp_keys, mlp_cal, deaths):
    killed = []

    def on_result(i, res):  # the first proof is back: the workers are up and the rest are in flight
        if not killed:
            kid = mp.active_children()[0]
            os.kill(kid.pid, signal.SIGKILL)
            killed.append(kid.pid)

    results = zkml.prove_many(mlp_keys, list(mlp_cal[:6]), workers=2, on_result=on_result)
    assert killed, "no worker was killed"
    assert deaths, "the batch never saw the worker die, so nothing was retried"
    assert all(results) and all(zkml.verify(r, mlp_keys.vk) for r in results)


def test_a_script_without_a_main_guard_is_explained(keys_dir, tmp_path):
    """Spawned workers import the main script again: without the guard, every one would start the batch."""
    import subprocess
    import sys

    script = tmp_path / "batch.py"
    script.write_text(
        f"import numpy as np, zkml\nkeys = zkml.Keys.load({str(keys_dir)!r})\n"
        "print(len(zkml.prove_many(keys, [np.zeros(4)], workers=1)))\n"
    )
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and "ProveError" in res.stderr and "__main__" in res.stderr
    guarded = tmp_path / "guarded.py"
    guarded.write_text(
        "import numpy as np, zkml\n\nif __name__ == '__main__':\n"
        f"    keys = zkml.Keys.load({str(keys_dir)!r})\n"
        "    print(len(zkml.prove_many(keys, [np.zeros(4)], workers=1)))\n"
    )
    res = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "1", res.stderr


def test_batch_arguments_are_checked(mlp_keys):
    with pytest.raises(errors.ProveError, match="unique"):
        zkml.prove_many(mlp_keys, [np.zeros(4), np.zeros(4)], ids=["a", "a"])


def test_cli_batch(keys_dir, mlp_cal, tmp_path):
    lines = [json.dumps({"input_data": [row.tolist()]}) for row in mlp_cal[:3]] + ["[1, 2]"]
    (tmp_path / "inputs.jsonl").write_text("\n".join(lines) + "\n")
    res = run_cli(
        "prove", keys_dir, "--batch", tmp_path / "inputs.jsonl", "-o", tmp_path / "proofs", "--workers", "2", "--json"
    )
    assert res.returncode == 1, res.stderr  # one input failed
    info = json.loads(res.stdout)
    assert info["proved"] == 3 and info["failed"] == 1 and info["errors"][0]["error"] == "InputShapeError"
    assert len(list((tmp_path / "proofs").glob("*.proof.json"))) == 3
    d = tmp_path / "dir"
    d.mkdir()
    for i, row in enumerate(mlp_cal[:2]):
        np.save(d / f"applicant{i}.npy", row)
    res = run_cli("prove", keys_dir, "--batch", d, "-o", tmp_path / "p2", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["proved"] == 2
    assert (tmp_path / "p2" / "applicant1.proof.json").exists()


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster on 127.0.0.1, started for these tests and stopped after."""
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    pytest.importorskip("ray")
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists() and shutil.which("ray") is None:
        pytest.skip("ray CLI not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # isolated from the user's ~/.ray (an auth token left by another cluster would be refused here)
    home = Path(tempfile.mkdtemp(prefix="ray-home-"))
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_AUTH_TOKEN", "RAY_ADDRESS")}
    os.environ["HOME"] = str(home)
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.pop("RAY_ADDRESS", None)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(
        [
            str(ray_bin),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    yield f"127.0.0.1:{port}"
    import ray

    ray.shutdown()
    subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True, env=env, timeout=120)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(home, ignore_errors=True)


def test_ray_batch_with_bad_input_and_killed_actor(ray_cluster, mlp_keys, mlp_cal, tmp_path, deaths):
    import subprocess

    killed = []

    def on_result(i, res):
        if not killed:
            pids = subprocess.run(["pgrep", "-f", "ray::Prover"], capture_output=True, text=True).stdout.split()
            if pids:
                os.kill(int(pids[0]), signal.SIGKILL)
                killed.append(pids[0])

    inputs = [mlp_cal[0], np.zeros(7), *mlp_cal[1:6]]
    results = zkml.prove_many(mlp_keys, inputs, cluster=ray_cluster, workers=2, out_dir=tmp_path, on_result=on_result)
    assert killed, "no Ray actor was killed"
    assert deaths, "the batch never saw the actor die, so nothing was retried"
    assert [bool(r) for r in results] == [True, False] + [True] * 5
    assert results[1].error == "InputShapeError"
    for r, x in zip(results, inputs):
        if r:
            assert zkml.verify(r, mlp_keys.vk)
            np.testing.assert_array_equal(r.outputs[0], mlp_keys.prove(x).outputs[0])
    assert len(list(tmp_path.glob("*.proof.json"))) == 6


def test_a_stopped_ray_actor_ends_in_a_timeout_not_a_hang(ray_cluster, mlp_keys, mlp_cal, monkeypatch):
    """ZKML_WORKER_TIMEOUT bounds every wait on Ray too: an actor stopped mid-batch (SIGSTOP) is killed and its
    item is a WorkerTimeout BatchError; every other item is proved."""
    import subprocess

    monkeypatch.setenv("ZKML_WORKER_TIMEOUT", "15")
    stopped = []

    def on_result(i, res):
        if not stopped:
            pids = subprocess.run(["pgrep", "-f", "ray::Prover"], capture_output=True, text=True).stdout.split()
            if pids:
                os.kill(int(pids[0]), signal.SIGSTOP)
                stopped.append(int(pids[0]))

    try:
        results = zkml.prove_many(mlp_keys, list(mlp_cal[:6]), cluster=ray_cluster, workers=2, on_result=on_result)
    finally:
        for pid in stopped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    assert stopped, "no Ray actor was stopped"
    timeouts = [r for r in results if not r]
    assert 1 <= len(timeouts) <= 2 and all(r.error == "WorkerTimeout" for r in timeouts), timeouts
    assert all(zkml.verify(r, mlp_keys.vk) for r in results if r)


def test_one_split_inference_on_ray(ray_cluster, tmp_path):
    """The segments of one inference as Ray tasks: one Proof, every link checked."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    )
    model = zkml.export(net, torch.zeros(1, 16))
    cal = np.random.default_rng(0).normal(size=(8, 16))
    whole = zkml.compile(model, cal)
    keys = zkml.compile(model, cal, max_logrows=whole.logrows - 1).setup()
    proof = keys.prove(cal[0], cluster=ray_cluster)
    assert len(proof.segments) == len(keys.segments) >= 2
    assert zkml.verify(proof, keys.vk)
    np.testing.assert_array_equal(proof.outputs[0], keys.prove(cal[0]).outputs[0])


# ---- every kind of keys: single, split, committed (with other weights), split + committed ---------------------

KIND_PARAMS = ["single", "split", "committed"] + [
    pytest.param(k, marks=pytest.mark.slow) for k in ("split+committed", "tiled")
]  # tiled is split's artifact with more segments: its default cells are the chain, page and service ones


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_prove_many_every_kind_and_resume_refuses_a_forgers_leftovers(kind, kind_case, tmp_path):
    case = kind_case(kind)
    keys = case.keys
    xs = [case.x, case.x * 0.5, case.x * -0.25]
    proved = []
    results = zkml.prove_many(keys, xs, workers=2, out_dir=tmp_path, on_result=lambda i, r: proved.append(i))
    assert all(results) and sorted(proved) == [0, 1, 2], results
    for r, x in zip(results, xs):
        v = zkml.verify(r, case.statement)  # the statement: with the keys' own fingerprint when committed
        assert v, v.reason
        assert len(r.segments) == len(getattr(keys, "segments", ()))
        np.testing.assert_array_equal(v.outputs[0], keys.prove(x).outputs[0])  # input order kept
    # a forger's leftovers in out_dir are not taken as proofs of these inputs: each is proved again
    for name, forged in case.forged.items():
        forged.save(tmp_path / "1.proof.json")
        again: list[int] = []
        results = zkml.prove_many(
            keys, xs, workers=1, out_dir=tmp_path, on_result=lambda i, r, seen=again: seen.append(i)
        )
        assert again == [1], (name, again)
        assert zkml.verify(results[1], case.statement), name


@pytest.mark.parametrize("kind", ["committed", pytest.param("split+committed", marks=pytest.mark.slow)])
def test_prove_many_with_other_weights_unsaved(kind, kind_case, tmp_path):
    """Keys with other committed weights (with_weights), never saved: the workers get the keys object."""
    case = kind_case(kind)
    other = case.keys.with_weights(case.other_weights)
    theirs = zkml.commit(case.other_weights, case.keys)
    results = zkml.prove_many(other, [case.x, case.x * 0.5], workers=2, out_dir=tmp_path)
    assert all(results)
    for r in results:
        assert r.weights_commitment == theirs
        assert zkml.verify(r, case.keys.vk, weights_commitment=theirs)
        assert not zkml.verify(r, case.statement)  # not a proof of the published weights
    # the rerun keeps them (they are proofs of these weights), and keys of the published weights prove them again
    assert all(
        zkml.prove_many(
            other,
            [case.x, case.x * 0.5],
            workers=1,
            out_dir=tmp_path,
            on_result=lambda i, r: pytest.fail(f"item {i} proved again"),
        )
    )
    again = []
    zkml.prove_many(
        case.keys, [case.x, case.x * 0.5], workers=1, out_dir=tmp_path, on_result=lambda i, r: again.append(i)
    )
    assert sorted(again) == [0, 1]


def test_a_killed_worker_of_a_split_batch_is_retried(kind_case, deaths):
    case = kind_case("split")
    killed = []

    def on_result(i, res):
        if not killed:
            kid = mp.active_children()[0]
            os.kill(kid.pid, signal.SIGKILL)
            killed.append(kid.pid)

    xs = [case.x * s for s in (1.0, 0.5, -0.5, 0.25)]
    results = zkml.prove_many(case.keys, xs, workers=2, on_result=on_result)
    assert killed and deaths
    assert all(results) and all(zkml.verify(r, case.keys.vk) for r in results)


def test_prove_many_refuses_what_is_not_keys(mlp_keys):
    with pytest.raises(errors.ProveError, match="Keys or SplitKeys"):
        zkml.prove_many(mlp_keys.vk, [np.zeros(4)])


def test_split_and_other_weights_batches_on_ray(ray_cluster, kind_case):
    """On Ray the actors get split keys, and unsaved keys with other weights, as the object (ray.put once)."""
    split = kind_case("split")
    results = zkml.prove_many(split.keys, [split.x, split.x * 0.5], cluster=ray_cluster, workers=2)
    assert all(results) and all(len(r.segments) == len(split.keys.segments) for r in results)
    for r, x in zip(results, [split.x, split.x * 0.5]):
        v = zkml.verify(r, split.keys.vk)
        assert v, v.reason
        np.testing.assert_array_equal(v.outputs[0], split.keys.prove(x).outputs[0])
    committed = kind_case("committed")
    other = committed.keys.with_weights(committed.other_weights)
    (proof,) = zkml.prove_many(other, [committed.x], cluster=ray_cluster, workers=1)
    theirs = zkml.commit(committed.other_weights, committed.keys)
    assert proof.weights_commitment == theirs and zkml.verify(proof, committed.keys.vk, weights_commitment=theirs)
    assert not zkml.verify(proof, committed.statement)
