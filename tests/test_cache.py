"""The content-addressed cache: reuse, atomicity, concurrency, unwritable homes."""

import multiprocessing as mp
import os

import numpy as np
import pytest

import zkml
from zkml import errors
from zkml.support.store import Store


def _count_calls(monkeypatch, name):
    import ezkl

    calls = []
    real = getattr(ezkl, name)

    def wrapper(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(ezkl, name, wrapper)
    return calls


def test_second_compile_and_setup_do_no_work(fresh_home, monkeypatch, mlp_model, mlp_cal):
    setups = _count_calls(monkeypatch, "setup")
    compiles = _count_calls(monkeypatch, "compile_circuit")
    srs = _count_calls(monkeypatch, "gen_srs")
    c1 = zkml.compile(mlp_model, mlp_cal)
    k1 = c1.setup()
    assert (len(compiles), len(setups), len(srs)) == (1, 1, 1)
    assert not c1.cached and not k1.cached
    c2 = zkml.compile(mlp_model, mlp_cal)
    k2 = c2.setup()
    assert (len(compiles), len(setups), len(srs)) == (1, 1, 1)
    assert c2.cached and k2.cached and k2.path == k1.path
    assert zkml.verify(k2.prove(mlp_cal[0]), k1.vk)


def test_cache_key_tracks_options_and_data(fresh_home, mlp_model, mlp_cal):
    a = zkml.compile(mlp_model, mlp_cal)
    assert zkml.compile(mlp_model, mlp_cal, visibility="input=public").key != a.key
    assert zkml.compile(mlp_model, mlp_cal[:8]).key != a.key
    assert zkml.compile(mlp_model, mlp_cal, target="accuracy").key != a.key


def test_dev_srs_is_generated_once_per_logrows(fresh_home, monkeypatch):
    from zkml.srs import dev_srs

    calls = _count_calls(monkeypatch, "gen_srs")
    a = dev_srs(9)
    b = dev_srs(9)
    assert a == b and a.dev and len(calls) == 1
    dev_srs(10)
    assert len(calls) == 2


def test_failed_build_leaves_no_entry(tmp_path):
    store = Store(tmp_path)

    def build(d):
        (d / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        store.get_or_build("circuits", "k1", build)
    assert store.get("circuits", "k1") is None
    assert list((tmp_path / "tmp").iterdir()) == []
    path, built = store.get_or_build("circuits", "k1", lambda d: (d / "ok").write_text("1"))
    assert built and (path / "ok").read_text() == "1"


def test_leftovers_of_dead_builders_are_swept(tmp_path):
    store = Store(tmp_path)
    (tmp_path / "tmp").mkdir(parents=True)
    dead = tmp_path / "tmp" / "circuits-999999999-abc"  # no such pid
    dead.mkdir()
    (dead / "partial").write_text("x")
    store.get_or_build("circuits", "k2", lambda d: (d / "ok").write_text("1"))
    assert not dead.exists()


def _build_same_entry(root, out_q, arrived):
    import time

    store = Store(root)

    def build(d):
        # the builder holds the lock until every process has arrived at get_or_build (observed, bounded)
        deadline = time.monotonic() + 60
        while arrived.value < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        (d / "who").write_text(str(os.getpid()))

    with arrived.get_lock():
        arrived.value += 1
    path, built = store.get_or_build("circuits", "shared", build)
    out_q.put((built, (path / "who").read_text()))


def test_concurrent_builders_build_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    arrived = ctx.Value("i", 0)
    procs = [ctx.Process(target=_build_same_entry, args=(str(tmp_path), q, arrived)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(built for built, _ in results) == 1
    assert len({who for _, who in results}) == 1  # everyone reads the one complete entry


def _in_small_mount(tmp_path, code: str, size: str, ro: bool = False):
    """Run ``code`` with ZKML_HOME on a real tmpfs of ``size`` (read-only if asked), in a private mount namespace."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    home = tmp_path / "mnt"
    home.mkdir()
    script = tmp_path / "script.py"
    script.write_text(code)
    opts = f"size={size}" + (",ro" if ro else "")
    cmd = f"mount -t tmpfs -o {opts} zkmltest {home} && ZKML_HOME={home} {sys.executable} {script}"
    out = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=300)
    if "mount" in out.stderr and "denied" in out.stderr.lower():
        pytest.skip("cannot mount a tmpfs in a user namespace here")
    return out


_COMPILE_AND_REPORT = """
import json, os, sys, numpy as np
sys.path.insert(0, {root!r})
import zkml
from zkml import errors
m = zkml.load_model({onnx!r})
cal = np.random.default_rng(0).normal(size=(4, 4))
out = {{}}
try:
    c = zkml.compile(m, cal)
    out["compiled"] = True
    c.setup()
    out["setup"] = True
except errors.ZKMLError as e:
    out["error"] = type(e).__name__
    out["isoserror"] = isinstance(e, OSError)
    out["message"] = str(e)
home = os.environ["ZKML_HOME"]
out["tmp_left"] = os.listdir(os.path.join(home, "tmp")) if os.path.isdir(os.path.join(home, "tmp")) else []
out["circuits"] = os.listdir(os.path.join(home, "circuits")) if os.path.isdir(os.path.join(home, "circuits")) else []
if out["circuits"]:
    out["circuit_loads"] = zkml.Circuit.load(os.path.join(home, "circuits", out["circuits"][0])).logrows
print(json.dumps(out))
"""


def test_read_only_home_is_a_clear_error(tmp_path, mlp_model):
    import json

    onnx = mlp_model.save(tmp_path / "m.onnx")
    out = _in_small_mount(tmp_path, _COMPILE_AND_REPORT.format(root=str(os.getcwd()), onnx=str(onnx)), "1m", ro=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["error"] == "StoreError" and res["isoserror"]
    assert "ZKML_HOME" in res["message"] and "writable" in res["message"]


def test_full_disk_loses_nothing_already_stored(tmp_path, mlp_model):
    """A 1 MiB home holds the circuit but not the 8 MB proving key: setup fails cleanly, the circuit survives."""
    import json

    onnx = mlp_model.save(tmp_path / "m.onnx")
    out = _in_small_mount(tmp_path, _COMPILE_AND_REPORT.format(root=str(os.getcwd()), onnx=str(onnx)), "1m")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res.get("compiled") and "setup" not in res
    assert res["error"] == "StoreError" and "space" in res["message"]
    assert res["tmp_left"] == []  # no half-written entry
    # the surviving circuit loads, and is the circuit this compile makes (measured here, not copied)
    assert len(res["circuits"]) == 1
    assert res["circuit_loads"] == zkml.compile(mlp_model, np.random.default_rng(0).normal(size=(4, 4))).logrows


def test_unwritable_home_is_a_clear_error(tmp_path, monkeypatch, mlp_model, mlp_cal):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("ZKML_HOME", str(blocker / "home"))
    with pytest.raises(errors.StoreError) as ei:
        zkml.compile(mlp_model, mlp_cal)
    assert "ZKML_HOME" in ei.value.hint and str(blocker) in str(ei.value)


def test_saving_over_an_artifact_is_atomic(tmp_path, mlp_keys, monkeypatch):
    import shutil

    dest = mlp_keys.vk.save(tmp_path / "vk")
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    real = shutil.copy2
    count = {"n": 0}

    def failing_copy(src, dst, **kw):
        count["n"] += 1
        if count["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst, **kw)

    monkeypatch.setattr(shutil, "copy2", failing_copy)
    with pytest.raises(errors.StoreError) as ei:
        mlp_keys.vk.save(dest)
    assert "disk" in ei.value.hint
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before  # nothing lost
    assert [p.name for p in tmp_path.iterdir()] == ["vk"]  # no half-written sibling left


_HOLD = """
import sys
from zkml.support.store import Store
Store().get_or_build("circuits", "held", lambda d: (d / "x").write_text("1"))
print("HOLDING", flush=True)
sys.stdin.readline()
"""


def test_prune_leaves_entries_a_live_process_uses(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("ZKML_HOME", str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "ZKML_HOME": str(tmp_path)},
    )
    try:
        assert proc.stdout.readline().startswith("HOLDING")  # the other process got the entry (observed)
        store = Store(tmp_path)
        store.get_or_build("circuits", "idle", lambda d: (d / "x").write_text("1"))
        removed = Store(tmp_path).prune(older_than=-1)  # everything is old enough
        names = {e.key for e in removed}
        assert "held" not in names and (tmp_path / "circuits" / "held").is_dir()
    finally:
        proc.communicate("\n", timeout=60)
    removed = Store(tmp_path).prune(older_than=-1)
    assert "held" in {e.key for e in removed}  # its process is gone: now it can go
