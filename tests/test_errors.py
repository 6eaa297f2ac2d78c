"""Bad input: every case gets a ZKMLError naming the stage, the place and what to do."""

import json
import os
import tempfile

import numpy as np
import pytest
from onnx import TensorProto, helper

import zkml
import zkml.keys.keys
import zkml.support.hashing
from zkml import errors
from zkml.proof.proof import FIELD_MODULUS, felt_to_int, int_to_felt


# models
def test_missing_onnx_file(tmp_path):
    with pytest.raises(errors.ModelFileError, match="not found") as ei:
        zkml.load_model(tmp_path / "nope.onnx")
    assert "nope.onnx" in str(ei.value) and ei.value.hint


@pytest.mark.parametrize("content", [b"", b"not an onnx file at all", b"\x08\x07\x12\x00garbage\xff\xff"])
def test_corrupt_onnx_file(tmp_path, content):
    p = tmp_path / "bad.onnx"
    p.write_bytes(content)
    with pytest.raises(errors.ModelFileError) as ei:
        zkml.load_model(p)
    assert "bad.onnx" in str(ei.value) and "export" in ei.value.hint


def test_truncated_onnx_file(tmp_path, mlp_model):
    p = tmp_path / "trunc.onnx"
    p.write_bytes(mlp_model.onnx_bytes[: len(mlp_model.onnx_bytes) // 2])
    with pytest.raises(errors.ModelFileError):
        zkml.load_model(p)


def _graph_model(node, inputs, outputs, opset=18):
    g = helper.make_graph([node], "g", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def test_dynamic_shapes_are_refused():
    data = _graph_model(
        helper.make_node("Relu", ["x"], ["y"]),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    with pytest.raises(errors.DynamicShapeError) as ei:
        zkml.load_model(data)
    assert "'N'" in str(ei.value) and "variables=" in ei.value.hint
    assert zkml.load_model(data, variables={"N": 1}).inputs[0].shape == (1, 4)


def test_batch_size_symbol_is_fixed_to_one():
    data = _graph_model(
        helper.make_node("Relu", ["x"], ["y"]),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch_size", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch_size", 3])],
    )
    assert zkml.load_model(data).inputs[0].shape == (1, 3)


def test_unsupported_op_is_named(tmp_path):
    data = _graph_model(
        helper.make_node("Det", ["x"], ["y"], name="my_det"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = zkml.load_model(data)
    with pytest.raises(errors.UnsupportedModelError) as ei:
        zkml.compile(model, np.eye(2))
    assert "Det" in str(ei.value) and "my_det" in str(ei.value)


def _int8_matmul_model(op_after: str = "Identity") -> bytes:
    """x (float) -> Cast int8 -> MatMul with an int8 weight -> op_after -> Cast float: hummingbird's tree pattern."""
    w = helper.make_tensor("w", TensorProto.INT8, [3, 2], [1, 0, 1, 1, 0, 1])
    nodes = [
        helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT8),
        helper.make_node("MatMul", ["xi", "w"], ["yi"]),
        helper.make_node(op_after, ["yi"], ["zi"]),
        helper.make_node("Cast", ["zi"], ["y"], to=TensorProto.FLOAT),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        initializer=[w],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_small_int_matmul_gets_a_widened_reference_and_proves():
    """onnxruntime refuses int8 MatMul (ezkl reads it): the reference runs on an int32 copy, ezkl proves the original."""
    import onnxruntime as ort

    data = _int8_matmul_model()
    with pytest.raises(Exception, match="int8"):
        ort.InferenceSession(data)
    model = zkml.load_model(data)
    assert model.onnx_bytes == data and model.outputs[0].shape == (1, 2)
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(model.run({"x": x})[0], [[3.0, 5.0]])
    keys = zkml.compile(model, np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 2.0]])).setup()
    proof = keys.prove([0.0, 1.0, 2.0])
    assert zkml.verify(proof, keys.vk) and proof.outputs[0].reshape(-1).tolist() == [1.0, 3.0]


def test_graph_onnxruntime_refuses_for_another_reason_is_a_clear_error():
    data = _int8_matmul_model(op_after="Sqrt")  # Sqrt on int8 is invalid, and widening MatMul does not mend it
    with pytest.raises(errors.ModelFileError, match="onnxruntime cannot load the model") as ei:
        zkml.load_model(data)
    assert "Sqrt" in str(ei.value) or "int8" in str(ei.value)
    assert "widened to int32" in str(ei.value)  # both refusals are reported, the copy's too


def test_export_rejects_unknown_objects_and_new_opsets(mlp_torch):
    with pytest.raises(errors.UnsupportedModelError, match="cannot export"):
        zkml.export(object(), None)
    with pytest.raises(errors.ModelError, match="opset 20"):
        zkml.export(mlp_torch, np.zeros((1, 4)), opset=20)
    with pytest.raises(errors.ModelError, match="sample_input"):
        zkml.export(mlp_torch)


def test_export_parity_failure_is_reported():
    import torch

    class Noisy(torch.nn.Module):  # dropout in training mode differs between torch and onnxruntime
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x) + torch.rand_like(x)

        def eval(self):  # a module that refuses to switch to eval mode
            return self

    with pytest.raises(errors.ParityError, match="differs"):
        zkml.export(Noisy(), torch.zeros(1, 4))


# visibility and options
@pytest.mark.parametrize(
    "spec", ["input=secret", "params=public", "hashed/private", "output=hashed/private", "weights=fixed"]
)
def test_bad_visibility(spec, mlp_model, mlp_cal):
    with pytest.raises(errors.VisibilityError) as ei:
        zkml.compile(mlp_model, mlp_cal, visibility=spec)
    assert ei.value.hint


def test_bad_target_and_option(mlp_model, mlp_cal):
    with pytest.raises(errors.CompileError, match="target"):
        zkml.compile(mlp_model, mlp_cal, target="fast")
    with pytest.raises(errors.CompileError, match="bogus"):
        zkml.compile(mlp_model, mlp_cal, bogus=1)


# inputs
@pytest.mark.parametrize("x", [np.zeros(5), np.zeros((2, 4)), np.zeros((1, 1, 4, 1))[..., :0]])
def test_wrong_input_shape(mlp_keys, x):
    with pytest.raises(errors.InputShapeError) as ei:
        mlp_keys.prove(x)
    assert "[1, 4]" in str(ei.value)


def test_wrong_input_type_and_count(mlp_keys):
    with pytest.raises(errors.InputTypeError):
        mlp_keys.prove(["a", "b", "c", "d"])
    with pytest.raises(errors.InputShapeError, match="missing"):
        mlp_keys.prove({"wrong_name": np.zeros(4)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input(mlp_keys, bad):
    x = np.zeros(4)
    x[2] = bad
    with pytest.raises(errors.InputValueError):
        mlp_keys.prove(x)


def test_non_finite_calibration(mlp_model):
    with pytest.raises(errors.InputValueError):
        zkml.compile(mlp_model, np.full((4, 4), np.nan))


def test_input_outside_calibrated_range_is_refused(mlp_keys):
    with pytest.raises(errors.InputRangeError) as ei:
        mlp_keys.prove(np.full(4, 1e6))
    msg = str(ei.value)
    assert "calibrated on" in msg and "recalibrate" in msg
    assert "1e+06" not in msg and "1000000" not in msg  # the private input's values are not echoed


# proofs and keys
def test_tampered_proof_byte_is_falsy(mlp_keys, mlp_proof):
    b = bytearray(mlp_proof.proof)
    b[len(b) // 2] ^= 0x01
    res = zkml.verify(zkml.Proof(bytes(b), mlp_proof.instances, mlp_proof.meta), mlp_keys.vk)
    assert not res and res.reason
    with pytest.raises(errors.InvalidProofError):
        res.raise_for_invalid()


def test_changed_public_output_is_falsy(mlp_keys, mlp_proof):
    inst = list(mlp_proof.instances[0])
    inst[-1] = int_to_felt(felt_to_int(inst[-1]) + 1)
    res = zkml.verify(zkml.Proof(mlp_proof.proof, (tuple(inst),), mlp_proof.meta), mlp_keys.vk)
    assert not res and "not satisfied" in res.reason


def test_aliased_public_output_is_falsy(mlp_keys, mlp_proof):
    """value + r encodes the same field element only if reduced: ezkl must not accept the unreduced form."""
    inst = list(mlp_proof.instances[0])
    v = int.from_bytes(bytes.fromhex(inst[0]), "little") + FIELD_MODULUS
    assert v < 2**256
    inst[0] = v.to_bytes(32, "little").hex()
    res = zkml.verify(zkml.Proof(mlp_proof.proof, (tuple(inst),), mlp_proof.meta), mlp_keys.vk)
    assert not res and "aliased" in res.reason


def test_proof_against_another_models_key(mlp_proof, other_keys):
    res = zkml.verify(mlp_proof, other_keys.vk)
    assert not res and "another verifying key" in res.reason
    # without zkml's metadata the cryptographic check still refuses it
    bare = zkml.Proof(mlp_proof.proof, mlp_proof.instances, {})
    assert not zkml.verify(bare, other_keys.vk)


def test_truncated_and_edited_proof_files(tmp_path, mlp_keys, mlp_proof):
    path = mlp_proof.save(tmp_path / "proof.json")
    raw = path.read_bytes()
    (tmp_path / "trunc.json").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(errors.ArtifactError, match="JSON"):
        zkml.verify(tmp_path / "trunc.json", mlp_keys.vk)
    obj = json.loads(raw)
    obj["proof"] = obj["proof"][:-64]
    (tmp_path / "short.json").write_text(json.dumps(obj))
    assert not zkml.verify(tmp_path / "short.json", mlp_keys.vk)
    obj = json.loads(raw)
    obj["instances"] = [["zz" * 32]]
    (tmp_path / "edited.json").write_text(json.dumps(obj))
    with pytest.raises(errors.ArtifactError, match="not a valid proof"):
        zkml.verify(tmp_path / "edited.json", mlp_keys.vk)
    with pytest.raises(errors.ArtifactError, match="not found"):
        zkml.verify(tmp_path / "missing.json", mlp_keys.vk)


def test_corrupt_verifying_key_raises(tmp_path, mlp_keys, mlp_proof):
    vk_dir = mlp_keys.vk.save(tmp_path / "vk")
    (vk_dir / "vk.key").write_bytes((vk_dir / "vk.key").read_bytes()[:100])
    with pytest.raises(errors.ArtifactError, match="does not match the hash"):
        zkml.VerifyingKey.load(vk_dir)
    # a key that passes the hash check but that ezkl cannot read is an error, not a falsy result
    meta = json.loads((vk_dir / "vk.json").read_text())
    meta["vk_sha256"] = zkml.support.hashing.sha256_file(vk_dir / "vk.key")
    meta["id"] = zkml.keys.keys.identity(meta)  # a consistently rewritten key: another identity, but loadable
    (vk_dir / "vk.json").write_text(json.dumps(meta))
    bare = zkml.Proof(mlp_proof.proof, mlp_proof.instances, {})
    with pytest.raises(errors.VerifyError, match="cannot check"):
        zkml.verify(bare, zkml.VerifyingKey.load(vk_dir))
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.ArtifactError, match="vk.json"):
        zkml.VerifyingKey.load(tmp_path / "empty")


def test_key_from_another_ezkl_version(tmp_path, mlp_keys):
    d = mlp_keys.save(tmp_path / "keys")
    meta = json.loads((d / "keys.json").read_text())
    meta["ezkl_version"] = "22.0.0"
    (d / "keys.json").write_text(json.dumps(meta))
    with pytest.raises(errors.VersionMismatchError) as ei:
        zkml.Keys.load(d)
    assert "22.0.0" in str(ei.value) and "setup again" in ei.value.hint


# private data
def test_private_input_never_reaches_the_proof(tmp_path, mlp_keys, mlp_circuit, mlp_x):
    proof = mlp_keys.prove(mlp_x)
    saved = proof.save(tmp_path / "p.json").read_text().lower()
    scale = mlp_circuit.settings["model_input_scales"][0]
    for v in mlp_x:
        q = int(round(v * 2**scale))
        assert int_to_felt(q) not in saved
        assert hex(q % FIELD_MODULUS)[2:].rjust(64, "0") not in saved
        assert repr(float(v)) not in saved
    for col in proof.instances:
        assert all(int_to_felt(int(round(v * 2**scale))) not in col for v in mlp_x)


def test_temp_files_are_private_and_removed(tmp_path, monkeypatch, mlp_keys, mlp_x):
    import ezkl

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen = {}
    real_prove = ezkl.prove

    def spy(witness, *args):
        seen["mode"] = os.stat(witness).st_mode & 0o777
        seen["dir_mode"] = os.stat(os.path.dirname(witness)).st_mode & 0o777
        return real_prove(witness, *args)

    monkeypatch.setattr(ezkl, "prove", spy)
    mlp_keys.prove(mlp_x)
    assert seen == {"mode": 0o600, "dir_mode": 0o700}
    assert list(scratch.glob("zkml-*")) == []
    with pytest.raises(errors.InputRangeError):  # a failed prove cleans up too
        mlp_keys.prove(np.full(4, 1e6))
    assert list(scratch.glob("zkml-*")) == []


@pytest.mark.parametrize("extra", [b"\x00", b"\x00" * 32, b"\x01" * 64, "tail"])
def test_proof_with_trailing_bytes_is_falsy(mlp_keys, mlp_proof, extra):
    """halo2 ignores bytes after the transcript; zkml accepts only the exact encoding (as the EVM verifier does)."""
    if extra == "tail":  # appended bytes that pass the structural check: valid points at the end
        extra = mlp_proof.proof[-128:]
    res = zkml.verify(zkml.Proof(mlp_proof.proof + extra, mlp_proof.instances, mlp_proof.meta), mlp_keys.vk)
    assert not res
    if len(extra) == 128:
        assert "trailing bytes" in res.reason


def test_malformed_commitments_are_rejected_before_pairing(monkeypatch, mlp_keys, mlp_proof):
    import ezkl

    calls = []
    monkeypatch.setattr(ezkl, "verify", lambda *a: calls.append(a))  # must not be reached
    data = bytearray(mlp_proof.proof)
    data[-70] ^= 0x40  # inside the first opening commitment
    res = zkml.verify(zkml.Proof(bytes(data), mlp_proof.instances, mlp_proof.meta), mlp_keys.vk)
    assert not res and "not a valid BN254 G1 point" in res.reason
    data = bytearray(mlp_proof.proof)
    data[len(data) // 2 - (len(data) // 2) % 32 : len(data) // 2 - (len(data) // 2) % 32 + 32] = b"\xff" * 32
    res = zkml.verify(zkml.Proof(bytes(data), mlp_proof.instances, mlp_proof.meta), mlp_keys.vk)
    assert not res and ("canonical" in res.reason or "G1" in res.reason)
    res = zkml.verify(zkml.Proof(mlp_proof.proof[:-5], mlp_proof.instances, mlp_proof.meta), mlp_keys.vk)
    assert not res and "32-byte words" in res.reason
    assert calls == []


def test_the_transcript_length_is_learnt_once_per_key(fresh_home, mlp_keys, mlp_proof, monkeypatch):
    """The trailing-bytes check costs a second verification only the first time this verifier sees a key: then the
    proof's length is the key's (remembered in memory and in the verifier's own cache)."""
    from zkml.verifier import verification as v

    calls = []
    real = v.engine.verify
    monkeypatch.setattr(v.engine, "verify", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(v, "_LENGTHS", {})
    assert zkml.verify(mlp_proof, mlp_keys.vk) and len(calls) == 2  # the proof, then it without its last byte
    calls.clear()
    assert zkml.verify(mlp_proof, mlp_keys.vk) and len(calls) == 1
    v._LENGTHS.clear()  # another process: it reads the length this verifier's cache holds
    calls.clear()
    assert zkml.verify(mlp_proof, mlp_keys.vk) and len(calls) == 1
    assert (fresh_home / "proof-lengths" / mlp_keys.vk.key_id).read_text() == str(len(mlp_proof.proof))
    tail = zkml.Proof(mlp_proof.proof + mlp_proof.proof[-128:], mlp_proof.instances, mlp_proof.meta)
    res = zkml.verify(tail, mlp_keys.vk)
    assert not res and "trailing bytes" in res.reason
    # a corrupted entry is not believed: the length is learnt again with the second verification
    (fresh_home / "proof-lengths" / mlp_keys.vk.key_id).write_text("garbage")
    v._LENGTHS.clear()
    calls.clear()
    assert zkml.verify(mlp_proof, mlp_keys.vk) and len(calls) == 2
    (fresh_home / "proof-lengths" / mlp_keys.vk.key_id).unlink()
    v._LENGTHS.clear()
    res = zkml.verify(tail, mlp_keys.vk)  # a refused proof teaches nothing
    assert not res and "trailing bytes" in res.reason
    assert not (fresh_home / "proof-lengths" / mlp_keys.vk.key_id).exists() and not v._LENGTHS
