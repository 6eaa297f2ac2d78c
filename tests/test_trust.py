"""The trust boundary, tried as a forger and as the owner of a private input.

A verifier relies only on a verifying key it obtained honestly: everything reported is decoded with the
key's settings; a key directory is one authenticated unit; dev and ceremony SRS cannot be confused
(tests/test_srs.py); a private input leaves no trace anywhere zkml writes or prints.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

import zkml
from conftest import run_cli
from zkml import errors
from zkml.proof.proof import int_to_felt

# --- one source of truth for decoding ----------------------------------------------------------------


def _edited(proof, tmp_path, name, edit):
    raw = proof.to_json()
    edit(raw["zkml"])
    path = tmp_path / name
    path.write_text(json.dumps(raw))
    return path


EDITS = {
    "output_scales": lambda m: m.update(output_scales=[s - 2 for s in m["output_scales"]]),
    "layout": lambda m: m.update(layout={**m["layout"], "output": m["layout"]["output"] - 1, "input": 1}),
    "visibility": lambda m: m.update(visibility={**m["visibility"], "output": "hashed"}),
    "outputs": lambda m: m.update(outputs=[{**m["outputs"][0], "shape": [3, 1]}]),
    "model_id": lambda m: m.update(model_id="ab" * 32),
    "srs": lambda m: m.update(srs={**m["srs"], "dev": False}),
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_edited_proof_metadata_is_refused(field, mlp_proof, mlp_keys, tmp_path):
    path = _edited(mlp_proof, tmp_path, f"{field}.json", EDITS[field])
    result = zkml.verify(path, mlp_keys.vk)
    assert not result and result.outputs == []
    assert field in result.reason or "another verifying key" in result.reason
    # the CLI says so and exits 1
    res = run_cli("verify", path, "--vk", mlp_keys.vk.path, "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["ok"] is False


def test_outputs_come_from_the_key_not_the_file(mlp_proof, mlp_keys, tmp_path):
    """Without its zkml section a proof still verifies, and the outputs are the same: the key decodes them."""
    raw = mlp_proof.to_json()
    raw.pop("zkml")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(raw))
    result = zkml.verify(bare, mlp_keys.vk)
    assert result and result.model_id == mlp_keys.id
    np.testing.assert_array_equal(result.outputs[0], mlp_proof.outputs[0])
    with pytest.raises(errors.VerifyError, match="verification"):
        zkml.Proof.load(bare).outputs  # noqa: B018 -- unbound: no key, no outputs
    with pytest.raises(errors.VerifyError, match=r"zkml.verify\(proof, vk\).outputs"):
        zkml.Proof.load(bare, vk=mlp_keys.vk).outputs  # noqa: B018 -- bound but never verified: no unverified values
    with pytest.raises(errors.VerifyError, match="verification"):
        mlp_proof.bind(mlp_keys.vk).public_inputs  # noqa: B018 -- rebinding is not verifying either


def test_onchain_outputs_are_decoded_with_the_key(mlp_proof, mlp_keys, tmp_path):
    """verify-onchain shows outputs decoded with --vk; a proof file whose claims disagree with --vk is refused."""
    raw = mlp_proof.to_json()
    raw.pop("zkml")
    (tmp_path / "bare.json").write_text(json.dumps(raw))
    res = run_cli("verify-onchain", tmp_path / "bare.json", "--vk", mlp_keys.path, "--json")
    info = json.loads(res.stdout)
    assert res.returncode == 0 and info["ok"], res.stderr  # no claims at all: the key decodes
    np.testing.assert_allclose(info["outputs"][0], mlp_proof.outputs[0].tolist())
    path = _edited(mlp_proof, tmp_path, "scales.json", EDITS["output_scales"])
    res = run_cli("verify-onchain", path, "--vk", mlp_keys.path, "--json")
    info = json.loads(res.stdout)
    assert res.returncode == 1 and not info["ok"] and "output_scales" in info["reason"]


def test_public_value_count_must_match_the_key(mlp_proof, mlp_keys):
    short = zkml.Proof(mlp_proof.proof, (mlp_proof.instances[0][:-1],), {})
    result = zkml.verify(short, mlp_keys.vk)
    assert not result and "public values" in result.reason


# --- a key is one authenticated unit -------------------------------------------------------------------


@pytest.fixture
def key_dirs(mlp_keys, other_keys, tmp_path):
    keys = mlp_keys.save(tmp_path / "keys")
    other = other_keys.save(tmp_path / "other")
    return keys, other


@pytest.mark.parametrize("name", ["vk.key", "settings.json", "kzg.srs"])
def test_swapped_verifying_key_file_is_named(name, key_dirs):
    keys, other = key_dirs
    vk = keys / "vk"
    if name == "settings.json":  # the same circuit's settings, one scale lowered: decodes differently
        s = json.loads((vk / name).read_text())
        s["model_output_scales"] = [x - 2 for x in s["model_output_scales"]]
        (vk / name).unlink()
        (vk / name).write_text(json.dumps(s))
    elif name == "kzg.srs":
        import ezkl

        (vk / name).unlink()
        ezkl.gen_srs(str(vk / name), 11)  # another SRS of the same size
    else:
        (vk / name).unlink()
        shutil.copyfile(other / "vk" / name, vk / name)
    with pytest.raises(errors.ArtifactError, match=name.replace(".", r"\.")) as exc:
        zkml.VerifyingKey.load(vk)
    assert exc.value.where.endswith(name)
    with pytest.raises(errors.ArtifactError):
        zkml.Keys.load(keys)


def test_edited_vk_json_is_refused(key_dirs):
    vk = key_dirs[0] / "vk"
    meta = json.loads((vk / "vk.json").read_text())
    meta["srs"]["dev"] = False  # claim a ceremony SRS
    (vk / "vk.json").unlink()
    (vk / "vk.json").write_text(json.dumps(meta))
    with pytest.raises(errors.ArtifactError, match="identity") as exc:
        zkml.VerifyingKey.load(vk)
    assert exc.value.where.endswith("vk.json")


def test_a_consistently_rewritten_key_has_another_identity(key_dirs, mlp_keys):
    """A forger who rewrites vk.json with new hashes makes a different key: pinning the id catches it."""
    vk = key_dirs[0] / "vk"
    meta = json.loads((vk / "vk.json").read_text())
    meta["srs"]["dev"] = False
    from zkml.keys.keys import identity

    meta["id"] = identity(meta)
    (vk / "vk.json").unlink()
    (vk / "vk.json").write_text(json.dumps(meta))
    assert zkml.VerifyingKey.load(vk).id != mlp_keys.id
    with pytest.raises(errors.ArtifactError, match="expected"):
        zkml.VerifyingKey.load(vk, id=mlp_keys.id)
    res = run_cli("verify", key_dirs[0] / "missing.json", "--vk", vk, "--vk-id", mlp_keys.id)
    assert res.returncode == 1


def test_swapped_proving_key_is_named(key_dirs):
    keys, other = key_dirs
    (keys / "pk.key").unlink()
    shutil.copyfile(other / "pk.key", keys / "pk.key")
    with pytest.raises(errors.ArtifactError, match=r"pk\.key") as exc:
        zkml.Keys.load(keys)
    assert exc.value.where.endswith("pk.key")


def test_the_model_id_is_the_key_identity_everywhere(mlp_keys, mlp_proof, tmp_path):
    b = zkml.bundle(mlp_keys)
    assert b.model_id == mlp_keys.id == mlp_keys.vk.id
    assert zkml.verify(mlp_proof, mlp_keys.vk).model_id == mlp_keys.id
    # a bundle carrying the model binds its network.compiled in its core, so its core is not the bare key's
    assert mlp_keys.vk.core_cid == zkml.bundle(mlp_keys.vk).core != b.core
    assert zkml.verifier_contract(mlp_keys.vk).meta["model_id"] == mlp_keys.id


# --- private means private -----------------------------------------------------------------------------

SECRET = np.array([0.7316842, -1.9318257, 3.1415926, 0.5772156])


def _representations(x: np.ndarray) -> set[bytes]:
    """A private input as zkml, numpy and ezkl could write it: text, float32, fixed point, felts, hashes."""
    reps: set[str] = set()
    for v in x:
        f32 = np.float32(v)
        reps |= {repr(float(v)), f"{v:.6f}", f"{v:.5f}", repr(float(f32)), str(f32)}
        for scale in range(7, 15):
            q = int(round(float(v) * 2**scale))
            if abs(q) >= 10000:  # shorter decimal strings turn up by chance in hex and binary files
                reps.add(str(q))
    blobs = {r.encode() for r in reps}
    for v in x:
        for scale in range(7, 15):
            q = int(round(float(v) * 2**scale))
            blobs.add(bytes.fromhex(int_to_felt(q)))
            blobs.add(int_to_felt(q).encode())
    for arr in (x.astype(np.float64), x.astype(np.float32), x.reshape(1, -1).astype(np.float32)):
        blobs.add(hashlib.sha256(arr.tobytes()).hexdigest().encode())
        blobs.add(arr.tobytes())
    return blobs


def _scan(roots, texts, x) -> list[str]:
    found = []
    needles = _representations(x)
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink():
                data = p.read_bytes()
                found += [f"{p}: {n[:40]!r}" for n in needles if n in data]
    for name, text in texts.items():
        found += [f"{name}: {n[:40]!r}" for n in needles if n in text.encode()]
    return found


def test_no_trace_of_a_private_input(mlp_model, tmp_path, fresh_home, mlp_cal):
    """run (with and without --calibration), prove, a batch with a failing input, and errors inside ezkl:
    every byte written to ZKML_HOME and the output directories, stdout, stderr and exception texts."""
    x = SECRET
    onnx = tmp_path / "m.onnx"
    mlp_model.save(onnx)
    (tmp_path / "x.json").write_text(json.dumps({"input_data": [x.tolist()]}))
    np.save(tmp_path / "cal.npy", mlp_cal)
    outs = tmp_path / "outs"
    texts = {}
    # run without --calibration: calibrated on the private input itself
    r = run_cli("run", onnx, "--input", tmp_path / "x.json", "-o", outs / "a", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["calibration"]["private"] is True and "scale" in r.stderr
    texts.update(run_a_out=r.stdout, run_a_err=r.stderr)
    # run with --calibration, then prove with the saved keys
    r = run_cli(
        "run", onnx, "--input", tmp_path / "x.json", "--calibration", tmp_path / "cal.npy", "-o", outs / "b", "--json"
    )
    assert r.returncode == 0, r.stderr
    texts.update(run_b_out=r.stdout, run_b_err=r.stderr)
    circuit = zkml.compile(mlp_model, mlp_cal)
    keys = circuit.setup()
    keys.save(tmp_path / "keys")
    r = run_cli("prove", tmp_path / "keys", "--input", tmp_path / "x.json", "-o", outs / "p.json", "--json")
    assert r.returncode == 0, r.stderr
    texts.update(prove_out=r.stdout, prove_err=r.stderr)
    # a batch where one input is far outside the calibrated range (it fails) and one is fine
    far = x * 1e8
    (tmp_path / "batch.jsonl").write_text(json.dumps(x.tolist()) + "\n" + json.dumps(far.tolist()) + "\n")
    r = run_cli(
        "prove",
        tmp_path / "keys",
        "--batch",
        tmp_path / "batch.jsonl",
        "-o",
        outs / "batch",
        "--workers",
        "1",
        "--json",
    )
    assert r.returncode == 1 and json.loads(r.stdout)["failed"] == 1
    texts.update(batch_out=r.stdout, batch_err=r.stderr)
    # errors raised in-process: out of range (ezkl's witness or the honest-output check), bad type
    for bad in (far, np.array([1e9, -1e9, 1e9, -1e9]) + x):
        with pytest.raises(errors.ZKMLError) as exc:
            keys.prove(bad)
        texts[f"exc{len(texts)}"] = str(exc.value) + repr(exc.value.__cause__ or "")
    leaks = _scan([fresh_home, outs], texts, x) + _scan([fresh_home, outs], texts, far)
    assert not leaks, leaks[:10]


def test_the_scanner_finds_a_leak(tmp_path):
    """The scan above can fail: a file holding the input's fixed-point value is found."""
    (tmp_path / "leak.json").write_text(json.dumps({"w": int(round(SECRET[2] * 2**13))}))
    assert _scan([tmp_path], {}, SECRET)
    assert _scan([], {"log": f"value {SECRET[0]!r}"}, SECRET)


def test_calibrating_on_the_private_input_keys_no_hash_of_it(mlp_model, fresh_home):
    """A circuit calibrated on a private input is keyed by nothing of it, and never reused: not for another
    input (whose proof would then carry settings chosen for the first), not even for the same one."""
    a = zkml.compile(mlp_model, SECRET, private_data=True)
    b = zkml.compile(mlp_model, SECRET * 0.5, private_data=True)
    c = zkml.compile(mlp_model, SECRET, private_data=True)
    assert len({a.path, b.path, c.path}) == 3 and not (b.cached or c.cached)
    assert a.report.private and a.report.max_abs_error is None
    meta = json.loads((a.path / "circuit.json").read_text())
    assert "input_ranges" not in json.dumps(meta) and meta["report"]["max_abs_error"] is None


def test_ezkl_error_text_is_scrubbed_of_every_number():
    from zkml.support.scrub import scrub

    text = scrub("witness value 94 at 0x1f2e3d4c5b6a7980 exceeds [12, 13, 14] (-3.5e-2) for row 7")
    assert not any(ch.isdigit() for ch in text.replace("<n>", "")), text
    assert "witness value" in text and "exceeds" in text


# --- on-chain verification is a read -------------------------------------------------------------------


@pytest.mark.requires_anvil
def test_verify_onchain_with_a_node_sends_no_transaction(anvil_node, mlp_keys, mlp_proof, tmp_path, monkeypatch):
    from zkml.evm import RpcChain, rpc_request

    monkeypatch.delenv("ZKML_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("ZKML_KEYSTORE", raising=False)
    deployer = RpcChain(anvil_node.url)
    contract = zkml.verifier_contract(mlp_keys.vk)
    address = deployer.deploy(contract)
    mlp_proof.save(tmp_path / "p.json")
    block = int(rpc_request(anvil_node.url, "eth_blockNumber"), 16)
    reader = RpcChain(anvil_node.url)
    res = reader.verify(address, mlp_proof)
    assert res and res.tx_hash is None and res.gas_used and res.gas_used > 100_000
    assert reader._resolved is None  # no account was ever looked up
    cli = run_cli(
        "verify-onchain",
        tmp_path / "p.json",
        "--rpc-url",
        anvil_node.url,
        "--address",
        address,
        "--vk",
        mlp_keys.vk.path,
        "--json",
        env={"ZKML_PRIVATE_KEY": "", "ZKML_KEYSTORE": ""},
    )
    info = json.loads(cli.stdout)
    assert cli.returncode == 0 and info["ok"] and info["tx_hash"] is None, cli.stderr
    np.testing.assert_allclose(info["outputs"][0], mlp_proof.outputs[0].tolist())
    assert int(rpc_request(anvil_node.url, "eth_blockNumber"), 16) == block  # nothing was mined
    bad = zkml.Proof(bytes(len(mlp_proof.proof)), mlp_proof.instances, {})
    assert not reader.verify(address, bad)


# --- what a review found: each forger's move, refused -----------------------------------------------------


@pytest.mark.requires_anvil
def test_verify_onchain_checks_the_code_at_the_address(anvil_node, mlp_keys, other_keys, mlp_proof, tmp_path):
    """A contract that is not this key's verifier (here: another model's) at --address is refused before any
    output decoded with --vk is shown."""
    from zkml.evm import RpcChain

    other = RpcChain(anvil_node.url).deploy(zkml.verifier_contract(other_keys.vk))
    mlp_proof.save(tmp_path / "p.json")
    res = run_cli(
        "verify-onchain", tmp_path / "p.json", "--rpc-url", anvil_node.url, "--address", other, "--vk", mlp_keys.vk.path
    )
    assert res.returncode == 1 and "ChainError" in res.stderr and "not the verifier" in res.stderr


def test_a_shared_reusable_verifier_needs_the_expected_model(mlp_keys, other_keys, mlp_proof):
    from zkml.evm import InProcessChain

    chain = InProcessChain()
    mine, theirs = (
        zkml.verifier_contract(mlp_keys.vk, reusable=True),
        zkml.verifier_contract(other_keys.vk, reusable=True),
    )
    address = chain.deploy(mine)
    assert chain.deploy(theirs) == address  # one shared verifier, two models registered
    with pytest.raises(errors.ChainError, match="several models"):
        chain.verify(address, mlp_proof)  # which model? not the proof file's say-so
    assert chain.verify(address, mlp_proof, contract=mine)
    assert not chain.verify(address, mlp_proof, contract=theirs)


def test_malformed_instances_are_an_artifact_error(mlp_proof, mlp_keys, tmp_path):
    raw = mlp_proof.to_json()
    h = raw["instances"][0][0]
    raw["instances"][0][0] = h[:30] + "_" + h[31:]  # int(h, 16) would accept an underscore
    (tmp_path / "u.json").write_text(json.dumps(raw))
    with pytest.raises(errors.ArtifactError, match="hex"):
        zkml.verify(tmp_path / "u.json", mlp_keys.vk)


def test_edited_core_cid_and_swapped_circuit_files_are_named(key_dirs, other_keys):
    keys, other = key_dirs
    (keys / "vk" / "core.cid").unlink()
    (keys / "vk" / "core.cid").write_text("bafyforged")
    with pytest.raises(errors.ArtifactError, match=r"core\.cid"):
        zkml.VerifyingKey.load(keys / "vk").core_cid  # noqa: B018
    compiled = keys / "circuit" / "network.compiled"
    compiled.unlink()
    shutil.copyfile(other / "circuit" / "network.compiled", compiled)
    with pytest.raises(errors.ArtifactError, match=r"network\.compiled"):
        zkml.Circuit.load(keys / "circuit")


def test_a_bundle_node_cannot_replace_core_files(mlp_keys, other_keys, tmp_path):
    """A CAR whose srs node lists vk.key (another model's) is refused, and leaves nothing in the cache."""
    import dag_cbor

    from zkml.support.ipld import Blocks, cid_str
    from zkml.verifier.bundles import Bundle

    good = zkml.bundle(mlp_keys)
    b = Blocks()
    b.blocks.update(good.blocks)
    root = dag_cbor.decode(good.blocks[good.root])
    srs_node = b.put(
        "dag-cbor",
        dag_cbor.encode(
            {
                "files": b.files(
                    {"kzg.srs": good.files["kzg.srs"], "vk.key": (other_keys.vk.path / "vk.key").read_bytes()}
                )
            }
        ),
    )
    forged_root = b.put("dag-cbor", dag_cbor.encode({**root, "srs": srs_node}))
    Bundle(cid_str(forged_root), good.core, {}, good.metadata, None, b.blocks).save(tmp_path / "forged.car")
    with pytest.raises(errors.ArtifactError, match="outside"):
        Bundle.load(tmp_path / "forged.car")
