"""Shared fixtures: an isolated ZKML_HOME for the whole session, tiny models and their keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory):
    """Every test runs against a temporary ZKML_HOME, never ~/.cache/zkml or the source tree."""
    home = tmp_path_factory.mktemp("zkml-home")
    old = os.environ.get("ZKML_HOME")
    os.environ["ZKML_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("ZKML_HOME", None)
    else:
        os.environ["ZKML_HOME"] = old


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """An empty cache for tests that count what gets built."""
    home = tmp_path / "home"
    monkeypatch.setenv("ZKML_HOME", str(home))
    return home


def tiny_mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def tiny_cnn():
    import torch

    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, kernel_size=3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3)
    )


@pytest.fixture(scope="session")
def mlp_torch():
    return tiny_mlp()


@pytest.fixture(scope="session")
def mlp_model(mlp_torch):
    import torch

    import zkml

    return zkml.export(mlp_torch, torch.zeros(1, 4))


@pytest.fixture(scope="session")
def mlp_cal():
    return np.random.default_rng(0).normal(size=(16, 4))


@pytest.fixture(scope="session")
def mlp_circuit(mlp_model, mlp_cal):
    import zkml

    return zkml.compile(mlp_model, mlp_cal)


@pytest.fixture(scope="session")
def mlp_keys(mlp_circuit):
    return mlp_circuit.setup()


@pytest.fixture(scope="session")
def mlp_x(mlp_cal):
    return mlp_cal[3]


@pytest.fixture(scope="session")
def mlp_proof(mlp_keys, mlp_x):
    return mlp_keys.prove(mlp_x)


@pytest.fixture(scope="session")
def cnn_torch():
    return tiny_cnn()


@pytest.fixture(scope="session")
def cnn_model(cnn_torch):
    import torch

    import zkml

    return zkml.export(cnn_torch, torch.zeros(1, 1, 6, 6))


@pytest.fixture(scope="session")
def cnn_cal():
    return np.random.default_rng(1).uniform(0, 1, size=(8, 1, 1, 6, 6))


@pytest.fixture(scope="session")
def cnn_keys(cnn_model, cnn_cal):
    import zkml

    return zkml.compile(cnn_model, cnn_cal).setup()


@pytest.fixture(scope="session")
def cnn_proof(cnn_keys, cnn_cal):
    return cnn_keys.prove(cnn_cal[0])


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory):
    """Keys of a different model (same shapes), for cross-model negative tests."""
    import torch

    import zkml

    torch.manual_seed(7)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    model = zkml.export(net, torch.zeros(1, 4))
    return zkml.compile(model, np.random.default_rng(2).normal(size=(8, 4))).setup()


def _which_node_tool(name: str) -> Path | None:
    p = ROOT / "node_modules" / ".bin" / name
    return p if p.exists() else None


@pytest.fixture(scope="session")
def anvil_node():
    """A real anvil on a free loopback port (polled until it answers), for the whole session."""
    import zkml

    if _which_node_tool("anvil") is None:
        pytest.skip("npm anvil not installed (run npm ci)")
    with zkml.evm.anvil() as node:
        yield node


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "requires_anvil" in item.keywords and _which_node_tool("anvil") is None:
            item.add_marker(pytest.mark.skip(reason="npm anvil not installed (run npm ci)"))
        if "requires_solc" in item.keywords and _which_node_tool("solcjs") is None:
            item.add_marker(pytest.mark.skip(reason="npm solc not installed (run npm ci)"))


def run_cli(*args, env=None, cwd=None, input=None, timeout=300):
    """Run the real console script in a subprocess."""
    exe = Path(sys.executable).parent / "prove-model"
    e = dict(os.environ)
    e.pop("ZKML_DEBUG", None)
    if env:
        e.update(env)
    return subprocess.run(
        [str(exe), *map(str, args)], capture_output=True, text=True, env=e, cwd=cwd, input=input, timeout=timeout
    )


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---- every kind of model: single, split, committed, split + committed (the composability matrix) ----------

KINDS = ("single", "split", "committed", "split+committed", "tiled")


def tiled_cnn(seed: int = 0):
    """A CNN whose convolution is too big for a segment one below its own circuit: split, the convolution is cut
    into tiles by output channels (zkml.model.tiling)."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3)
    )


def deep_mlp(seed: int = 0):
    """An MLP just over one 2^12 circuit: with max_logrows one below its own it becomes two linked segments."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(16, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 4),
    )


class KindCase:
    """One kind's artifacts: keys (saved at ``keys_dir``), an input, an honest proof, the fingerprint its
    statement pins (committed kinds), and a forger's proofs that must be refused (name -> Proof)."""

    def __init__(self, kind, keys, keys_dir, x, proof, fingerprint, forged, other_weights=None):
        self.kind, self.keys, self.keys_dir, self.x, self.proof = kind, keys, keys_dir, x, proof
        self.fingerprint, self.forged, self.other_weights = fingerprint, forged, other_weights

    @property
    def statement(self):
        """The verifying key a verifier pins: with the fingerprint of the keys' own weights when committed."""
        return self.keys.vk.pin_weights(self.fingerprint) if self.fingerprint else self.keys.vk


@pytest.fixture(scope="session")
def kind_case(tmp_path_factory, mlp_keys, mlp_proof, mlp_cal, other_keys):
    """``kind_case(kind)``: a KindCase, built once per session and kind."""
    import torch

    import zkml

    built: dict[str, KindCase] = {}

    def _reordered(p):
        return zkml.Proof(b"", (), {}, None, tuple(reversed(p.segments)))

    def build(kind: str) -> KindCase:
        d = tmp_path_factory.mktemp(f"kind-{kind.replace('+', '-')}")
        other = other_keys.prove(mlp_cal[1])  # another model (same input shape)
        if kind == "single":
            return KindCase(
                kind, mlp_keys, mlp_keys.save(d / "keys"), mlp_cal[3], mlp_proof, None, {"another model's proof": other}
            )
        if kind == "committed":
            model = zkml.export(tiny_mlp(), torch.zeros(1, 4))
            twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
            torch.manual_seed(11)
            for layer in twin:
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
            twin_model = zkml.export(twin, torch.zeros(1, 4))
            keys = zkml.compile(model, mlp_cal, visibility="params=committed").setup()
            x = mlp_cal[2]
            forged = {"other weights": keys.with_weights(twin_model).prove(x), "another model's proof": other}
            return KindCase(
                kind, keys, keys.save(d / "keys"), x, keys.prove(x), zkml.commit(model, keys), forged, twin_model
            )
        if kind == "tiled":
            cal = np.random.default_rng(0).normal(size=(8, 1, 6, 6))
            model = zkml.export(tiled_cnn(0), torch.zeros(1, 1, 6, 6))
            whole = zkml.compile(model, cal)
            keys = zkml.compile(model, cal, max_logrows=whole.logrows - 1).setup()
            assert isinstance(keys, zkml.SplitKeys) and keys.circuit.tiles and len(keys.segments) >= 3
            x, proof = cal[0], keys.prove(cal[0])
            a, b = proof.segments, keys.prove(cal[1]).segments
            forged = {
                "swapped tiles": zkml.Proof(b"", (), {}, None, (a[0], a[2], a[1], *a[3:])),
                "another inference's segment": zkml.Proof(b"", (), {}, None, (a[0], b[1], *a[2:])),
                "another model's proof": other,
            }
            return KindCase(kind, keys, keys.save(d / "keys"), x, proof, None, forged)
        cal = np.random.default_rng(0).normal(size=(8, 16))
        model = zkml.export(deep_mlp(0), torch.zeros(1, 16))
        vis = {"visibility": "params=committed"} if kind == "split+committed" else {}
        whole = zkml.compile(model, cal, **vis)
        keys = zkml.compile(model, cal, max_logrows=whole.logrows - 1, **vis).setup()
        assert isinstance(keys, zkml.SplitKeys) and len(keys.segments) >= 2
        x = cal[0]
        proof = keys.prove(x)
        forged = {
            "reordered segments": _reordered(proof),
            "another model's proof": other,
            "another inference's segment": zkml.Proof(
                b"", (), {}, None, (proof.segments[0], *keys.prove(cal[1]).segments[1:])
            ),
        }
        fingerprint, twin_model = None, None
        if kind == "split+committed":
            twin_model = zkml.export(deep_mlp(5), torch.zeros(1, 16))
            fingerprint = zkml.commit(model, keys)
            forged["other weights"] = keys.with_weights(twin_model).prove(x)
        return KindCase(kind, keys, keys.save(d / "keys"), x, proof, fingerprint, forged, twin_model)

    def get(kind: str) -> KindCase:
        if kind not in built:
            built[kind] = build(kind)
        return built[kind]

    return get
