"""Model bundles as CAR files: content addressing, private weights left out, verification from a bundle alone."""

import hashlib
import json
import shutil
import subprocess

import pytest

import zkml
from conftest import ROOT, run_cli
from zkml import errors


@pytest.fixture(scope="module")
def car(tmp_path_factory, mlp_keys):
    b = zkml.bundle(mlp_keys, zkml.verifier_contract(mlp_keys.vk))
    path = b.save(tmp_path_factory.mktemp("car") / "model.car")
    return b, path


def test_roundtrip_and_stable_cids(car, mlp_keys):
    b, path = car
    loaded = zkml.Bundle.load(path)
    assert (loaded.root, loaded.core) == (b.root, b.core) and loaded.root.startswith("bafy")
    assert dict(loaded.files) == dict(b.files)
    assert {"vk.key", "settings.json", "vk.json", "kzg.srs", "network.onnx", "network.compiled"} <= set(loaded.files)
    assert "pk.key" not in loaded.files
    assert loaded.contract["name"] == "Halo2Verifier"
    assert zkml.bundle(mlp_keys, zkml.verifier_contract(mlp_keys.vk)).root == b.root  # deterministic
    assert zkml.bundle(mlp_keys).core == b.core  # the core ignores the SRS and contract nodes
    # the model node is bound by digest in the core (ONNX and compiled circuit): a bare key's bundle has another core
    compiled = (mlp_keys.circuit.path / "network.compiled").read_bytes()
    assert loaded.compiled_sha256 == hashlib.sha256(compiled).hexdigest() == b.metadata["compiled_sha256"]
    bare = zkml.bundle(mlp_keys.vk)
    assert bare.core == mlp_keys.vk.core_cid != b.core and bare.compiled_sha256 is None


def test_verify_with_a_bundle_alone(car, mlp_keys, mlp_proof, other_keys, tmp_path):
    b, path = car
    assert mlp_proof.meta["bundle_cid"] == zkml.bundle(mlp_keys.vk).core  # proofs record the bare key's core
    assert zkml.verify(mlp_proof, zkml.Bundle.load(path))
    other = zkml.bundle(other_keys)
    res = zkml.verify(mlp_proof, other)
    assert not res and "bundle" in res.reason and other_keys.vk.core_cid in res.reason


def test_tampered_bundles_are_refused(car, tmp_path):
    _, path = car
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "flipped.car").write_bytes(bytes(data))
    with pytest.raises(errors.ArtifactError, match="does not match its content|not a valid"):
        zkml.Bundle.load(tmp_path / "flipped.car")
    (tmp_path / "short.car").write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(errors.ArtifactError):
        zkml.Bundle.load(tmp_path / "short.car")
    (tmp_path / "junk.car").write_bytes(b"not a car")
    with pytest.raises(errors.ArtifactError, match="not a valid zkml bundle"):
        zkml.Bundle.load(tmp_path / "junk.car")


def test_private_weights_stay_out(mlp_model, mlp_cal):
    keys = zkml.compile(mlp_model, mlp_cal, visibility="params=committed").setup()
    b = zkml.bundle(keys)
    assert "network.onnx" not in b.files and "network.compiled" not in b.files
    assert zkml.verify(keys.prove(mlp_cal[0]), b)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not installed")
def test_independent_reader_reproduces_cids_and_files(car, tmp_path):
    b, path = car
    if not (ROOT / "node_modules" / "@ipld" / "car").is_dir():
        pytest.skip("npm @ipld/car not installed (run npm ci)")
    out = subprocess.run(
        ["node", str(ROOT / "tests" / "ipld_check.mjs"), str(path), str(tmp_path / "files")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["root"] == got["reencoded"] == b.root and got["core"] == b.core
    for name, data in b.files.items():
        assert (tmp_path / "files" / name).read_bytes() == data


def test_cli_bundle_and_verify(car, mlp_keys, mlp_proof, tmp_path):
    keys_dir = mlp_keys.save(tmp_path / "keys")
    res = run_cli("bundle", keys_dir, "-o", tmp_path / "m.car", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["core_cid"] == car[0].core
    assert info["compiled_sha256"] == hashlib.sha256(mlp_keys.circuit.compiled_path.read_bytes()).hexdigest()
    proof = mlp_proof.save(tmp_path / "p.json")
    ok = run_cli("verify", proof, "--bundle", tmp_path / "m.car")
    assert ok.returncode == 0 and ok.stdout.startswith("valid")
    shown = run_cli("inspect", tmp_path / "m.car")
    assert shown.stdout.startswith(f"bundle: model id {mlp_keys.vk.id}") and car[0].core in shown.stdout, shown.stderr
    assert f"compiled   sha256 {info['compiled_sha256']}" in shown.stdout
    assert run_cli("verify", proof).returncode == 2  # neither --vk nor --bundle


def test_cli_verify_reports_and_pins_the_bundle_cid(car, mlp_keys, mlp_proof, other_keys, tmp_path):
    """--json names the bundle's own core CID (what a verifier pins) and the statement; --cid refuses another bundle."""
    b, path = car
    proof = mlp_proof.save(tmp_path / "p.json")
    res = run_cli("verify", proof, "--bundle", path, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert (info["bundle_cid"], info["bundle_root_cid"]) == (b.core, b.root) and info["bundle_cid_checked"] is False
    assert info["pinned_model_id"] == info["model_id"] == mlp_keys.vk.id
    assert info["key_core_cid"] == mlp_keys.vk.core_cid == mlp_proof.meta["bundle_cid"] != b.core
    from multiformats import CID

    for pin in (b.core, b.root, CID.decode(b.core).encode("base58btc")):  # the root links the core; any multibase
        ok = run_cli("verify", proof, "--bundle", path, "--cid", pin, "--json")
        assert ok.returncode == 0 and json.loads(ok.stdout)["bundle_cid_checked"] is True, ok.stderr
    shown = run_cli("verify", proof, "--bundle", path, "--cid", b.core)
    assert shown.returncode == 0 and f"bundle    core {b.core} (the pinned CID)" in shown.stdout
    # the same key and proof, another bundle (the bare key's, or another model's): refused before verifying
    other_car = zkml.bundle(other_keys).save(tmp_path / "other.car")
    for wrong in (zkml.bundle(mlp_keys.vk).core, zkml.bundle(other_keys).core, "not-a-cid"):
        bad = run_cli("verify", proof, "--bundle", path, "--cid", wrong)
        assert bad.returncode == 1 and "valid" not in bad.stdout, (wrong, bad.stdout)
        assert f"not the pinned {wrong}" in bad.stderr or "is not a CID" in bad.stderr, bad.stderr
    bad = run_cli("verify", proof, "--bundle", other_car, "--cid", b.core)
    assert bad.returncode == 1 and b.core in bad.stderr and "pinned" in bad.stderr, bad.stderr
    assert run_cli("verify", proof, "--vk", mlp_keys.vk.path, "--cid", b.core).returncode == 2  # --cid needs --bundle
    with pytest.raises(errors.ArtifactError, match="core CID"):
        zkml.Bundle.load(path).verifying_key(cid=zkml.bundle(other_keys).core)


@pytest.mark.requires_solc
def test_registry_records_the_bundle_cid(car, mlp_proof):
    from multiformats import CID

    from zkml.evm import InProcessChain, app_contract, decode_output, function_calldata

    b, _ = car
    digest = bytes(CID.decode(b.core).digest)[-32:]
    chain = InProcessChain()
    verifier = chain.deploy(zkml.verifier_contract(b.verifying_key()))
    reg = app_contract()
    app = chain.deploy_code(reg["bytecode"], reg["abi"], [verifier, 0, 0, False, digest])
    assert decode_output(
        reg["abi"], "modelId", chain.transact(app, function_calldata(reg["abi"], "modelId")).output
    ) == (digest,)
    inst = [int.from_bytes(bytes.fromhex(h), "little") for col in mlp_proof.instances for h in col]
    res = chain.transact(app, function_calldata(reg["abi"], "submit", [mlp_proof.proof, inst]))
    topics = [
        t if isinstance(t, bytes) else bytes.fromhex(str(t).removeprefix("0x"))
        for log in res.logs
        for t in getattr(log, "topics", [])
    ]
    assert res.ok and digest in topics  # OutputVerified(submitter, instancesHash, modelId, output)


def _forged(groups: dict, meta: dict, root_extra: dict | None = None) -> zkml.Bundle:
    """A bundle a forger assembles by hand: every block matches its CID, whatever the nodes say."""
    import dag_cbor

    from zkml.support.ipld import Blocks, cid_str

    b = Blocks()
    root = {"core": b.core(groups["core"], meta), **(root_extra or {})}
    for name in ("srs", "model"):
        if name in groups:
            root[name] = b.put("dag-cbor", dag_cbor.encode({"files": b.files(groups[name])}))
    r = b.put("dag-cbor", dag_cbor.encode(root))
    return zkml.Bundle(
        cid_str(r), cid_str(root["core"]), {n: d for g in groups.values() for n, d in g.items()}, meta, None, b.blocks
    )


def _groups(b: zkml.Bundle) -> dict:
    core = {n: d for n, d in b.files.items() if n in ("vk.key", "settings.json", "vk.json") or "/" in n}
    model = {n: b.files[n] for n in ("network.onnx", "network.compiled") if n in b.files}
    return {"core": core, "srs": {"kzg.srs": b.files["kzg.srs"]}, **({"model": model} if model else {})}


def test_a_poisoned_bundle_leaves_nothing_and_the_honest_one_then_works(car, mlp_proof, fresh_home, tmp_path):
    """Same core, another SRS file: refused before anything is cached, so the honest bundle still verifies here."""
    honest, _ = car
    groups = _groups(honest)
    srs = bytearray(groups["srs"]["kzg.srs"])
    srs[-1] ^= 0x01  # still an SRS-sized file, not the one the core's digest names
    poisoned = _forged({**groups, "srs": {"kzg.srs": bytes(srs)}}, dict(honest.metadata))
    assert poisoned.core == honest.core and poisoned.root != honest.root
    poisoned.save(tmp_path / "poisoned.car")
    with pytest.raises(errors.ArtifactError, match="kzg.srs"):
        zkml.Bundle.load(tmp_path / "poisoned.car").verifying_key()
    bundles = fresh_home / "bundles"
    assert not bundles.exists() or not any(bundles.iterdir())  # an invalid bundle leaves nothing
    assert not any((fresh_home / "tmp").iterdir()) if (fresh_home / "tmp").exists() else True
    vk = honest.verifying_key()
    assert vk.path.parent == bundles and vk.path.name.startswith(honest.core)
    assert zkml.verify(mlp_proof, honest)
    with pytest.raises(errors.ArtifactError):  # and the poisoned one stays refused, the honest entry notwithstanding
        zkml.Bundle.load(tmp_path / "poisoned.car").verifying_key()
    assert zkml.verify(mlp_proof, zkml.Bundle.load(car[1]))


def test_a_bundle_whose_metadata_lies_is_refused_and_not_cached(car, fresh_home):
    honest, _ = car
    meta = {**honest.metadata, "visibility": {**honest.metadata["visibility"], "input": "public"}}
    with pytest.raises(errors.ArtifactError, match="metadata disagrees"):
        _forged(_groups(honest), meta).verifying_key()
    assert not (fresh_home / "bundles").exists() or not any((fresh_home / "bundles").iterdir())


def test_the_model_node_must_be_the_model_the_core_names(car, other_keys, tmp_path):
    honest, _ = car
    assert zkml.Bundle.load(car[1]).files["network.onnx"] == honest.files["network.onnx"]
    other = {n: (other_keys.circuit.path / n).read_bytes() for n in ("network.onnx", "network.compiled")}
    swapped = _forged({**_groups(honest), "model": other}, dict(honest.metadata))
    assert swapped.core == honest.core
    swapped.save(tmp_path / "swapped.car")
    with pytest.raises(errors.ArtifactError, match="model_sha256"):
        zkml.Bundle.load(tmp_path / "swapped.car")
    res = run_cli("inspect", tmp_path / "swapped.car")
    assert res.returncode == 1 and "model_sha256" in res.stderr


def test_a_swapped_compiled_circuit_is_refused_and_the_honest_bundle_works(car, mlp_proof, other_keys, tmp_path):
    """The model node's network.compiled is bound by its digest in the core: swapping it (the core CID a verifier
    pins unchanged) or carrying one the core does not name is refused at load, naming the model node."""
    honest, path = car
    other = (other_keys.circuit.path / "network.compiled").read_bytes()
    groups = _groups(honest)
    swapped = _forged({**groups, "model": {**groups["model"], "network.compiled": other}}, dict(honest.metadata))
    assert swapped.core == honest.core and swapped.root != honest.root  # the pinned core is the same
    swapped.save(tmp_path / "swapped.car")
    with pytest.raises(errors.ArtifactError, match=r"model node: network\.compiled .*compiled_sha256"):
        zkml.Bundle.load(tmp_path / "swapped.car")
    res = run_cli("verify", mlp_proof.save(tmp_path / "p.json"), "--bundle", tmp_path / "swapped.car")
    assert res.returncode == 1 and "network.compiled" in res.stderr, res.stderr
    # a core that names no compiled circuit (an older bundle, or a forger's) cannot carry one
    unbound = {k: v for k, v in honest.metadata.items() if k != "compiled_sha256"}
    _forged(groups, unbound).save(tmp_path / "unbound.car")
    with pytest.raises(errors.ArtifactError, match="does not bind"):
        zkml.Bundle.load(tmp_path / "unbound.car")
    # a core that names one may leave the model out (the verifier needs only the core), and still verifies
    no_model = _forged({k: v for k, v in groups.items() if k != "model"}, dict(honest.metadata))
    assert no_model.core == honest.core and zkml.verify(mlp_proof, no_model)
    # a compiled digest that is not a sha256 is refused where the core is authenticated
    odd = _forged({k: v for k, v in groups.items() if k != "model"}, {**honest.metadata, "compiled_sha256": "x"})
    with pytest.raises(errors.ArtifactError, match="metadata disagrees"):
        odd.verifying_key()
    loaded = zkml.Bundle.load(path)
    assert loaded.files["network.compiled"] == groups["model"]["network.compiled"]
    assert zkml.verify(mlp_proof, loaded)


@pytest.mark.requires_solc
def test_a_contract_for_another_key_is_refused(mlp_keys, other_keys):
    with pytest.raises(errors.ArtifactError, match="verifies key"):
        zkml.bundle(mlp_keys, zkml.verifier_contract(other_keys.vk))
