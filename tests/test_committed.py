"""Committed weights: private weights bound to a public fingerprint; one key per architecture."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zkml
from conftest import run_cli, tiny_mlp
from zkml import errors


def _twin(seed: int):
    """The conftest MLP's architecture with other weights."""
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


@pytest.fixture(scope="module")
def twins():
    import torch

    a, b = tiny_mlp(), _twin(5)
    with torch.no_grad():
        b[0].weight[0, 0] = 0.8765432  # a distinctive private weight, scanned for below
    return (a, zkml.export(a, torch.zeros(1, 4))), (b, zkml.export(b, torch.zeros(1, 4)))


@pytest.fixture(scope="module")
def committed(twins, mlp_cal):
    (_, ma), (_, mb) = twins
    keys = zkml.compile(ma, mlp_cal, visibility="params=committed").setup()
    ca, cb = zkml.commit(ma, keys), zkml.commit(mb, keys)
    pa = keys.prove(mlp_cal[0])
    pb = keys.with_weights(mb).prove(mlp_cal[0])
    return keys, (ca, pa), (cb, pb)


def test_one_key_two_weight_sets_each_bound_to_its_own_commitment(committed, twins, mlp_cal):
    keys, (ca, pa), (cb, pb) = committed
    assert ca != cb and ca.startswith("0x") and len(ca) == 2 + 128 * keys.vk.meta["commitments"]["params"]
    # commit() before proving equals what the proofs expose, read from the proof bytes with the key
    assert pa.weights_commitment == ca and pb.weights_commitment == cb
    assert zkml.verify(pa, keys.vk).weights_commitment == ca
    assert zkml.verify(pa, keys.vk, weights_commitment=ca) and zkml.verify(pb, keys.vk, weights_commitment=cb)
    for proof, other in ((pa, cb), (pb, ca)):
        r = zkml.verify(proof, keys.vk, weights_commitment=other)
        assert not r and "weights commitment" in r.reason
    # B's proof carries B's outputs, under A's key
    import torch

    (_, _), (b, _) = twins
    ref = b(torch.tensor(mlp_cal[0], dtype=torch.float32)[None]).detach().numpy()
    np.testing.assert_allclose(zkml.verify(pb, keys.vk).outputs[0], ref, atol=5e-3)


def test_edited_commitment_fields_change_nothing(committed, tmp_path):
    keys, (ca, pa), (cb, _) = committed
    raw = pa.to_json()
    raw["zkml"]["weights_commitment"] = cb  # the prover's own claim: informational
    path = tmp_path / "claims-b.json"
    path.write_text(json.dumps(raw))
    r = zkml.verify(path, keys.vk)
    assert r and r.weights_commitment == ca
    assert not zkml.verify(path, keys.vk, weights_commitment=cb)


def test_a_proof_reencoded_with_another_commitment_fails(committed):
    keys, (ca, pa), (cb, pb) = committed
    n = 64 * keys.vk.meta["commitments"]["params"]
    forged = zkml.Proof(pb.proof[:n] + pa.proof[n:], pa.instances, {})  # B's commitment in A's proof
    assert forged.bind(keys.vk).weights_commitment == cb
    r = zkml.verify(forged, keys.vk)
    assert not r
    assert not zkml.verify(forged, keys.vk, weights_commitment=cb)


def test_onchain_the_registered_commitment_is_checked_from_calldata(committed):
    from zkml.evm import InProcessChain, deploy_committed_verifier

    keys, (ca, pa), (cb, pb) = committed
    chain = InProcessChain()
    verifier = chain.deploy(zkml.verifier_contract(keys.vk))
    for_a = deploy_committed_verifier(chain, verifier, keys.vk, ca)
    plain, bound = chain.verify(verifier, pa), chain.verify(for_a, pa)
    assert plain and bound and bound.gas_used > plain.gas_used
    refused = chain.verify(for_a, pb)  # a valid proof, but of other weights
    assert not refused and chain.verify(verifier, pb)
    with pytest.raises(errors.ContractError, match="points"):
        deploy_committed_verifier(chain, verifier, keys.vk, ca + "00" * 64)


@pytest.mark.requires_anvil
def test_onchain_on_anvil(committed, anvil_node):
    from zkml.evm import RpcChain, deploy_committed_verifier

    keys, (ca, pa), (cb, pb) = committed
    chain = RpcChain(anvil_node.url)
    verifier = chain.deploy(zkml.verifier_contract(keys.vk))
    for_b = deploy_committed_verifier(chain, verifier, keys.vk, cb)
    assert chain.verify(for_b, pb) and not chain.verify(for_b, pa)


def test_other_graphs_and_fixed_keys_are_refused(committed, mlp_keys, other_keys, twins):
    keys, _, _ = committed
    with pytest.raises(errors.CompileError, match="same graph"):
        keys.with_weights(other_keys.circuit.model)  # 4 -> 3 linear: another architecture
    (_, ma), _ = twins
    with pytest.raises(errors.CompileError, match="committed"):
        mlp_keys.with_weights(ma)  # fixed weights are part of that key
    with pytest.raises(errors.CompileError, match="committed"):
        zkml.commit(ma, mlp_keys)
    r = zkml.verify(mlp_keys.prove(np.zeros(4)), mlp_keys.vk, weights_commitment="0x" + "ab" * 64)
    assert not r and "not committed" in r.reason
    with pytest.raises(errors.VerifyError, match="hex"):
        zkml.verify(mlp_keys.prove(np.zeros(4)), mlp_keys.vk, weights_commitment="0xnothex")


def test_bundle_carries_the_fingerprint(committed, tmp_path):
    keys, (ca, pa), (cb, pb) = committed
    b = zkml.bundle(keys, weights_commitment=cb)
    assert b.core != zkml.bundle(keys).core  # the fingerprint is part of the statement: in the core, under its CID
    assert zkml.bundle(keys.vk.pin_weights(cb)).core == b.core
    assert b.model_id == keys.vk.pin_weights(cb).id != keys.vk.key_id == b.key_id
    b.save(tmp_path / "b.car")
    loaded = zkml.Bundle.load(tmp_path / "b.car")
    assert loaded.weights_commitment == cb and loaded.verifying_key().id == b.model_id
    assert zkml.verify(pb, loaded) and not zkml.verify(pa, loaded)
    assert "model" not in loaded.files and "network.onnx" not in loaded.files  # the weights are private


def test_cli_commit_prove_and_verify(committed, twins, tmp_path, mlp_x):
    keys, (ca, _), (cb, _) = committed
    keys.save(tmp_path / "keys")
    _, (_, mb) = twins
    mb.save(tmp_path / "b.onnx")
    res = run_cli("commit", tmp_path / "b.onnx", tmp_path / "keys", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["weights_commitment"] == cb, res.stderr
    (tmp_path / "x.json").write_text(json.dumps(mlp_x.tolist()))
    res = run_cli(
        "prove",
        tmp_path / "keys",
        "--input",
        tmp_path / "x.json",
        "--weights",
        tmp_path / "b.onnx",
        "-o",
        tmp_path / "pb.json",
        "--json",
    )
    assert res.returncode == 0 and json.loads(res.stdout)["weights_commitment"] == cb, res.stderr
    ok = run_cli("verify", tmp_path / "pb.json", "--vk", tmp_path / "keys", "--weights-commitment", cb, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["weights_commitment"] == cb
    bad = run_cli("verify", tmp_path / "pb.json", "--vk", tmp_path / "keys", "--weights-commitment", ca)
    assert bad.returncode == 1 and "weights commitment" in bad.stdout


def test_private_weights_appear_in_no_artifact(committed, twins, tmp_path):
    """The distinctive weight of model B, in every representation, is in no proof, key, bundle or contract."""
    from test_trust import _representations

    keys, _, (cb, pb) = committed
    d = tmp_path / "pub"
    keys.vk.save(d / "vk")
    pb.save(d / "proof.json")
    zkml.bundle(keys, weights_commitment=cb).save(d / "b.car")
    zkml.verifier_contract(keys.vk).save(d / "contract")
    needles = _representations(np.array([0.8765432]))
    leaks = [f"{p}: {n[:30]!r}" for p in d.rglob("*") if p.is_file() for n in needles if n in p.read_bytes()]
    assert not leaks, leaks[:5]
    assert np.float32(0.8765432).tobytes() in twins[1][1].onnx_bytes  # the needle is real: the model does hold it


def test_keys_with_other_weights_save_load_and_batch(committed, twins, tmp_path, mlp_cal):
    keys, _, (cb, _) = committed
    _, (_, mb) = twins
    kb = keys.with_weights(mb)
    (unsaved,) = zkml.prove_many(kb, [mlp_cal[0]], workers=1)  # the keys object travels to the worker, weights too
    assert unsaved.weights_commitment == cb
    kb.save(tmp_path / "kb")
    loaded = zkml.Keys.load(tmp_path / "kb")
    assert loaded.id == keys.id and loaded.circuit.model.hash == mb.hash
    (proof,) = zkml.prove_many(loaded, [mlp_cal[0]], workers=1)
    assert proof.weights_commitment == cb and zkml.verify(proof, keys.vk, weights_commitment=cb)


def test_cli_verify_with_a_bundle_checks_its_fingerprint(committed, tmp_path):
    keys, (ca, pa), (cb, pb) = committed
    zkml.bundle(keys, weights_commitment=cb).save(tmp_path / "b.car")
    pa.save(tmp_path / "pa.json")
    pb.save(tmp_path / "pb.json")
    assert run_cli("verify", tmp_path / "pb.json", "--bundle", tmp_path / "b.car").returncode == 0
    res = run_cli("verify", tmp_path / "pa.json", "--bundle", tmp_path / "b.car")
    assert res.returncode == 1 and "weights commitment" in res.stdout
