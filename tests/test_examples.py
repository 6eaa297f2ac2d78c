"""Every program in examples/ runs, as a user would run it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli


def _run(script, *args, timeout=600):
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        cwd=ROOT,
    )


def test_private_digit():
    res = _run("private_digit.py")
    assert res.returncode == 0, res.stderr
    assert "public label:" in res.stdout and "verified: True" in res.stdout


@pytest.mark.requires_solc
def test_credit_threshold_in_process():
    res = _run("credit_threshold.py")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1])["accepted"] is True


@pytest.mark.requires_anvil
@pytest.mark.requires_solc
def test_credit_threshold_on_anvil():
    import zkml

    with zkml.evm.anvil() as node:
        res = _run("credit_threshold.py", "--rpc-url", node.url)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["accepted"] is True and out["gas_used"] > 400_000


def test_tiny_gpt_story_at_toy_size():
    """The split-proving story on the zoo GPT's architecture at a toy size (the full model takes minutes)."""
    res = _run("tiny_gpt.py", "--small")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "one circuit: 2^" in out and "segments of 2^" in out
    assert "verified: True; public next character:" in out and "reordered: verified False" in out


def test_hashed_weights():
    res = _run("hashed_weights.py")
    assert res.returncode == 0, res.stderr
    assert "both carry the committed weights hash: True" in res.stdout


def test_verify_only(tmp_path):
    d = ROOT / "models" / "digits_mlp"
    out = tmp_path / "run"
    assert (
        run_cli(
            "run",
            d / "model.onnx",
            "--input",
            d / "sample_input.json",
            "--calibration",
            d / "calibration.npy",
            "--out",
            out,
        ).returncode
        == 0
    )
    res = _run("verify_only.py", out / "proof.json", out / "vk")
    assert res.returncode == 0 and res.stdout.startswith("VALID"), res.stdout + res.stderr
    raw = json.loads((out / "proof.json").read_text())
    raw["instances"][0][0] = raw["instances"][0][1]
    (tmp_path / "swapped.json").write_text(json.dumps(raw))
    bad = _run("verify_only.py", tmp_path / "swapped.json", out / "vk")
    assert bad.returncode == 1 and bad.stdout.startswith("INVALID")


@pytest.mark.requires_solc
def test_demo_runs_twice_and_uses_the_cache():
    first = _run("demo.py")
    assert first.returncode == 0, first.stderr
    assert (
        "off-chain    valid" in first.stdout and "on-chain     accepted" in first.stdout and "INSECURE" in first.stdout
    )
    second = _run("demo.py")
    assert second.returncode == 0 and "reused the cached circuit and keys" in second.stdout
