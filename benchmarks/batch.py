"""Batch proving throughput: proofs per minute with 1 and 2 local workers on the digits MLP, and peak
memory per worker (max RSS of the local pool's worker processes), local pool vs a local Ray cluster.

    python -m benchmarks batch    -> benchmarks/results/batch.json and batch.md
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from .report import write_results

ROOT = Path(__file__).resolve().parents[1]


def run(n: int = 8) -> dict:
    sys.path.insert(0, str(ROOT))
    import zkml
    from models import zoo

    keys = zoo.compile_zoo("digits_mlp").setup()
    _, cal, _, _ = zoo.load("digits_mlp")
    xs = [cal[i % len(cal)] for i in range(n)]
    single = []
    for x in xs[:3]:
        t0 = time.perf_counter()
        keys.prove(x)
        single.append(time.perf_counter() - t0)
    rows = [
        {
            "mode": "in-process, sequential",
            "workers": 1,
            "proofs": 3,
            "proofs_per_min": round(60 * 3 / sum(single), 1),
            "seconds": round(sum(single), 2),
        }
    ]
    for workers in (1, 2):
        t0 = time.perf_counter()
        results = zkml.prove_many(keys, xs, workers=workers)
        dt = time.perf_counter() - t0
        assert all(results)
        rows.append(
            {
                "mode": "local pool",
                "workers": workers,
                "proofs": n,
                "proofs_per_min": round(60 * n / dt, 1),
                "seconds": round(dt, 2),
            }
        )
    rows += _ray_rows(keys, xs)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    return {
        "benchmark": "batch throughput",
        "model": "digits_mlp",
        "logrows": keys.circuit.logrows,
        "pk_bytes": keys.pk_path.stat().st_size,
        "peak_worker_rss_mb": peak,
        "cores": os.cpu_count(),
        "rows": rows,
    }


def _ray_rows(keys, xs) -> list[dict]:
    """The same batch on a local Ray cluster (started here on 127.0.0.1, stopped after)."""
    import socket
    import subprocess

    import zkml

    ray_bin = Path(sys.executable).parent / "ray"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
    )
    rows = []
    try:
        for workers in (1, 2):
            t0 = time.perf_counter()
            results = zkml.prove_many(keys, xs, workers=workers, cluster=f"127.0.0.1:{port}")
            dt = time.perf_counter() - t0
            assert all(results)
            rows.append(
                {
                    "mode": "ray (local cluster)",
                    "workers": workers,
                    "proofs": len(xs),
                    "proofs_per_min": round(60 * len(xs) / dt, 1),
                    "seconds": round(dt, 2),
                }
            )
    finally:
        import ray

        ray.shutdown()
        subprocess.run([str(ray_bin), "stop", "--force"], capture_output=True)
    return rows


def table(r: dict) -> str:
    lines = [
        f"digits_mlp, 2^{r['logrows']} rows, proving key {r['pk_bytes'] / 1e6:.0f} MB, peak worker RSS {r['peak_worker_rss_mb']} MB, {r['cores']} cores",
        "",
        "| mode | workers | proofs | seconds | proofs/min |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {x['mode']} | {x['workers']} | {x['proofs']} | {x['seconds']} | {x['proofs_per_min']} |" for x in r["rows"]
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-bench-"))
    r = run()
    write_results("batch", r, table(r))


if __name__ == "__main__":
    main()
