"""End to end: export -> compile -> setup -> prove -> verify on a tiny MLP and a tiny CNN."""

import numpy as np
import pytest
import torch

import zkml


def test_mlp_end_to_end(mlp_torch, mlp_keys, mlp_proof, mlp_x):
    ref = mlp_torch(torch.tensor(mlp_x, dtype=torch.float32)[None]).detach().numpy()
    (out,) = mlp_proof.outputs
    assert out.shape == (1, 3)
    np.testing.assert_allclose(out, ref, atol=5e-3)
    result = zkml.verify(mlp_proof, mlp_keys.vk)
    assert result and result.ok and result.reason is None
    assert mlp_proof.dev_srs and mlp_keys.dev_srs and "INSECURE" in repr(mlp_proof)
    assert mlp_keys.circuit.logrows <= 12  # zkml's defaults: far below ezkl's 2^15 floor


def test_cnn_end_to_end(cnn_torch, cnn_keys, cnn_proof, cnn_cal):
    ref = cnn_torch(torch.tensor(cnn_cal[0], dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(cnn_proof.outputs[0], ref, atol=5e-3)
    assert zkml.verify(cnn_proof, cnn_keys.vk)


def test_calibration_report(mlp_circuit):
    r = mlp_circuit.report
    assert r.samples == 16
    assert 0 <= r.max_abs_error < 5e-3 and r.max_abs_error >= r.mean_abs_error
    assert r.top1_agreement == 1.0  # (1, 3) output looks like class scores


def test_prove_accepts_every_input_form(mlp_keys, mlp_x, mlp_proof):
    forms = [mlp_x.tolist(), mlp_x.reshape(1, 4), torch.tensor(mlp_x), {"input": mlp_x}]
    for form in forms:
        proof = mlp_keys.prove(form)
        assert zkml.verify(proof, mlp_keys.vk)
        np.testing.assert_array_equal(proof.outputs[0], mlp_proof.outputs[0])


def test_save_load_roundtrip(tmp_path, mlp_model, mlp_circuit, mlp_keys, mlp_proof):
    m = zkml.Model.load(mlp_model.save(tmp_path / "model"))
    assert m.hash == mlp_model.hash and m.inputs == mlp_model.inputs and m.source == "torch"
    assert zkml.load_model(mlp_model.save(tmp_path / "m.onnx")).hash == mlp_model.hash
    c = zkml.Circuit.load(mlp_circuit.save(tmp_path / "circuit"))
    assert c.logrows == mlp_circuit.logrows and c.report == mlp_circuit.report
    k = zkml.Keys.load(mlp_keys.save(tmp_path / "keys"))
    vk = zkml.VerifyingKey.load(mlp_keys.vk.save(tmp_path / "vk"))
    p = zkml.Proof.load(mlp_proof.save(tmp_path / "proof.json"))
    assert p.proof == mlp_proof.proof and p.instances == mlp_proof.instances
    assert zkml.verify(p, vk) and zkml.verify(tmp_path / "proof.json", tmp_path / "vk")
    assert zkml.verify(k.prove(np.ones(4)), vk)


def test_saved_proof_is_ezkl_compatible(tmp_path, mlp_keys, mlp_proof):
    import ezkl

    path = mlp_proof.save(tmp_path / "proof.json")
    vk = mlp_keys.vk
    assert ezkl.verify(str(path), str(vk.path / "settings.json"), str(vk.path / "vk.key"), str(vk.srs.path), False)


def test_verify_needs_no_proving_key(tmp_path, mlp_keys, mlp_proof):
    vk_dir = mlp_keys.vk.save(tmp_path / "vk")
    assert not any(p.name.startswith("pk") for p in vk_dir.rglob("*"))
    assert zkml.verify(mlp_proof, zkml.VerifyingKey.load(vk_dir))


@pytest.mark.parametrize(
    "vis",
    [
        "input=public,output=public,params=fixed",
        "input=hashed,output=public,params=fixed",
        "input=private,output=hashed,params=fixed",
        "input=private,output=public,params=hashed",
        "input=private,output=public,params=private-unbound",
        "input=private,output=public,params=committed",
        "input=private,output=private,params=fixed",
    ],
)
def test_visibility_modes(vis, mlp_model, mlp_cal, mlp_x, mlp_torch):
    keys = zkml.compile(mlp_model, mlp_cal, visibility=vis).setup()
    proof = keys.prove(mlp_x)
    assert zkml.verify(proof, keys.vk)
    v = zkml.Visibility.parse(vis)
    ref = mlp_torch(torch.tensor(mlp_x, dtype=torch.float32)[None]).detach().numpy()
    if v.output == "public":
        np.testing.assert_allclose(proof.outputs[0], ref, atol=5e-3)
    else:
        assert proof.outputs == []
    if v.input == "public":
        np.testing.assert_allclose(proof.public_inputs[0].reshape(-1), mlp_x, atol=1e-3)
    else:
        assert proof.public_inputs == []
    hashed = {k for k in ("input", "output", "params") if getattr(v, k) == "hashed"}
    assert set(proof.hashes) == hashed
    for values in proof.hashes.values():
        assert len(values) >= 1 and all(h.startswith("0x") and len(h) == 66 for h in values)


def test_hashed_input_hash_is_poseidon_of_input(mlp_model, mlp_cal, mlp_x):
    """The exposed hash commits to the input: another input gives another hash."""
    keys = zkml.compile(mlp_model, mlp_cal, visibility="input=hashed").setup()
    h1 = keys.prove(mlp_x).hashes["input"]
    h2 = keys.prove(mlp_x + 0.5).hashes["input"]
    assert h1 != h2
