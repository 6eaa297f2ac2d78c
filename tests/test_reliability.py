"""Hostile inputs, crashes, concurrency and privacy (issue: reliability and security)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zkml
from conftest import ROOT, run_cli
from zkml import errors
from zkml.model.inputs import load_input_file, to_feeds
from zkml.proof.proof import FIELD_MODULUS, int_to_felt

FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


# soundness: mutated proofs are never accepted
def _mutations():
    return st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(0, 7)),
        st.tuples(st.just("truncate"), st.integers(1, 3000), st.just(0)),
        st.tuples(st.just("extend"), st.integers(1, 256), st.integers(0, 255)),
        st.tuples(st.just("instance"), st.integers(0, 10**9), st.integers(1, 2**64)),
        st.tuples(st.just("alias"), st.integers(0, 10**9), st.just(0)),
        st.tuples(st.just("swap"), st.integers(0, 10**9), st.integers(0, 10**9)),
    )


def _mutate(proof, m):
    kind, a, b = m
    data, inst = bytearray(proof.proof), [list(c) for c in proof.instances]
    flat = inst[0]
    if kind == "flip":
        data[a % len(data)] ^= 1 << b
    elif kind == "truncate":
        data = data[: max(1, len(data) - a)]
    elif kind == "extend":
        data += bytes([b]) * a
    elif kind == "instance":
        i = a % len(flat)
        flat[i] = int_to_felt(int.from_bytes(bytes.fromhex(flat[i]), "little") + b)
    elif kind == "alias":
        i = a % len(flat)
        flat[i] = (int.from_bytes(bytes.fromhex(flat[i]), "little") + FIELD_MODULUS).to_bytes(32, "little").hex()
    elif kind == "swap":
        i, j = a % len(flat), b % len(flat)
        if flat[i] == flat[j]:
            flat[i] = int_to_felt(int.from_bytes(bytes.fromhex(flat[i]), "little") + 1)
        flat[i], flat[j] = flat[j], flat[i]
    return zkml.Proof(bytes(data), tuple(tuple(c) for c in inst), proof.meta)


def _never_accepted(proof, vk, m):
    bad = _mutate(proof, m)
    if bad.proof == proof.proof and bad.instances == proof.instances:
        return
    assert not zkml.verify(bad, vk)


@FAST
@given(m=_mutations())
def test_mutated_proofs_never_verify(mlp_keys, mlp_proof, m):
    _never_accepted(mlp_proof, mlp_keys.vk, m)


@pytest.mark.slow
@LONG
@given(m=_mutations())
def test_mutated_proofs_never_verify_long(mlp_keys, mlp_proof, m):
    _never_accepted(mlp_proof, mlp_keys.vk, m)


@pytest.fixture(scope="module")
def deployed(mlp_keys):
    chain = zkml.evm.InProcessChain()
    return chain, chain.deploy(zkml.verifier_contract(mlp_keys.vk))


@pytest.mark.requires_solc
@FAST
@given(m=_mutations())
def test_mutated_proofs_never_pass_the_contract(deployed, mlp_proof, m):
    chain, address = deployed
    bad = _mutate(mlp_proof, m)
    if bad.proof != mlp_proof.proof or bad.instances != mlp_proof.instances:
        assert not chain.verify(address, bad)


def test_other_inputs_proof_does_not_verify_with_swapped_outputs(mlp_keys, mlp_cal):
    a, b = mlp_keys.prove(mlp_cal[0]), mlp_keys.prove(mlp_cal[1])
    assert not zkml.verify(zkml.Proof(a.proof, b.instances, a.meta), mlp_keys.vk)


@FAST
@given(blob=st.binary(max_size=400))
def test_garbage_proof_files_raise_zkml_errors(tmp_path_factory, mlp_keys, blob):
    p = tmp_path_factory.mktemp("g") / "proof.json"
    p.write_bytes(blob)
    with pytest.raises(errors.ZKMLError):
        zkml.verify(p, mlp_keys.vk)


@FAST
@given(
    obj=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(st.sampled_from(["proof", "instances", "zkml", "x"]), c, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_structurally_wrong_proof_json(mlp_keys, obj):
    try:
        proof = zkml.Proof.from_json(obj)
    except errors.ZKMLError:
        return
    assert not zkml.verify(proof, mlp_keys.vk)


# input loaders and the ONNX loader
@FAST
@given(blob=st.binary(max_size=300), suffix=st.sampled_from([".json", ".npy", ".npz"]))
def test_fuzzed_input_files(tmp_path_factory, mlp_model, blob, suffix):
    p = tmp_path_factory.mktemp("in") / f"x{suffix}"
    p.write_bytes(blob)
    try:
        x = load_input_file(p)
        to_feeds(mlp_model, x)
    except errors.InputError:
        pass


def test_oversized_input_file_is_refused_quickly(tmp_path, monkeypatch):
    import zkml.model.inputs as inputs

    monkeypatch.setattr(inputs, "MAX_INPUT_FILE_BYTES", 1 << 20)
    p = tmp_path / "big.json"
    with open(p, "wb") as f:
        f.truncate(2 << 20)  # sparse: 2 MiB of zeros
    from pathlib import Path

    def no_reading(*a, **k):
        raise AssertionError("the oversized file was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)  # refused from its size, before a byte is read
    with pytest.raises(errors.InputError, match="over the 1 MiB limit"):
        load_input_file(p)


def test_pickled_npy_is_refused(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(errors.InputError):
        load_input_file(p)


@FAST
@given(positions=st.lists(st.integers(0, 10**9), min_size=1, max_size=8), value=st.integers(0, 255))
def test_mutated_onnx_files(mlp_model, positions, value):
    data = bytearray(mlp_model.onnx_bytes)
    for p in positions:
        data[p % len(data)] = value
    try:
        zkml.load_model(bytes(data))
    except errors.ModelError:
        pass


# crashes and concurrency
_BUILD = """
import sys, numpy as np, zkml
m = zkml.load_model(sys.argv[1])
k = zkml.compile(m, np.random.default_rng(0).normal(size=(16, 4))).setup()
p = k.prove(np.full(4, 0.25))
print("RESULT", bool(zkml.verify(p, k.vk)), k.circuit.cached, k.cached, flush=True)
"""


def test_sigkill_mid_build_leaves_no_partial_entry(tmp_path, mlp_model, monkeypatch):
    home = tmp_path / "home"
    onnx = mlp_model.save(tmp_path / "m.onnx")
    env = {**os.environ, "ZKML_HOME": str(home)}
    for stage in ("circuits", "keys"):  # kill while that entry is being built
        proc = subprocess.Popen([sys.executable, "-c", _BUILD, str(onnx)], env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmp = home / "tmp"
            if tmp.is_dir() and any(d.name.startswith(stage) for d in tmp.iterdir()):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for kind in ("circuits", "keys"):
            for entry in (home / kind).iterdir() if (home / kind).is_dir() else ():
                assert (entry / ("circuit.json" if kind == "circuits" else "keys.json")).exists(), entry
    monkeypatch.setenv("ZKML_HOME", str(home))
    out = subprocess.run(
        [sys.executable, "-c", _BUILD, str(onnx)], env=env, capture_output=True, text=True, timeout=300
    )
    assert "RESULT True" in out.stdout, out.stderr
    assert [d for d in (home / "tmp").iterdir()] == []  # the dead builders' leftovers were swept


def test_concurrent_provers_share_one_cache(tmp_path, mlp_model):
    home = tmp_path / "home"
    onnx = mlp_model.save(tmp_path / "m.onnx")
    env = {**os.environ, "ZKML_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD, str(onnx)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        line = [ln for ln in out.splitlines() if ln.startswith("RESULT")]
        assert line, err
        results.append(line[0].split()[1:])
    assert all(r[0] == "True" for r in results)
    assert [r[2] for r in results].count("False") == 1  # setup ran once; the others reused its keys
    assert len(list((home / "keys").iterdir())) == 1 and len(list((home / "circuits").iterdir())) == 1


# privacy and secrets
def _encodings(x, scale):
    out = set()
    for v in np.asarray(x).reshape(-1):
        q = int(round(float(v) * 2**scale))
        out |= {int_to_felt(q), format(q % FIELD_MODULUS, "064x"), repr(float(v)), f"{float(v):.6f}"}
    return out


def test_private_input_leaves_no_trace(tmp_path, monkeypatch, mlp_model, mlp_cal, caplog):
    import logging
    import tempfile

    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("ZKML_HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    secret = np.array([0.123457, -0.654321, 0.777777, -0.31415])
    keys = zkml.compile(mlp_model, mlp_cal).setup()
    proof = keys.prove(secret)
    proof.save(tmp_path / "proof.json")
    scale = keys.circuit.settings["model_input_scales"][0]
    needles = _encodings(secret, scale)
    messages = []
    for bad in (secret * 1e7, np.append(secret, 1.0)):  # a failing prove (range) and a bad shape
        with pytest.raises(errors.ZKMLError) as ei:
            keys.prove(bad)
        messages.append(str(ei.value))
        needles |= _encodings(bad, scale)
    calldata = zkml.evm.calldata(proof).hex()
    haystacks = {"calldata": calldata, "messages": " ".join(messages), "logs": caplog.text}
    for path in [*home.rglob("*"), tmp_path / "proof.json"]:
        if path.is_file() and path.stat().st_size < 50_000_000:
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    for name, text in haystacks.items():
        low = text.lower()
        for n in needles:
            if len(n) >= 8:
                assert n.lower() not in low, f"{n} found in {name}"
    assert list(scratch.glob("zkml-*")) == []


def test_private_weights_are_not_in_the_proof(tmp_path, mlp_model, mlp_cal, mlp_x, mlp_torch):
    keys = zkml.compile(mlp_model, mlp_cal, visibility="params=committed").setup()
    text = keys.prove(mlp_x).save(tmp_path / "p.json").read_text().lower()
    scale = keys.circuit.settings["run_args"]["param_scale"]
    w = mlp_torch[0].weight.detach().numpy()
    assert not any(n.lower() in text for n in _encodings(w, scale) if len(n) >= 8)


@pytest.mark.requires_anvil
def test_private_key_never_printed(tmp_path):
    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's first dev key
    d = ROOT / "models" / "credit_logreg"
    assert (
        run_cli(
            "run",
            d / "model.onnx",
            "--input",
            d / "sample_input.json",
            "--calibration",
            d / "calibration.npy",
            "--out",
            tmp_path / "o",
        ).returncode
        == 0
    )
    with zkml.evm.anvil() as node:
        ok = run_cli("deploy", tmp_path / "o" / "vk", "--rpc-url", node.url, "--json", env={"ZKML_PRIVATE_KEY": key})
        bad = run_cli("deploy", tmp_path / "o" / "vk", "--rpc-url", node.url, env={"ZKML_PRIVATE_KEY": key[:-2] + "zz"})
    assert (
        ok.returncode == 0 and json.loads(ok.stdout)["sender"].lower() == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    )
    assert bad.returncode == 1
    for res in (ok, bad):
        assert key[2:] not in res.stdout + res.stderr and key[2:-2] not in res.stdout + res.stderr


@pytest.mark.requires_solc
def test_production_refuses_dev_srs_everywhere(tmp_path, mlp_keys):
    keys_dir = mlp_keys.save(tmp_path / "keys")
    art = tmp_path / "c"
    assert run_cli("contract", keys_dir, "-o", art).returncode == 0
    for args in (
        ("contract", keys_dir, "-o", tmp_path / "p", "--production"),
        ("deploy", art, "--production", "--rpc-url", "http://127.0.0.1:9"),
    ):
        res = run_cli(*args)
        assert res.returncode == 1 and "ContractError" in res.stderr and "--srs" in res.stderr


_PROVE_FOREVER = """
import sys, numpy as np, zkml
k = zkml.Keys.load(sys.argv[1])
print("READY", flush=True)
while True:
    k.prove(np.full(4, 0.123457))
"""


def test_sigkill_mid_prove_leaves_no_private_file_for_long(tmp_path, keys_dir_for_kill):
    """A prover killed mid-proof cannot clean up; the next zkml call removes its private temp dir."""
    import tempfile as tf

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROVE_FOREVER, str(keys_dir_for_kill)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().startswith("READY")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        (d / "w.witness.json").exists() for d in scratch.glob("zkml-private-*")
    ):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    left = list(scratch.glob("zkml-private-*"))
    assert left and all(
        oct(d.stat().st_mode & 0o777) == "0o700" for d in left
    )  # killed: its dir is still there, private
    old = tf.tempdir
    tf.tempdir = str(scratch)
    try:
        from zkml.support.files import private_tempdir

        with private_tempdir():
            pass
    finally:
        tf.tempdir = old
    assert list(scratch.glob("zkml-private-*")) == []  # (ezkl itself leaves a .ses session-id file there)


@pytest.fixture(scope="module")
def keys_dir_for_kill(tmp_path_factory, mlp_keys):
    return mlp_keys.save(tmp_path_factory.mktemp("kk") / "keys")


# workers never hang (issue #23): a killed worker is retried or fails clearly, a stuck one times out, and no
# worker process outlives the call
def _leftover_workers() -> list[int]:
    """This process's worker children still alive or unreaped (the multiprocessing resource tracker aside)."""
    import multiprocessing as mp
    from pathlib import Path

    me, left = os.getpid(), {p.pid for p in mp.active_children()}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            state, ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmd = (d / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(ppid) == me and (state == "Z" or b"spawn_main" in cmd) and b"resource_tracker" not in cmd:
            left.add(int(d.name))
    return sorted(left)


class _OnWorkers:
    """Does ``act(pid)`` to each zkml worker process as soon as it is seen (watched from a thread, bounded),
    to at most ``limit`` of them (``None``: every one, replacements included)."""

    def __init__(self, act, limit=None):
        import threading

        self.act, self.limit, self.pids = act, limit, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _room(self):
        return self.limit is None or len(self.pids) < self.limit

    def _watch(self):
        import multiprocessing as mp

        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline and self._room():
            for p in mp.active_children():
                if p.name == "zkml-worker" and p.pid not in self.pids and self._room():
                    try:
                        self.act(p.pid)
                    except ProcessLookupError:
                        continue
                    self.pids.append(p.pid)
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


def _sigkill(pid):
    os.kill(pid, signal.SIGKILL)


def _sigstop(pid):
    os.kill(pid, signal.SIGSTOP)


@pytest.fixture(scope="module")
def tiny_split():
    """A small MLP split in two segments at one logrows below what it needs whole (proofs take about a second)."""
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
    model, cal = zkml.export(net, torch.zeros(1, 16)), np.random.default_rng(0).normal(size=(8, 16))
    whole = zkml.compile(model, cal)
    keys = zkml.compile(model, cal, max_logrows=whole.logrows - 1).setup()
    assert len(keys.segments) >= 2
    return keys, cal


def test_the_worker_pool_survives_deaths_stops_and_bad_tasks():
    """The shared pool alone, on stdlib functions: every outcome comes back and nothing is left running."""
    import operator
    import threading

    from zkml.support.workers import WorkerPool

    t = time.monotonic()
    with WorkerPool(time.sleep, 2, timeout=4) as pool:
        pool.submit("a", 60)  # one of these two has its worker killed, the other runs past the timeout
        pool.submit("b", 60)
        pool.submit("bad", threading.Lock())  # cannot travel to a worker
        with _OnWorkers(_sigkill, limit=1):
            got = {}
            for key, kind, value in pool.results():
                got[key] = kind, value
                if kind == "died":
                    pool.submit("again", 0.01)  # a dead worker's task may be submitted again
    assert sorted([got["a"], got["b"]]) == [("died", -signal.SIGKILL), ("timeout", 4.0)]
    assert got["bad"][0] == "failed" and got["again"] == ("done", None)
    assert time.monotonic() - t < 30 and _leftover_workers() == []
    with WorkerPool(operator.truediv, 2) as pool:
        for i in range(4):
            pool.submit(i, 1, i)
        got = dict((k, (kind, v)) for k, kind, v in pool.results())
    assert isinstance(got[0][1], ZeroDivisionError) and got[2] == ("done", 0.5)
    # leaving the block early kills what still runs, a stopped worker too. Either worker may be the one stopped:
    # the first result is the other's, after 0.01 s or 3 s (not 60: the run would wait for it when "b" is stopped)
    with _OnWorkers(_sigstop, limit=1):
        with pytest.raises(KeyError), WorkerPool(time.sleep, 2) as pool:
            pool.submit("a", 3)
            pool.submit("b", 0.01)
            for key, _kind, _value in pool.results():
                raise KeyError(key)
    assert _leftover_workers() == []


def test_a_bad_worker_timeout_setting_is_refused(monkeypatch):
    from zkml.support.workers import DEFAULT_TIMEOUT_S, WorkerPool, worker_timeout

    monkeypatch.delenv("ZKML_WORKER_TIMEOUT", raising=False)
    assert worker_timeout() == DEFAULT_TIMEOUT_S
    monkeypatch.setenv("ZKML_WORKER_TIMEOUT", "90")
    assert worker_timeout() == 90.0
    for bad in ("soon", "0", "-5", "inf"):
        monkeypatch.setenv("ZKML_WORKER_TIMEOUT", bad)
        with pytest.raises(errors.ProveError, match="ZKML_WORKER_TIMEOUT"):
            WorkerPool(time.sleep, 1)


def test_a_split_worker_killed_ten_times_in_a_row_never_hangs(tiny_split, monkeypatch):
    """Each time: one worker killed (retried, proved), or every worker killed (the clear error)."""
    from zkml.keys import split as split_mod

    keys, cal = tiny_split
    deaths = []
    monkeypatch.setattr(split_mod, "on_worker_death", deaths.append)
    outcomes = []
    for n in range(10):
        every = n % 3 == 2
        before, t = len(deaths), time.monotonic()
        with _OnWorkers(_sigkill, limit=None if every else 1) as killer:
            try:
                proof = keys.prove(cal[n % len(cal)], workers=2)
            except errors.ProveError as err:
                assert every, err
                assert f"died {split_mod.MAX_ATTEMPTS} times" in str(err) and err.hint
                outcomes.append("error")
            else:
                assert not every and zkml.verify(proof, keys.vk)
                outcomes.append("proved")
        assert killer.pids and len(deaths) > before, "no worker death was seen"
        assert time.monotonic() - t < 120
        assert _leftover_workers() == []
    assert outcomes.count("proved") == 7 and outcomes.count("error") == 3


def test_a_stuck_split_worker_times_out_with_a_clear_error(tiny_split, monkeypatch):
    keys, cal = tiny_split
    monkeypatch.setenv("ZKML_WORKER_TIMEOUT", "20")
    t = time.monotonic()
    with _OnWorkers(_sigstop, limit=1) as stopper:
        with pytest.raises(errors.ProveError, match="no proof after 20 s; its worker was killed") as err:
            keys.prove(cal[0], workers=2)
    took = time.monotonic() - t
    assert stopper.pids and "ZKML_WORKER_TIMEOUT" in err.value.hint
    assert 20 <= took < 60, took
    assert _leftover_workers() == []


def test_a_batch_worker_killed_or_stuck_never_hangs(mlp_keys, mlp_cal, monkeypatch):
    from zkml.batch.common import MAX_ATTEMPTS

    inputs = list(mlp_cal[:4])
    with _OnWorkers(_sigkill, limit=1) as killer:  # one killed: its item is retried, every item proved
        results = zkml.prove_many(mlp_keys, inputs, workers=2)
    assert killer.pids and all(results) and all(zkml.verify(r, mlp_keys.vk) for r in results)
    assert _leftover_workers() == []
    with _OnWorkers(_sigkill) as killer:  # every worker killed: each item fails clearly, nothing waits
        results = zkml.prove_many(mlp_keys, inputs, workers=2)
    assert len(killer.pids) >= MAX_ATTEMPTS
    assert all(
        isinstance(r, zkml.BatchError) and r.error == "WorkerDied" and f"died {MAX_ATTEMPTS} times" in r.message
        for r in results
    )
    assert _leftover_workers() == []
    monkeypatch.setenv("ZKML_WORKER_TIMEOUT", "20")
    t = time.monotonic()
    with _OnWorkers(_sigstop, limit=1) as stopper:  # one stopped: its item times out, the others are proved
        results = zkml.prove_many(mlp_keys, inputs, workers=2)
    assert stopper.pids and time.monotonic() - t < 60
    bad = [r for r in results if not r]
    assert len(bad) == 1 and bad[0].error == "WorkerTimeout" and "no proof after 20 s" in bad[0].message
    assert all(zkml.verify(r, mlp_keys.vk) for r in results if r)
    assert _leftover_workers() == []
