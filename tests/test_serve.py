"""prove-model serve: a real uvicorn server in a subprocess on a free loopback port, real HTTP (httpx)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import zkml
from zkml.errors import AuthError, InputRangeError, InputShapeError, ServiceError

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

TOKEN = "s3cret-token-for-tests"
SECRET = 0.123456789  # a distinctive private input value: it must appear nowhere once its job ended
START_S = 60.0
JOB_S = 120.0


class Server:
    """``prove-model serve`` in a subprocess; its stdout/stderr go to files (searched for private values)."""

    def __init__(self, tmp: Path, sources: list[Path], home: Path, *args: str, token: str | None = TOKEN):
        self.tmp, self.home = tmp, home
        self.out, self.err = tmp / f"serve-{time.monotonic_ns()}.out", tmp / f"serve-{time.monotonic_ns()}.err"
        env = {**os.environ, "ZKML_HOME": str(home)}
        env.pop("ZKML_SERVE_TOKEN", None)
        if token:
            env["ZKML_SERVE_TOKEN"] = token
        cmd = [
            sys.executable,
            "-c",
            "from zkml.cli import main; main()",
            "serve",
            *map(str, sources),
            "--port",
            "0",
            *args,
        ]
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(cmd, stdout=o, stderr=e, env=env, cwd=tmp)
        try:
            self._wait_ready(token)
        except BaseException:  # never leave a server behind
            self.proc.kill()
            self.proc.wait(10)
            raise

    def _wait_ready(self, token: str | None) -> None:
        self.url = self._wait_url()
        self.http = httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        deadline = time.monotonic() + START_S
        while True:  # poll until the server answers and its workers have loaded their keys
            try:
                h = self.http.get("/healthz").json()
                if h["workers_ready"] >= h["workers"]:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.logs()
            assert time.monotonic() < deadline, "the server did not become ready\n" + self.logs()
            time.sleep(0.05)

    def _wait_url(self) -> str:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            for line in self.err.read_text(errors="replace").splitlines():
                if "listening on " in line:
                    return line.split("listening on ", 1)[1].split()[0]
            assert self.proc.poll() is None, self.logs()
            time.sleep(0.05)
        raise AssertionError("the server never said where it listens\n" + self.logs())

    def logs(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def journal_bytes(self) -> bytes:
        d = self.home / "serve"
        return b"".join(p.read_bytes() for p in sorted(d.glob("journal.sqlite3*")) if p.is_file())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def job_until(http, job_id: str, statuses: tuple[str, ...], timeout: float = JOB_S) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = http.get(f"/v1/jobs/{job_id}", params={"wait": 1} if "done" in statuses else None).json()
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body


@pytest.fixture(scope="module")
def keys_dir(mlp_keys, tmp_path_factory):
    return mlp_keys.save(tmp_path_factory.mktemp("serve-keys") / "keys")


@pytest.fixture(scope="module")
def server(keys_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    s = Server(tmp, [keys_dir], tmp / "home", "--workers", "2", "--max-body", "65536")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def responses():
    """Every response body the tests read from the main server (searched for the private value at the end)."""
    return []


def test_models_health_and_openapi(server, mlp_keys):
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"  # open without a token
    models = server.http.get("/v1/models").json()["models"]
    assert [m["id"] for m in models] == [mlp_keys.id]
    m = models[0]
    assert m["inputs"] == [{"name": "input", "shape": [1, 4], "dtype": "float32"}]
    assert m["visibility"] == {"input": "private", "output": "public", "params": "fixed"}
    assert m["dev_srs"] is True and m["can_prove"] is True
    paths = server.http.get("/openapi.json").json()["paths"]
    assert {
        "/v1/models",
        "/v1/models/{model_id}/prove",
        "/v1/jobs/{job_id}",
        "/v1/models/{model_id}/verify",
        "/metrics",
    } <= set(paths)
    assert_problem(server.http.get("/v1/models/" + "ab" * 32), 404)
    assert_problem(server.http.post("/v1/models/" + "ab" * 32 + "/prove", json={"input": [1, 2, 3, 4]}), 404)
    assert_problem(server.http.get("/v1/jobs/nope"), 404)


def test_tokens_missing_and_wrong(server, mlp_keys):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = httpx.get(server.url + "/v1/models", headers=headers)
        body = assert_problem(r, 401)
        assert (
            r.headers["www-authenticate"].startswith("Bearer") and TOKEN not in r.text and body["error"] == "AuthError"
        )
        r = httpx.post(server.url + f"/v1/models/{mlp_keys.id}/prove", json={"input": [1, 2, 3, 4]}, headers=headers)
        assert r.status_code == 401
    with zkml.Client(server.url, token="wrong") as c, pytest.raises(AuthError):
        c.models()
    with zkml.Client(server.url, token="") as c, pytest.raises(AuthError):
        c.models()
    with zkml.Client(server.url, token=TOKEN) as c:
        assert c.models() == [mlp_keys.id]


def test_bad_bodies_are_problems(server, mlp_keys, responses):
    url = f"/v1/models/{mlp_keys.id}/prove"
    r = server.http.post(url, content=b'{"input": [0.1, 0.2', headers={"content-type": "application/json"})
    assert assert_problem(r, 400)["error"] == "MalformedJSON"
    body = assert_problem(server.http.post(url, json={"input": [SECRET, 0.2, 0.3]}), 422)
    assert body["error"] == "InputShapeError" and "[1, 4]" in body["detail"]
    responses.append(body)
    assert assert_problem(server.http.post(url, json={"inputs": [1, 2, 3, 4]}), 422)["status"] == 422
    assert (
        assert_problem(server.http.post(url, content=b'{"input": [NaN, 1, 2, 3]}'), 422)["error"] == "InputValueError"
    )
    big = json.dumps({"input": [SECRET] * 6000}).encode()
    assert len(big) > 65536
    assert assert_problem(server.http.post(url, content=big), 413)["error"] == "PayloadTooLarge"
    # no Content-Length (chunked): the size of what arrives is checked too
    r = server.http.post(url, content=iter([big[:40000], big[40000:]]))
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)
    with zkml.Client(server.url, token=TOKEN) as c, pytest.raises(InputShapeError, match=r"\[1, 4\]"):
        c.submit(mlp_keys.id, np.zeros((2, 3)))


def test_concurrent_clients_get_their_own_proofs(server, mlp_keys, mlp_torch, responses):
    import torch

    xs = [np.random.default_rng(100 + i).normal(size=4) for i in range(8)]
    got: dict[int, zkml.Proof] = {}
    errors = []

    def client(k: int) -> None:
        try:
            with zkml.Client(server.url, token=TOKEN) as c:
                for i in (2 * k, 2 * k + 1):
                    got[i] = c.prove(mlp_keys.id, xs[i], timeout=JOB_S)
        except Exception as err:  # reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * JOB_S)
    assert not errors and sorted(got) == list(range(8)), errors
    with torch.no_grad():
        want = [mlp_torch(torch.tensor(x, dtype=torch.float32)[None]).numpy() for x in xs]
    for i, proof in got.items():
        v = zkml.verify(proof, mlp_keys.vk)
        assert v, v.reason
        # its own input's outputs: close to the float model on x_i, and not to any other input's
        dist = [float(np.abs(v.outputs[0] - w).max()) for w in want]
        assert dist[i] < 0.05 and dist[i] == min(dist), (i, dist)
    for i in (0, 5):  # bit-exact against a local proof of the same input
        local = mlp_keys.prove(xs[i])
        assert np.array_equal(zkml.verify(got[i], mlp_keys.vk).outputs[0], local.outputs[0])
    # the jobs endpoint: outputs decoded with the key, the proof JSON the library reads
    with zkml.Client(server.url, token=TOKEN) as c:
        job_id = c.submit(mlp_keys.id, {"input": xs[3].reshape(1, 4)})
        body = c.job(job_id, wait=JOB_S)
        assert body["status"] == "done" and np.allclose(body["outputs"][0], zkml.verify(got[3], mlp_keys.vk).outputs[0])
        assert zkml.verify(zkml.Proof.from_json(body["proof"]), mlp_keys.vk)
        assert c.result(job_id).proof == zkml.Proof.from_json(body["proof"]).proof


def test_verify_endpoint(server, mlp_keys, mlp_proof):
    with zkml.Client(server.url, token=TOKEN) as c:
        v = c.verify(mlp_keys.id, mlp_proof)
        assert v and v.model_id == mlp_keys.id and np.allclose(v.outputs[0], mlp_proof.outputs[0])
        raw = mlp_proof.to_json()
        raw["instances"][0][-1] = (
            raw["instances"][0][0] if raw["instances"][0][0] != raw["instances"][0][-1] else "00" * 32
        )
        bad = c.verify(mlp_keys.id, raw)
        assert not bad and bad.reason
    r = server.http.post(f"/v1/models/{mlp_keys.id}/verify", json={"proof": "not a proof"})
    assert assert_problem(r, 422)["error"] == "ArtifactError"


def test_failed_job_and_metrics(server, mlp_keys, responses):
    with zkml.Client(server.url, token=TOKEN) as c:
        job_id = c.submit(mlp_keys.id, [1e7, -1e7, 1e7, SECRET])  # outside the calibrated range
        with pytest.raises(InputRangeError, match="refusing to prove"):
            c.result(job_id, timeout=JOB_S)
        body = c.job(job_id)
        responses.append(body)
        assert body["status"] == "failed" and body["error"]["status"] == 422 and "proof" not in body
        r = server.http.post(
            f"/v1/models/{mlp_keys.id}/prove", params={"wait": JOB_S}, json={"input": [1e7, 1e7, 1e7, SECRET]}
        )
        responses.append(assert_problem(r, 422))
    metrics = server.http.get("/metrics").text
    responses.append(metrics)
    assert "zkml_serve_queue_depth" in metrics and "zkml_serve_job_seconds_bucket" in metrics
    assert 'zkml_serve_failures_total{kind="input"}' in metrics
    assert "zkml_serve_prove_seconds_count" in metrics and "zkml_serve_prove_seconds_count 0.0" not in metrics


def test_private_input_appears_nowhere(server, mlp_keys, responses):
    x = [SECRET, -0.5, 0.25, 1.5]
    with zkml.Client(server.url, token=TOKEN) as c:
        job_id = c.submit(mlp_keys.id, x)
        responses.append(c.job(job_id))
        assert c.result(job_id, timeout=JOB_S)
        responses.append(c.job(job_id))
    # every job of this server has ended
    deadline = time.monotonic() + JOB_S
    while True:
        m = server.http.get("/metrics").text
        if "zkml_serve_queue_depth 0.0" in m and "zkml_serve_jobs_running 0.0" in m:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with contextlib.closing(sqlite3.connect(server.home / "serve" / "journal.sqlite3")) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE input IS NOT NULL").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'done'").fetchone()[0] >= 1
        public = {
            h
            for (raw,) in db.execute("SELECT proof FROM jobs WHERE proof IS NOT NULL")
            for col in json.loads(raw)["instances"]
            for h in col
        }
    assert (server.home / "serve" / "journal.sqlite3").stat().st_mode & 0o777 == 0o600
    scale = int(mlp_keys.circuit.settings["run_args"]["input_scale"])
    fixed = round(SECRET * 2**scale)
    felt = fixed.to_bytes(32, "little").hex()
    texts = {repr(SECRET), "0.123456789", repr(float(np.float32(SECRET))), str(np.float32(SECRET)), SECRET.hex()}
    if felt not in public:  # (the same field element could be some proof's public output)
        texts.add(felt)
    blobs = {
        "journal": server.journal_bytes(),
        "logs": server.logs().encode(),
        "responses": json.dumps(responses).encode(),
    }
    for name, blob in blobs.items():
        for t in texts:
            assert t.encode() not in blob, (name, t)
    for raw in (struct.pack("<d", SECRET), struct.pack(">d", SECRET), struct.pack("<f", SECRET)):
        assert raw not in blobs["journal"]
    assert TOKEN not in server.logs()


def test_full_queue_answers_429(keys_dir, mlp_keys, tmp_path):
    s = Server(tmp_path, [keys_dir], tmp_path / "home", "--workers", "1", "--queue-size", "1")
    try:
        url = f"/v1/models/{mlp_keys.id}/prove"
        # 1 proving + 1 waiting fit; a proof takes far longer than these requests, so the rest must be refused
        codes = [s.http.post(url, json={"input": [0.1 * i, 0.2, 0.3, 0.4]}) for i in range(5)]
        assert [r.status_code for r in codes[:2]] == [202, 202], [r.text for r in codes]
        full = [r for r in codes if r.status_code == 429]
        assert len(full) == 3
        assert int(full[0].headers["retry-after"]) >= 1 and assert_problem(full[0], 429)["error"] == "Busy"
        with zkml.Client(s.url, token=TOKEN) as c:
            with pytest.raises(ServiceError) as info:
                c.submit(mlp_keys.id, [0.5, 0.5, 0.5, 0.5])
            assert info.value.status == 429 and info.value.retry_after >= 1
            for r in codes[:2]:  # the accepted ones still finish
                assert zkml.verify(c.result(r.json()["job_id"], timeout=JOB_S), mlp_keys.vk)
    finally:
        s.stop()


def _worker_pids(server_pid: int) -> list[int]:
    # a child belongs to the thread that started it: look through every thread of the server
    kids = [k for t in Path(f"/proc/{server_pid}/task").iterdir() for k in (t / "children").read_text().split()]
    return [int(k) for k in kids if b"resource_tracker" not in Path(f"/proc/{k}/cmdline").read_bytes()]


def _journal_rows(home: Path) -> dict[str, tuple[str, int]]:
    with contextlib.closing(sqlite3.connect(home / "serve" / "journal.sqlite3")) as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, status, attempts FROM jobs")}


def test_sigkill_mid_job_then_restart_completes(keys_dir, mlp_keys, tmp_path):
    home = tmp_path / "home"
    s = Server(tmp_path, [keys_dir], home, "--workers", "1")
    try:
        ids = [
            s.http.post(f"/v1/models/{mlp_keys.id}/prove", json={"input": [0.3, -0.1 * i, 0.2, 0.9]}).json()["job_id"]
            for i in range(3)
        ]
        job_until(s.http, ids[0], ("running", "done"))  # the worker holds a job, the others wait
    finally:
        s.stop(signal.SIGKILL)
    assert s.proc.returncode == -signal.SIGKILL
    # what the dead server left: one job mid-proof (its worker held it), the rest queued
    left = _journal_rows(home)
    assert sorted(left) == sorted(ids)
    running = [j for j, (st, _) in left.items() if st == "running"]  # (empty only if killed between two jobs)
    assert any(st in ("running", "queued") for st, _ in left.values()), left
    s2 = Server(tmp_path, [keys_dir], home, "--workers", "1")
    try:
        for job_id in ids:
            body = job_until(s2.http, job_id, ("done", "failed"))
            assert body["status"] == "done", body
            assert zkml.verify(zkml.Proof.from_json(body["proof"]), mlp_keys.vk)
        for job_id in running:  # the killed attempt counts
            assert s2.http.get(f"/v1/jobs/{job_id}").json()["attempts"] == 2
        # a worker that dies mid-job is replaced and the job retried (again if the kill missed the proof)
        for _ in range(3):
            job_id = s2.http.post(f"/v1/models/{mlp_keys.id}/prove", json={"input": [0.7, 0.1, 0.2, 0.3]}).json()[
                "job_id"
            ]
            job_until(s2.http, job_id, ("running",))
            (worker,) = _worker_pids(s2.proc.pid)
            os.kill(worker, signal.SIGKILL)
            killed_at = time.time()
            body = job_until(s2.http, job_id, ("done", "failed"))
            if body["finished"] > killed_at:
                break
        assert body["status"] == "done" and body["attempts"] == 2, body
        assert zkml.verify(zkml.Proof.from_json(body["proof"]), mlp_keys.vk)
        assert "zkml_serve_worker_restarts_total 0.0" not in s2.http.get("/metrics").text
    finally:
        s2.stop()


def test_a_jobs_progress_while_queued_running_and_done(keys_dir, mlp_keys, tmp_path):
    """GET /v1/jobs/{id} says where a job waits and what its worker reports; the worker is held stopped (SIGSTOP)
    so that the queued and running states are seen for sure, never by luck of timing."""
    s = Server(tmp_path, [keys_dir], tmp_path / "home", "--workers", "1")
    seen = []
    try:
        (worker,) = _worker_pids(s.proc.pid)
        url = f"/v1/models/{mlp_keys.id}/prove"
        os.kill(worker, signal.SIGSTOP)
        try:
            first = s.http.post(url, json={"input": [SECRET, 0.2, 0.3, 0.4]}).json()["job_id"]
            second = s.http.post(url, json={"input": [0.5, SECRET, -0.1, 0.2]}).json()["job_id"]
            running = job_until(s.http, first, ("running",))
            waiting = s.http.get(f"/v1/jobs/{second}").json()
        finally:
            os.kill(worker, signal.SIGCONT)
        seen += [running, waiting]
        p = running["progress"]
        assert p["stage"] == "prove" and (p["done"], p["total"], p["unit"]) == (0, 1, "proofs"), p
        assert p["elapsed"] >= 0 and p["status"] == "start"
        q = waiting["progress"]
        assert waiting["status"] == "queued" and q["stage"] == "queued" and q["position"] == 1, waiting
        # then the worker's own events, until the proof: done only grows and reaches the total
        for job_id in (first, second):
            while True:
                body = s.http.get(f"/v1/jobs/{job_id}", params={"wait": 0.2}).json()
                seen.append(body)
                if body["status"] in ("done", "failed"):
                    break
            assert body["status"] == "done", body
            mine = [b["progress"] for b in seen if b["job_id"] == job_id and b["progress"]["stage"] != "queued"]
            assert [m["done"] for m in mine] == sorted(m["done"] for m in mine)
            final = body["progress"]
            assert (final["status"], final["done"], final["total"], final["eta"]) == ("done", 1, 1, 0.0), final
            assert final["step"] == "proof of 2^11 rows"  # the worker's own step, forwarded over its pipe
            assert zkml.verify(zkml.Proof.from_json(body["proof"]), mlp_keys.vk)
        # with jobs' times measured, a queued job's progress carries an ETA
        os.kill(worker, signal.SIGSTOP)
        try:
            third = s.http.post(url, json={"input": [0.1, 0.2, SECRET, 0.4]}).json()["job_id"]
            fourth = s.http.post(url, json={"input": [0.4, 0.3, 0.2, SECRET]}).json()["job_id"]
            job_until(s.http, third, ("running",))
            waiting = s.http.get(f"/v1/jobs/{fourth}").json()
        finally:
            os.kill(worker, signal.SIGCONT)
        seen.append(waiting)
        assert waiting["progress"]["position"] == 1 and waiting["progress"]["eta"] > 0, waiting
        for job_id in (third, fourth):
            assert job_until(s.http, job_id, ("done", "failed"))["status"] == "done"
    finally:
        s.stop()
    text = json.dumps([b["progress"] for b in seen]) + s.logs()
    assert repr(SECRET) not in text and "0.123456789" not in text and "0.1234567" not in text


def test_non_loopback_without_token_is_refused(keys_dir, tmp_path):
    env = {**os.environ, "ZKML_HOME": str(tmp_path / "home")}
    env.pop("ZKML_SERVE_TOKEN", None)
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from zkml.cli import main; main()",
            "serve",
            str(keys_dir),
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1 and "ServiceError" in res.stderr and "without a token" in res.stderr, res.stderr
    res = subprocess.run(
        [sys.executable, "-c", "from zkml.cli import main; main()", "serve", str(keys_dir), "--token", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0 and "No such option" in res.stderr


def test_client_unreachable_server_is_a_service_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with zkml.Client(f"http://127.0.0.1:{port}") as c, pytest.raises(ServiceError, match="cannot connect") as info:
        c.models()
    assert "prove-model serve" in info.value.hint


def test_verify_only_sources_and_job_timeout(keys_dir, mlp_keys, mlp_proof, tmp_path):
    # a verifying key or a bundle (no proving key): listed once, verifies, refuses to prove (409)
    vk_dir = mlp_keys.vk.save(tmp_path / "vk")
    car = zkml.bundle(mlp_keys).save(tmp_path / "model.car")
    s = Server(tmp_path, [vk_dir, car], tmp_path / "home-vk")
    try:
        models = s.http.get("/v1/models").json()["models"]
        assert [m["id"] for m in models] == [mlp_keys.id] and models[0]["can_prove"] is False
        with zkml.Client(s.url, token=TOKEN) as c:
            assert c.verify(mlp_keys.id, mlp_proof)
            with pytest.raises(ServiceError, match="verification only") as info:
                c.submit(mlp_keys.id, [0.1, 0.2, 0.3, 0.4])
            assert info.value.status == 409
    finally:
        s.stop()
    # a job that runs past --job-timeout fails (504) and its worker is replaced
    s = Server(tmp_path, [keys_dir], tmp_path / "home-timeout", "--workers", "1", "--job-timeout", "0.05")
    try:
        with zkml.Client(s.url, token=TOKEN) as c:
            job_id = c.submit(mlp_keys.id, [0.1, 0.2, 0.3, 0.4])
            with pytest.raises(ServiceError, match="timeout") as info:
                c.result(job_id, timeout=JOB_S)
            assert info.value.status == 504
        metrics = s.http.get("/metrics").text
        assert 'zkml_serve_failures_total{kind="timeout"} 1.0' in metrics
        assert "zkml_serve_worker_restarts_total 1.0" in metrics
    finally:
        s.stop()


@pytest.mark.slow
def test_ray_workers(keys_dir, mlp_keys, tmp_path, monkeypatch):
    """--ray-address: the provers are Ray actors (here on a local Ray instance the server starts and stops)."""
    pytest.importorskip("ray")
    monkeypatch.setenv("HOME", str(tmp_path / "ray-home"))  # away from the user's ~/.ray and its auth token
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    s = Server(tmp_path, [keys_dir], tmp_path / "home", "--workers", "1", "--ray-address", "local")
    try:
        with zkml.Client(s.url, token=TOKEN) as c:
            proofs = [c.prove(mlp_keys.id, [0.1 * i, 0.2, 0.3, 0.4], timeout=JOB_S) for i in range(2)]
        assert all(zkml.verify(p, mlp_keys.vk) for p in proofs)
    finally:
        s.stop()


# ---- every kind of model through the service: single, split, committed, split + committed ------------------

KIND_PARAMS = [
    pytest.param(k, marks=pytest.mark.slow) if k == "split+committed" else k
    for k in ("single", "split", "committed", "split+committed", "tiled")
]


@pytest.fixture(scope="module")
def kinds_server(kind_case, tmp_path_factory):
    """One server for every kind built so far (single, split, committed; split + committed in the slow run)."""
    import conftest

    tmp = tmp_path_factory.mktemp("serve-kinds")
    kinds = [k for k in conftest.KINDS if k != "split+committed"]
    cases = [kind_case(k) for k in kinds]
    s = Server(tmp, [c.keys_dir for c in cases], tmp / "home", "--workers", "2")
    yield s
    s.stop()


@pytest.mark.parametrize("kind", KIND_PARAMS)
def test_every_kind_proves_and_verifies_the_statement_it_serves(kind, kind_case, kinds_server, tmp_path):
    case = kind_case(kind)
    if kind == "split+committed":  # its own server (the slow run)
        s = Server(tmp_path, [case.keys_dir], tmp_path / "home", "--workers", "1")
    else:
        s = kinds_server
    try:
        listed = {m["id"]: m for m in s.http.get("/v1/models").json()["models"]}
        mid = case.statement.id
        assert mid in listed, (mid, list(listed))
        m = listed[mid]
        assert m["key_id"] == case.keys.vk.key_id and m["segments"] == len(getattr(case.keys, "segments", [1]))
        assert m["committed"] is bool(case.fingerprint) and m["weights_commitment"] == case.fingerprint
        assert m["weights_pinned"] is bool(case.fingerprint) and m["can_prove"] is True
        with zkml.Client(s.url, token=TOKEN) as c:
            proof = c.prove(mid, case.x, timeout=JOB_S)
            local = zkml.verify(proof, case.statement)  # the client's proof, checked against the pinned statement
            assert local and local.model_id == mid and len(proof.segments) == len(getattr(case.keys, "segments", ()))
            v = c.verify(mid, proof)
            assert v and v.model_id == mid and v.key_id == case.keys.vk.key_id
            assert v.weights_commitment == case.fingerprint and v.weights_checked is bool(case.fingerprint)
            assert v.statement["model_id"] == mid and v.statement["weights_commitment"] == case.fingerprint
            assert (v.weights_note is None) is (case.fingerprint is None)
            assert np.allclose(v.outputs[0], local.outputs[0])
            assert v.srs_status == "unknown" and "forge" in v.srs_message and m["srs_status"] == "unknown"  # dev SRS
            assert c.verify(mid, case.proof)  # a proof made elsewhere with the same statement
            # GET /v1/jobs/{id}: the job, its proof and the outputs decoded with the served key
            job_id = c.submit(mid, case.x)
            body = c.job(job_id, wait=JOB_S)
            assert body["status"] == "done" and body["model_id"] == mid
            assert np.allclose(body["outputs"][0], local.outputs[0])
            units = len(getattr(case.keys, "segments", [1]))  # one proof per segment, the last step the worker's
            p = body["progress"]
            assert (p["status"], p["done"], p["total"], p["unit"]) == ("done", units, units, "proofs"), p
            assert p["step"].startswith("proof of 2^"), p
            assert zkml.verify(zkml.Proof.from_json(body["proof"]), case.statement)
            # a forger's proofs: other weights, reordered or spliced segments, another model's proof
            for what, forged in case.forged.items():
                bad = c.verify(mid, forged)
                assert not bad and bad.reason and not bad.weights_checked, what
                assert bad.statement["model_id"] == mid, what
    finally:
        if s is not kinds_server:
            s.stop()


def test_committed_other_weights_are_refused_by_a_pinned_statement(kind_case, kinds_server):
    case = kind_case("committed")
    forged = case.forged["other weights"]
    assert zkml.verify(forged, case.keys.vk)  # a valid proof of the bare key: only the statement refuses it
    with zkml.Client(kinds_server.url, token=TOKEN) as c:
        bad = c.verify(case.statement.id, forged)
        assert not bad and "weights commitment" in bad.reason
        # the bare key's id is not a served statement: it cannot be used to slip past the pin
        with pytest.raises(ServiceError, match="no model") as info:
            c.verify(case.keys.vk.key_id, forged)
        assert info.value.status == 404
        # a request may pin a fingerprint of its own too: the honest proof against another one is refused
        honest = c.verify(case.statement.id, case.proof, weights_commitment=forged.weights_commitment)
        assert not honest and "weights commitment" in honest.reason


def test_an_unpinned_committed_model_says_the_weights_were_not_checked(kind_case, tmp_path):
    case = kind_case("committed")
    vk_dir = case.keys.vk.save(tmp_path / "vk")  # the bare key: no fingerprint pinned
    s = Server(tmp_path, [vk_dir], tmp_path / "home")
    try:
        (m,) = s.http.get("/v1/models").json()["models"]
        assert m["id"] == case.keys.vk.key_id and m["committed"] is True and m["weights_pinned"] is False
        with zkml.Client(s.url, token=TOKEN) as c:
            for proof, fp in ((case.proof, case.fingerprint), (case.forged["other weights"], None)):
                v = c.verify(m["id"], proof)
                assert v and not v.weights_checked and "NOT checked" in v.weights_note
                assert v.weights_commitment == proof.weights_commitment
                assert v.model_id == case.keys.vk.pin_weights(proof.weights_commitment).id != m["id"]
                if fp:
                    assert v.model_id == case.statement.id  # the statement the proof proves, for the client to compare
            assert not c.verify(m["id"], case.proof, weights_commitment=case.forged["other weights"].weights_commitment)
    finally:
        s.stop()


def test_split_verify_only_from_a_vk_dir_and_a_bundle(kind_case, tmp_path):
    case = kind_case("split")
    vk_dir = case.keys.vk.save(tmp_path / "vk")
    car = zkml.bundle(case.keys).save(tmp_path / "split.car")
    s = Server(tmp_path, [vk_dir, car], tmp_path / "home")
    try:
        models = s.http.get("/v1/models").json()["models"]
        assert [m["id"] for m in models] == [case.keys.id] and models[0]["can_prove"] is False
        with zkml.Client(s.url, token=TOKEN) as c:
            assert c.verify(case.keys.id, case.proof)
            assert not c.verify(case.keys.id, case.forged["reordered segments"])
            with pytest.raises(ServiceError, match="verification only"):
                c.submit(case.keys.id, case.x)
    finally:
        s.stop()


# ---- hardening: tokens never logged, JSON limits, no echo of what was sent ---------------------------------


def test_a_token_in_the_query_string_is_refused_and_never_logged(server, mlp_keys):
    for params in ({"token": TOKEN}, {"access_token": TOKEN}, {"wait": TOKEN}, {"x": "Bearer " + TOKEN}):
        r = httpx.get(server.url + "/v1/models", params=params)
        body = assert_problem(r, 400)
        assert body["error"] == "TokenInQuery" and TOKEN not in r.text
        r = server.http.post(f"/v1/models/{mlp_keys.id}/prove", params=params, json={"input": [0.1, 0.2, 0.3, 0.4]})
        assert_problem(r, 400)
    # a harmless query string is logged without its value too, and a token pasted into a path is redacted
    server.http.get("/v1/jobs/nope", params={"wait": "0.01", "marker": "q-marker-7781"})
    assert_problem(server.http.get(f"/v1/jobs/{TOKEN}"), 404)
    # the access log lines are written after the responses: wait for them (bounded), then read every byte
    wanted = ("/v1/jobs/nope?[redacted]", "/v1/models?[redacted]", "/v1/jobs/[redacted]")
    deadline = time.monotonic() + 30
    while not all(w in server.logs() for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = server.logs()
    assert TOKEN not in logs and "q-marker-7781" not in logs
    assert all(w in logs for w in wanted), logs[-2000:]


def test_deep_nested_and_oversized_json_are_400(server, mlp_keys):
    url = f"/v1/models/{mlp_keys.id}/prove"
    for depth in (33, 9000):
        deep = b'{"input": ' + b"[" * depth + b"]" * depth + b"}"
        body = assert_problem(server.http.post(url, content=deep), 400)
        assert body["error"] == "MalformedJSON" and "levels" in body["detail"]
        assert_problem(server.http.post(f"/v1/models/{mlp_keys.id}/verify", content=deep), 400)
    # brackets inside strings do not count; a sample's own nesting is fine
    ok = server.http.post(url, content=json.dumps({"input": [[0.1, 0.2, 0.3, 0.4]], "note": "[" * 100}).encode())
    assert ok.status_code == 202, ok.text
    long_number = b'{"input": [' + b"7" * 5000 + b", 0.2, 0.3, 0.4]}"
    body = assert_problem(server.http.post(url, content=long_number), 400)
    assert "7777" not in json.dumps(body)
    assert server.proc.poll() is None and "Traceback" not in server.logs()


def test_error_bodies_never_echo_submitted_keys_or_values(server, mlp_keys):
    marker = "zz-submitted-key-4417"
    url = f"/v1/models/{mlp_keys.id}/prove"
    answers = [
        server.http.post(url, json={"input": {marker: [0.1, 0.2, 0.3, 0.4]}}),  # unknown input name
        server.http.post(url, json={"input": {marker: [SECRET]}, marker: SECRET}),
        server.http.post(url, json={marker: [SECRET]}),  # no "input"
        server.http.post(url, json={"input": [marker, SECRET, 0.3, 0.4]}),  # not numeric
        server.http.post(f"/v1/models/{mlp_keys.id}/verify", json={marker: SECRET}),
        server.http.post(f"/v1/models/{mlp_keys.id}/verify", json={"proof": marker, "instances": [[marker]]}),
        server.http.post(
            f"/v1/models/{mlp_keys.id}/verify", json={"proof": {"proof": [1], marker: 2}, "weights_commitment": 5}
        ),
        server.http.get("/v1/jobs/" + marker),
        server.http.get(f"/v1/models/{marker}"),
        server.http.get("/v1/jobs/nope", params={"wait": marker}),
    ]
    for r in answers:
        assert r.status_code in (400, 404, 422), r.text
        assert marker not in r.text and str(SECRET) not in r.text, r.text
        assert_problem(r, r.status_code)
