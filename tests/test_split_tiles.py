"""Split proving with an op tiled: a convolution too big for one segment is cut by output channels into tile
segments that read the same committed input; the chain of segments proves, verifies, refuses every tamper, and
carries committed weights (zkml.model.tiling, zkml.circuit.split)."""

from __future__ import annotations

import numpy as np
import pytest

import zkml
from conftest import tiled_cnn

_net = tiled_cnn


@pytest.fixture(scope="module")
def tiled():
    import torch

    net = _net(0)
    model = zkml.export(net, torch.zeros(1, 1, 6, 6))
    cal = np.random.default_rng(0).normal(size=(8, 1, 6, 6))
    whole = zkml.compile(model, cal)
    sc = zkml.compile(model, cal, max_logrows=whole.logrows - 1)
    keys = sc.setup()
    return net, model, cal, whole, sc, keys, keys.prove(cal[0]), keys.prove(cal[1])


def _bare(*segments):
    return zkml.Proof(b"", (), {}, None, tuple(segments))


def test_an_op_too_big_for_a_segment_is_cut_into_tiles(tiled):
    _, _, _, whole, sc, _, _, _ = tiled
    assert isinstance(sc, zkml.SplitCircuit)
    ((op, parts),) = sc.tiles.items()
    assert op == "/0/Conv_output_0" and parts >= 2
    assert all(c.logrows <= whole.logrows - 1 for c in sc.segments)
    # a cut falls between tiles: the convolution's input and the joined tiles so far cross it
    assert any(cut.startswith("input+zkml_join") for cut in sc.cuts), sc.cuts


def test_tiled_and_unsplit_agree(tiled):
    net, _, cal, whole, sc, keys, p0, _ = tiled
    import torch

    r = zkml.verify(p0, keys.vk)
    assert r and len(p0.segments) == len(sc.segments)
    quantum = 2.0 ** -min(int(s) for s in sc.segments[-1].settings["model_output_scales"])
    bound = 4 * (sc.report.max_abs_error + whole.report.max_abs_error) + 4 * quantum
    np.testing.assert_allclose(r.outputs[0], whole.run(cal[0])[0], atol=bound)
    ref = net(torch.tensor(cal[:1], dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(r.outputs[0], ref, atol=bound)


def test_tile_tampering_is_refused_off_chain_and_on_pyrevm(tiled):
    from zkml.evm import InProcessChain, deploy_split_verifier

    _, _, _, _, sc, keys, p0, p1 = tiled
    a, b = p0.segments, p1.segments
    assert len(a) >= 3
    cases = {
        "swapped tiles": _bare(a[0], a[2], a[1], *a[3:]),
        "a tile from another inference": _bare(a[0], b[1], *a[2:]),
        "a missing tile": _bare(a[0], *a[2:]),
        "a repeated tile": _bare(a[0], a[1], a[1], *a[3:]),
    }
    for what, forged in cases.items():
        r = zkml.verify(forged, keys.vk)
        assert not r and r.reason, what
    chain = InProcessChain()
    address = deploy_split_verifier(chain, keys.vk)
    assert chain.verify(address, p0)
    assert not chain.verify(address, cases["a tile from another inference"])
    assert not chain.verify(address, cases["swapped tiles"])


def test_a_tiled_circuit_saved_and_loaded_keeps_its_tiles(tiled, tmp_path):
    import json

    from conftest import run_cli

    _, _, cal, _, sc, _, _, _ = tiled
    back = zkml.SplitCircuit.load(sc.save(tmp_path / "sc"))
    assert back.tiles == sc.tiles and back.cuts == sc.cuts
    np.testing.assert_array_equal(back.run(cal[2])[0], sc.run(cal[2])[0])
    # prove-model inspect says which op was cut, and into how many tiles
    res = run_cli("inspect", tmp_path / "sc", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["tiles"] == sc.tiles, res.stderr
    ((op, parts),) = sc.tiles.items()
    assert f"tiles      {op} in {parts}" in run_cli("inspect", tmp_path / "sc").stdout


def test_tiled_segments_on_two_workers(tiled):
    _, _, cal, _, sc, keys, p0, _ = tiled
    p = keys.prove(cal[0], workers=2)
    r = zkml.verify(p, keys.vk)
    assert r and len(p.segments) == len(sc.segments)
    np.testing.assert_array_equal(r.outputs[0], zkml.verify(p0, keys.vk).outputs[0])


def test_committed_weights_through_tiles():
    """The other model's weights are tiled as the keys' model was: its fingerprint differs, its proof verifies."""
    import torch

    model = zkml.export(_net(0), torch.zeros(1, 1, 6, 6))
    cal = np.random.default_rng(0).normal(size=(8, 1, 6, 6))
    whole = zkml.compile(model, cal, visibility="params=committed")
    keys = zkml.compile(model, cal, visibility="params=committed", max_logrows=whole.logrows - 1).setup()
    assert keys.circuit.tiles
    other = zkml.export(_net(5), torch.zeros(1, 1, 6, 6))
    mine, theirs = zkml.commit(model, keys), zkml.commit(other, keys)
    assert mine != theirs
    proof = keys.with_weights(other).prove(cal[0])
    assert zkml.verify(proof, keys.vk, weights_commitment=theirs)
    assert not zkml.verify(proof, keys.vk, weights_commitment=mine)
    # another graph (one output channel: nothing to cut into the keys' tiles) is refused as such
    narrow = torch.nn.Sequential(
        torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(36, 3)
    )
    with pytest.raises(zkml.errors.ModelError, match="not the graph these keys were made for"):
        keys.with_weights(zkml.export(narrow, torch.zeros(1, 1, 6, 6)))
