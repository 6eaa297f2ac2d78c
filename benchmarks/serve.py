"""The proving service against bare proving, side by side in one run, on the digits MLP:

- latency: one client, one proof at a time through ``prove-model serve`` (HTTP, journal, worker) against a bare
  ``ezkl.gen_witness`` + ``ezkl.prove`` of the same circuit in this process (target: <= 1.1x);
- throughput: 8 concurrent clients against ``zkml.prove_many`` on the local pool, same workers, same inputs
  (target: >= 0.9x).

    python -m benchmarks.serve    -> benchmarks/results/serve.json and serve.md
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def _start_server(keys_dir: Path, workers: int, home: Path, log: Path):
    import httpx

    env = {**os.environ, "ZKML_HOME": str(home), "ZKML_SERVE_TOKEN": TOKEN}
    err = open(log, "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from zkml.cli import main; main()",
            "serve",
            str(keys_dir),
            "--port",
            "0",
            "--workers",
            str(workers),
            "--queue-size",
            "64",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
    )
    deadline = time.monotonic() + 120
    url = None
    while url is None:
        for line in log.read_text(errors="replace").splitlines():
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)
    while True:  # until every worker has its keys loaded
        try:
            h = httpx.get(url + "/healthz").json()
            if h["workers_ready"] >= h["workers"]:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the server's workers did not start")
        time.sleep(0.05)


def run(repeats: int = 5, clients: int = 8, per_client: int = 2, workers: int | None = None, rounds: int = 3) -> dict:
    sys.path.insert(0, str(ROOT))
    import ezkl

    import zkml
    from models import zoo
    from zkml.internals import ezkl_input_json, private_tempdir

    workers = workers or os.cpu_count() or 1
    keys = zoo.compile_zoo("digits_mlp").setup()
    _, cal, _, _ = zoo.load("digits_mlp")
    model = keys.circuit.model
    name = model.inputs[0].name
    xs = [cal[i % len(cal)] for i in range(clients * per_client)]

    def bare_prove(x) -> float:  # bare ezkl: witness + prove of the same circuit and key, in this process
        with private_tempdir() as tmp:
            (tmp / "in.json").write_text(json.dumps(ezkl_input_json(model, {name: x.reshape(model.inputs[0].shape)})))
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ezkl.gen_witness(str(tmp / "in.json"), str(keys.circuit.compiled_path), str(tmp / "w.json"), None, None)
                ezkl.prove(
                    str(tmp / "w.json"),
                    str(keys.circuit.compiled_path),
                    str(keys.pk_path),
                    str(tmp / "p.json"),
                    str(keys.srs.path),
                )
            return time.perf_counter() - t0

    def pool_round() -> float:  # prove_many on the local pool, same workers and inputs (its pool start included)
        t0 = time.perf_counter()
        pooled = zkml.prove_many(keys, xs, workers=workers)
        assert all(pooled)
        return time.perf_counter() - t0

    home = Path(tempfile.mkdtemp(prefix="zkml-bench-serve-"))
    proc, url = _start_server(keys.path, workers, home, home / "server.log")
    try:

        def serve_round() -> float:  # 8 concurrent clients, each proving its share of the inputs
            got: dict[int, object] = {}

            def client(k: int) -> None:
                with zkml.Client(url, token=TOKEN) as c:
                    for i in range(k * per_client, (k + 1) * per_client):
                        got[i] = c.prove(keys.id, xs[i], timeout=600)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            dt = time.perf_counter() - t0
            assert len(got) == len(xs) and all(zkml.verify(p, keys.vk) for p in got.values())
            return dt

        # latency: bare and service interleaved, so a busy moment on a shared machine hits both alike
        bare, latency = [], []
        with zkml.Client(url, token=TOKEN) as c:
            c.prove(keys.id, xs[0])  # warm-up: the first connection and job
            for i in range(repeats):
                bare.append(bare_prove(xs[i]))
                t0 = time.perf_counter()
                proof = c.prove(keys.id, xs[i])
                latency.append(time.perf_counter() - t0)
            assert zkml.verify(proof, keys.vk)
        # throughput: alternating rounds, best of each
        pool_runs, serve_runs = [], []
        for _ in range(rounds):
            pool_runs.append(pool_round())
            serve_runs.append(serve_round())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    pool_s, serve_s = min(pool_runs), min(serve_runs)

    bare_med, lat_med = statistics.median(bare), statistics.median(latency)
    pairs = statistics.median(s_ / b for s_, b in zip(latency, bare))
    n = len(xs)
    return {
        "benchmark": "proving service",
        "model": "digits_mlp",
        "logrows": keys.circuit.logrows,
        "cores": os.cpu_count(),
        "workers": workers,
        "repeats": repeats,
        "bare_ezkl_prove_s": [round(x, 4) for x in bare],
        "service_latency_s": [round(x, 4) for x in latency],
        "latency_ratio": round(lat_med / bare_med, 3),
        "latency_ratio_paired": round(pairs, 3),
        "latency_target": 1.1,
        "clients": clients,
        "proofs": n,
        "prove_many_s": round(pool_s, 3),
        "service_s": round(serve_s, 3),
        "prove_many_per_min": round(60 * n / pool_s, 1),
        "service_per_min": round(60 * n / serve_s, 1),
        "prove_many_runs_s": [round(x, 3) for x in pool_runs],
        "service_runs_s": [round(x, 3) for x in serve_runs],
        "throughput_ratio": round(pool_s / serve_s, 3),
        "throughput_target": 0.9,
    }


def table(r: dict) -> str:
    lat = (
        f"| latency, 1 client | bare ezkl witness+prove {statistics.median(r['bare_ezkl_prove_s']):.3f} s | "
        f"service {statistics.median(r['service_latency_s']):.3f} s | {r['latency_ratio']}x (target <= {r['latency_target']}) |"
    )
    thr = (
        f"| throughput, {r['clients']} clients, {r['proofs']} proofs | prove_many {r['prove_many_per_min']}/min | "
        f"service {r['service_per_min']}/min | {r['throughput_ratio']}x (target >= {r['throughput_target']}) |"
    )
    return (
        "\n".join(
            [
                f"digits_mlp, 2^{r['logrows']} rows, {r['workers']} workers, {r['cores']} cores "
                f"(medians of {r['repeats']})",
                "",
                "| measure | baseline | service | ratio |",
                "| --- | --- | --- | --- |",
                lat,
                thr,
            ]
        )
        + "\n"
    )


def main() -> None:
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-bench-"))
    r = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(r, indent=2))
    (RESULTS / "serve.md").write_text(table(r))
    print(table(r))


if __name__ == "__main__":
    main()
