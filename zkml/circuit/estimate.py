"""``estimate()``: what setting up and proving a circuit will cost on this machine, before spending it.

The cost model is fitted to measurements made here (2 cores, 25.2 GB = 23.5 GiB, ezkl 23.0.5;
``python -m benchmarks estimate`` measures the zoo, LeNet-5 at 2^19 and tiny_gpt's three 2^18 segments in
one run and writes ``benchmarks/results/estimate.md``). Everything scales with the circuit's rows (2^logrows)
and its *width*: how many columns a row carries compared with a plain MLP, read from the settings (extra
range checks, lookup tables, shuffles). Proving time is rows x width^0.8 per core, with two cores 1.85x
faster than one; memory is a fixed 94 MB plus rows x (1 + 0.8 (width - 1)) x 9.8 kB; the proving key is
rows x width x 4.2 kB; setup takes 1.7x the proving time. Fitted on LeNet-5 and tiny_gpt (memory, time) and
the zoo (the fixed part, setup); the measured error of every prediction is in ``estimate.md`` (target:
peak memory and proving time within ±30%). Setup is the least certain (LeNet-5's takes 2.3x its proof).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

PK_BYTES_PER_ROW = 4227  # a plain MLP's proving key per row (2 range checks, no lookups)
PROVE_S_PER_ROW = 228e-6  # seconds per row on 1 core, width 1 (LeNet-5 in two 2^18 segments: 119.6 s)
CORE_SCALING = 0.89  # n cores prove n^0.89 times faster (LeNet-5 at 2^19 on 2 cores: 64.7 s, 1.85x)
TIME_WIDTH_EXP = 0.8  # proving time grows as width^0.8 (tiny_gpt's 2^18 segments, widths 5.5 and 2.6)
MEMORY_WIDTH_SLOPE = 0.8  # memory per row grows by 0.8 of a plain row per unit of width past 1
PROVE_S_FIXED = 0.25  # witness, transcript and I/O around a proof
SETUP_FRACTION = 1.7  # setup time / proving time (1.25x-2.3x measured: wine_attention .. LeNet-5)
RSS_BASE = 90 << 20  # the interpreter, numpy, onnxruntime and ezkl loaded (digits_mlp at 2^12: 125 MB)
RSS_BYTES_PER_ROW = 9.6 * 1024
VERIFIER_BYTES = 13_400  # the per-model Solidity verifier, width 1
MEMORY_HEADROOM = 0.8  # of this machine's memory, what max_logrows="auto" plans for
REFUSE_ABOVE = 1.0  # compile refuses a circuit predicted over this fraction of the machine's memory


@dataclass(frozen=True)
class Estimate:
    """Predicted cost of one circuit (or the largest segment of a split one) on this machine."""

    logrows: int
    rows: int
    width: float
    pk_bytes: int
    peak_memory_bytes: int
    setup_s: float
    prove_s: float
    verifier_bytes: int
    segments: int = 1
    machine_memory_bytes: int = 0

    @property
    def fits(self) -> bool:
        return self.peak_memory_bytes <= REFUSE_ABOVE * self.machine_memory_bytes

    def to_json(self) -> dict:
        return {**self.__dict__, "fits": self.fits}

    def __str__(self) -> str:
        # one unit convention: GB = 10^9 bytes and kB = 10^3 bytes (SI), so the numbers match the bytes in to_json()
        return (
            f"2^{self.logrows} rows ({self.rows} used, width {self.width:.1f}{f', {self.segments} segments' if self.segments > 1 else ''}): "
            f"proving key {gb(self.pk_bytes)}, peak memory {gb(self.peak_memory_bytes)} "
            f"of {gb(self.machine_memory_bytes, 1)}, setup ~{self.setup_s:.0f} s, prove ~{self.prove_s:.0f} s, "
            f"verifier ~{self.verifier_bytes / 1e3:.1f} kB"
        )


def gb(n: int | float, digits: int = 2) -> str:
    """Bytes as decimal gigabytes (GB = 10^9 bytes), the unit every zkml message uses."""
    return f"{n / 1e9:.{digits}f} GB"


def machine_memory() -> int:
    """This machine's memory in bytes (cgroup limit if lower)."""
    total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    total = int(line.split()[1]) * 1024
    except OSError:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def cores() -> int:
    """The cores this process may run on (taskset, cgroup cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _memory(rows: int, w: float) -> int:
    return int(RSS_BASE + RSS_BYTES_PER_ROW * rows * (1 + MEMORY_WIDTH_SLOPE * max(w - 1, 0)))


def width(settings: Mapping[str, Any]) -> float:
    """Columns per row relative to a plain MLP, from what the settings say the circuit needs.

    Fitted on proving-key sizes: each range check past two adds 0.136 (iris_forest: 1.136); a lookup table
    1.5; shuffles and dynamic lookups 1.4 whatever their number (wine_attention, 1 lookup + 13 shuffles:
    4.1 measured, 4.0 predicted; ezkl's random_forest example, 200 shuffles + 400 dynamic lookups: 2.5 / 2.5)."""
    ranges = len(settings.get("required_range_checks") or [])
    lookups = len(settings.get("required_lookups") or [])
    shuffles = int(settings.get("num_shuffles") or 0) + int(settings.get("num_dynamic_lookups") or 0)
    cols = int(settings.get("run_args", {}).get("num_inner_cols", 2))
    return (1 + 0.136 * max(ranges - 2, 0) + 1.5 * lookups + (1.4 if shuffles else 0.0)) * (1 + 0.1 * max(cols - 2, 0))


def for_settings(settings: Mapping[str, Any], n_cores: int | None = None) -> Estimate:
    """The estimate for one circuit's settings, proved on ``n_cores`` cores (default: this process's)."""
    k = int(settings["run_args"]["logrows"])
    w = width(settings)
    rows = 2**k
    prove = PROVE_S_FIXED + PROVE_S_PER_ROW * rows * w**TIME_WIDTH_EXP / (n_cores or cores()) ** CORE_SCALING
    return Estimate(
        k,
        int(settings.get("num_rows", rows)),
        round(w, 2),
        int(PK_BYTES_PER_ROW * rows * w),
        _memory(rows, w),
        round(SETUP_FRACTION * prove, 2),
        round(prove, 2),
        int(VERIFIER_BYTES * w**0.5),
        1,
        machine_memory(),
    )


def for_split(segments, n_cores: int | None = None) -> Estimate:
    """A split circuit: its largest segment's memory (segments are proved in turn), summed sizes and times."""
    parts = [for_settings(c.settings, n_cores) for c in segments]
    big = max(parts, key=lambda e: e.peak_memory_bytes)
    return Estimate(
        big.logrows,
        big.rows,
        big.width,
        sum(e.pk_bytes for e in parts),
        big.peak_memory_bytes,
        round(sum(e.setup_s for e in parts), 2),
        round(sum(e.prove_s for e in parts), 2),
        max(e.verifier_bytes for e in parts),
        len(parts),
        big.machine_memory_bytes,
    )


def auto_max_logrows(settings: Mapping[str, Any]) -> int:
    """The largest logrows whose circuit of this width fits this machine's memory (with headroom)."""
    w, mem = width(settings), MEMORY_HEADROOM * machine_memory()
    k = 10
    while _memory(2 ** (k + 1), w) <= mem and k < 26:
        k += 1
    return k
