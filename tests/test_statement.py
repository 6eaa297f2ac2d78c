"""The verifying statement on every path a verifier takes: bundles carry it in their core, `verify` reports it,
`inspect` and `zkml.load` read every artifact kind (single and split) and show the model id first."""

from __future__ import annotations

import json

import pytest
from test_committed import committed, twins  # noqa: F401  (module fixtures: one key, two weight sets)
from test_split import _bare, deep, split  # noqa: F401  (a model split into linked segments)

import zkml
from conftest import run_cli
from zkml import errors


@pytest.fixture(scope="module")
def published(committed, tmp_path_factory):  # noqa: F811
    """The owner publishes weights A (fingerprint ca): a bundle whose model id covers ca. A forger re-bundles the
    same keys with B's fingerprint."""
    keys, (ca, pa), (cb, pb) = committed
    d = tmp_path_factory.mktemp("published")
    honest, evil, bare = (
        zkml.bundle(keys, weights_commitment=ca),
        zkml.bundle(keys, weights_commitment=cb),
        zkml.bundle(keys),
    )
    for name, b in (("honest", honest), ("evil", evil), ("bare", bare)):
        b.save(d / f"{name}.car")
    pa.save(d / "pa.json")
    pb.save(d / "pb.json")
    return d, honest, evil, bare


def test_the_fingerprint_is_in_the_core_and_the_model_id(committed, published):  # noqa: F811
    keys, (ca, pa), (cb, pb) = committed
    _, honest, evil, bare = published
    statement = keys.vk.pin_weights(ca).id
    assert honest.model_id == statement != keys.vk.key_id == honest.key_id == evil.key_id == bare.model_id
    assert honest.core != evil.core != bare.core  # the fingerprint is covered by the core CID
    assert honest.metadata["weights_commitment"] == ca and "weights_commitment" not in bare.metadata
    assert zkml.bundle(keys.vk.pin_weights(ca)).core == honest.core  # a pinned key bundles to the same statement
    with pytest.raises(errors.ArtifactError, match="another weights fingerprint"):
        zkml.bundle(keys.vk.pin_weights(ca), weights_commitment=cb)
    vk = honest.verifying_key(id=statement)
    assert vk.weights_commitment == ca and vk.id == statement and vk.key_id == keys.vk.key_id
    ok = zkml.verify(pa, honest)
    assert ok and ok.model_id == statement and ok.weights_checked and ok.key_id == keys.vk.key_id
    assert not zkml.verify(pb, honest)


def test_a_swapped_fingerprint_bundle_is_refused(committed, published):  # noqa: F811
    """The forgery of issue #22: B's proof, a bundle of the same keys with B's fingerprint, pinned with A's model id."""
    keys, (ca, pa), (cb, pb) = committed
    d, honest, evil, _ = published
    statement = honest.model_id
    assert zkml.verify(pb, evil).model_id == evil.model_id != statement  # evil is a statement, but not A's
    with pytest.raises(errors.ArtifactError, match="model id"):
        zkml.Bundle.load(d / "evil.car").verifying_key(id=statement)
    res = run_cli("verify", d / "pb.json", "--bundle", d / "evil.car", "--vk-id", statement)
    assert res.returncode == 1 and "(checked)" not in res.stdout and statement in res.stderr, (res.stdout, res.stderr)
    res = run_cli("verify", d / "pb.json", "--bundle", d / "honest.car", "--vk-id", statement)
    assert res.returncode == 1 and "weights commitment" in res.stdout


def test_a_forged_core_or_a_fingerprint_beside_it_is_refused(committed, published, tmp_path):  # noqa: F811
    """Hand-made bundles whose every block matches its CID: metadata naming A's statement with B's fingerprint, and
    the old layout with a fingerprint in the root node."""
    from test_bundle import _forged, _groups

    keys, (ca, _), (cb, _) = committed
    _, honest, _, bare = published
    lying = _forged(_groups(honest), {**honest.metadata, "weights_commitment": cb})  # model id still A's statement
    with pytest.raises(errors.ArtifactError, match="metadata disagrees"):
        lying.verifying_key()
    fixed = _forged(_groups(bare), {**bare.metadata, "weights_commitment": ca})  # no key_id / statement model id
    with pytest.raises(errors.ArtifactError, match="metadata disagrees"):
        fixed.verifying_key()
    beside = _forged(_groups(bare), dict(bare.metadata), {"weights_commitment": cb})
    beside.save(tmp_path / "beside.car")
    with pytest.raises(errors.ArtifactError, match="outside the core"):
        zkml.Bundle.load(tmp_path / "beside.car")


def test_a_contract_node_pinning_other_weights_is_refused(committed, published, tmp_path):  # noqa: F811
    """The contract node is outside the core CID: one that pins other weights than the core's statement is refused."""
    import dag_cbor
    from test_bundle import _forged, _groups

    from zkml.support.ipld import Blocks, cid_str

    _, _, (cb, _) = committed
    _, honest, _, _ = published
    body = dag_cbor.encode({"name": "Halo2Verifier", "abi": "[]", "bytecode": b"\x00", "weights_commitment": cb})
    node = Blocks().put("dag-cbor", body)
    lying = _forged(_groups(honest), dict(honest.metadata), {"contract": node})
    lying.blocks[cid_str(node)] = body  # a well-formed block: only what it says is wrong
    lying.save(tmp_path / "lying.car")
    with pytest.raises(errors.ArtifactError, match="contract pins other weights"):
        zkml.Bundle.load(tmp_path / "lying.car")


def test_cli_verify_reports_the_statement_it_checked(committed, published):  # noqa: F811
    keys, (ca, pa), (cb, pb) = committed
    d, honest, _, bare = published
    res = run_cli("verify", d / "pa.json", "--bundle", d / "honest.car", "--vk-id", honest.model_id, "--json")
    info = json.loads(res.stdout)
    assert res.returncode == 0 and info["ok"], res.stderr
    assert info["model_id"] == honest.model_id and info["key_id"] == keys.vk.key_id and info["weights_checked"]
    assert info["weights_commitment"] == ca and info["weights_note"].startswith("weights checked")
    text = run_cli("verify", d / "pa.json", "--bundle", d / "honest.car", "--vk-id", honest.model_id).stdout
    lines = text.splitlines()
    assert lines[0].startswith("valid") and lines[1].split() == ["model", "id", honest.model_id]
    assert lines[2].split() == ["key", "id", keys.vk.key_id] and "weights checked" in text
    # unpinned: the verdict names the statement the proof proves, and says in words the weights were not checked
    res = run_cli("verify", d / "pb.json", "--bundle", d / "bare.car", "--json")
    info = json.loads(res.stdout)
    assert res.returncode == 0 and not info["weights_checked"] and "NOT checked" in info["weights_note"]
    assert info["model_id"] == keys.vk.pin_weights(cb).id and info["key_id"] == keys.vk.key_id
    assert "weights NOT checked" in run_cli("verify", d / "pb.json", "--bundle", d / "bare.car").stdout
    # --weights-commitment keeps working, with a bundle and with a key directory
    assert run_cli("verify", d / "pb.json", "--bundle", d / "bare.car", "--weights-commitment", ca).returncode == 1
    assert run_cli("verify", d / "pb.json", "--bundle", d / "bare.car", "--weights-commitment", cb).returncode == 0
    assert run_cli("verify", d / "pa.json", "--bundle", d / "honest.car", "--weights-commitment", cb).returncode == 1
    # the bare key id pins the architecture only: accepted, and said to be unchecked
    res = run_cli("verify", d / "pb.json", "--bundle", d / "honest.car", "--vk-id", keys.vk.key_id, "--json")
    assert res.returncode == 0 and not json.loads(res.stdout)["weights_checked"], res.stderr


def test_cli_bundle_pins_a_fingerprint(committed, published, tmp_path):  # noqa: F811
    keys, (ca, pa), _ = committed
    d, honest, _, _ = published
    keys.save(tmp_path / "keys")
    res = run_cli("bundle", tmp_path / "keys", "-o", tmp_path / "b.car", "--weights-commitment", ca, "--json")
    info = json.loads(res.stdout)
    assert res.returncode == 0 and info["model_id"] == honest.model_id and info["core_cid"] == honest.core, res.stderr
    assert info["weights_commitment"] == ca and info["key_id"] == keys.vk.key_id
    keys.vk.pin_weights(ca).save(tmp_path / "vk")  # a pinned verifying key directory (weights.json) bundles the same
    res = run_cli("bundle", tmp_path / "vk", "-o", tmp_path / "v.car", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["core_cid"] == honest.core, res.stderr
    res = run_cli("bundle", tmp_path / "keys", "-o", tmp_path / "x.car", "--weights-commitment", "0xnothex")
    assert res.returncode == 1 and "hex" in res.stderr and not (tmp_path / "x.car").exists()


@pytest.fixture(scope="module")
def split_committed(deep):  # noqa: F811
    """A split model with committed weights: A's proof, and a proof of other weights under the same keys."""
    import torch

    net, model, cal = deep
    whole = zkml.compile(model, cal, visibility="params=committed")
    keys = zkml.compile(model, cal, visibility="params=committed", max_logrows=whole.logrows - 1).setup()
    torch.manual_seed(9)
    other = zkml.export(
        torch.nn.Sequential(
            *[type(m)(*([m.in_features, m.out_features] if hasattr(m, "in_features") else [])) for m in net]
        ),
        torch.zeros(1, 16),
    )
    fa, fb = zkml.commit(model, keys), zkml.commit(other, keys)
    return keys, (fa, keys.prove(cal[0])), (fb, keys.with_weights(other).prove(cal[0]))


def test_split_bundles_carry_a_fingerprint(split_committed, tmp_path):
    keys, (fa, pa), (fb, pb) = split_committed
    assert len(keys.segments) > 1 and keys.vk.committed
    honest, evil = zkml.bundle(keys, weights_commitment=fa), zkml.bundle(keys, weights_commitment=fb)
    honest.save(tmp_path / "h.car")
    evil.save(tmp_path / "e.car")
    loaded = zkml.Bundle.load(tmp_path / "h.car")
    statement = keys.vk.pin_weights(fa).id
    assert loaded.model_id == statement and loaded.key_id == keys.vk.key_id and loaded.weights_commitment == fa
    assert loaded.split and loaded.segments == len(keys.segments) and honest.core != evil.core
    vk = loaded.verifying_key(id=statement)
    assert isinstance(vk, zkml.SplitVerifyingKey) and vk.weights_commitment == fa and vk.id == statement
    ok = zkml.verify(pa, loaded)
    assert ok and ok.weights_checked and ok.model_id == statement
    assert not zkml.verify(pb, loaded)
    assert not zkml.verify(_bare(pa.segments[0], *pb.segments[1:]), zkml.bundle(keys))  # spliced segments
    with pytest.raises(errors.ArtifactError, match="model id"):
        zkml.Bundle.load(tmp_path / "e.car").verifying_key(id=statement)
    pb.save(tmp_path / "pb.json")
    pa.save(tmp_path / "pa.json")
    assert run_cli("verify", tmp_path / "pb.json", "--bundle", tmp_path / "e.car", "--vk-id", statement).returncode == 1
    res = run_cli("verify", tmp_path / "pa.json", "--bundle", tmp_path / "h.car", "--vk-id", statement, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["weights_checked"], res.stderr
    keys.save(tmp_path / "keys")
    res = run_cli("bundle", tmp_path / "keys", "-o", tmp_path / "cli.car", "--weights-commitment", fa, "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["core_cid"] == honest.core, res.stderr
    shown = run_cli("inspect", tmp_path / "cli.car", "--json")
    info = json.loads(shown.stdout)
    assert info["model_id"] == statement and info["weights_commitment"] == fa and info["segments"] == len(keys.segments)


@pytest.mark.requires_solc
def test_a_split_bundle_carries_its_split_verifier(split, tmp_path):  # noqa: F811
    from zkml.evm import app_contract

    _, _, keys, p0, _ = split
    art = app_contract("SplitVerifier")
    b = zkml.bundle(keys, {"name": "SplitVerifier", **art})
    b.save(tmp_path / "s.car")
    loaded = zkml.Bundle.load(tmp_path / "s.car")
    code = art["bytecode"]
    code = bytes.fromhex(code.removeprefix("0x")) if isinstance(code, str) else bytes(code)
    assert loaded.contract["name"] == "SplitVerifier" and bytes(loaded.contract["bytecode"]) == code
    assert loaded.core == zkml.bundle(keys).core and zkml.verify(p0, loaded)
    with pytest.raises(errors.ArtifactError, match="name, an ABI and bytecode"):
        zkml.bundle(keys, {"name": "SplitVerifier", "abi": []})


def _first(res) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()[0]


def test_inspect_and_load_every_kind_single(mlp_circuit, mlp_keys, mlp_proof, committed, tmp_path):  # noqa: F811
    keys, (ca, _), _ = committed
    paths = {
        "circuit": mlp_circuit.save(tmp_path / "circuit"),
        "keys": mlp_keys.save(tmp_path / "keys"),
        "vk": mlp_keys.vk.save(tmp_path / "vk"),
        "pinned": keys.vk.pin_weights(ca).save(tmp_path / "pinned"),
        "proof": mlp_proof.save(tmp_path / "p.json"),
        "car": zkml.bundle(mlp_keys).save(tmp_path / "m.car"),
    }
    assert isinstance(zkml.load(paths["circuit"]), zkml.Circuit) and isinstance(zkml.load(paths["keys"]), zkml.Keys)
    assert zkml.load(paths["vk"]).id == mlp_keys.vk.id and isinstance(zkml.load(paths["proof"]), zkml.Proof)
    assert zkml.load(paths["pinned"]).weights_commitment == ca and isinstance(zkml.load(paths["car"]), zkml.Bundle)
    assert zkml.load(mlp_keys.vk.srs.path).logrows == mlp_keys.circuit.logrows
    srs = json.loads(run_cli("inspect", mlp_keys.vk.srs.path, "--json").stdout)
    assert srs["sha256"] == mlp_keys.vk.srs.sha256 and srs["srs_status"] == "unknown"  # a dev SRS is never trusted
    want = {
        "keys": f"keys: model id {mlp_keys.id}",
        "vk": f"verifying key: model id {mlp_keys.vk.id}",
        "pinned": f"verifying key: model id {keys.vk.pin_weights(ca).id}",
        "proof": f"proof: model id {mlp_proof.meta['model_id']}",
        "car": f"bundle: model id {mlp_keys.vk.id}",
    }
    for name, line in want.items():
        assert _first(run_cli("inspect", paths[name])).startswith(line), name
    info = json.loads(run_cli("inspect", paths["pinned"], "--json").stdout)
    assert info["weights_commitment"] == ca and info["key_id"] == keys.vk.key_id and info["layout"] == "single"
    assert info["srs_status"] == "unknown" and info["srs_sha256"] == keys.vk.srs.sha256
    assert _first(run_cli("inspect", paths["circuit"])).startswith("circuit:")
    text = run_cli("inspect", paths["keys"]).stdout
    assert "key id" in text and "single" in text and "fixed in the key" in text
    # what a forger or a typo hands the loader: refused with a clear error
    (tmp_path / "junk").mkdir()
    with pytest.raises(errors.ArtifactError, match="not a zkml artifact directory"):
        zkml.load(tmp_path / "junk")
    with pytest.raises(errors.ArtifactError, match="pins a verifying key"):
        zkml.load(paths["proof"], id=mlp_keys.vk.id)
    with pytest.raises(errors.ArtifactError, match="not the expected"):
        zkml.load(paths["vk"], id="ab" * 32)
    res = run_cli("inspect", tmp_path / "junk")
    assert res.returncode == 1 and "not a zkml artifact directory" in res.stderr
    # a command that needs one kind says what it was handed instead
    with pytest.raises(errors.ArtifactError, match="this is a keys directory, and a circuit directory is needed"):
        zkml.load(paths["keys"], kinds=("circuit", "split_circuit"))
    assert isinstance(zkml.load(paths["circuit"], kinds=("circuit", "split_circuit")), zkml.Circuit)
    with pytest.raises(errors.ArtifactError, match="a split circuit directory is needed"):
        zkml.load(paths["circuit"], kinds="split_circuit")  # one kind as a string is that kind, not its letters
    res = run_cli("setup", paths["keys"], "-o", tmp_path / "k2", "--json")
    err = json.loads(res.stdout)
    assert res.returncode == 1 and "a circuit directory is needed" in err["message"]
    assert not (tmp_path / "k2").exists()  # nothing written


@pytest.mark.requires_solc
def test_inspect_a_contract(mlp_keys, tmp_path):
    d = zkml.verifier_contract(mlp_keys.vk).save(tmp_path / "contract")
    line = _first(run_cli("inspect", d))
    assert line == f"contract: model id {mlp_keys.vk.id}"


def test_inspect_and_load_every_kind_split(split, tmp_path):  # noqa: F811
    _, sc, keys, p0, _ = split
    n = len(sc.segments)
    paths = {
        "circuit": sc.save(tmp_path / "circuit"),
        "keys": keys.save(tmp_path / "keys"),
        "vk": keys.vk.save(tmp_path / "vk"),
        "proof": p0.save(tmp_path / "p.json"),
        "car": zkml.bundle(keys).save(tmp_path / "s.car"),
    }
    assert isinstance(zkml.load(paths["circuit"]), zkml.SplitCircuit) and isinstance(
        zkml.load(paths["keys"]), zkml.SplitKeys
    )
    assert isinstance(zkml.load(paths["vk"]), zkml.SplitVerifyingKey) and zkml.load(paths["proof"]).segments
    assert zkml.load(paths["vk"], id=keys.vk.id).id == keys.vk.id
    want = {
        "keys": f"keys: model id {keys.id}",
        "vk": f"verifying key: model id {keys.vk.id}",
        "proof": f"proof: model id {keys.id}",
        "car": f"bundle: model id {keys.vk.id}",
    }
    for name, line in want.items():
        res = run_cli("inspect", paths[name])
        assert _first(res).startswith(line) and f"split ({n} segments)" in res.stdout, (name, res.stdout)
        info = json.loads(run_cli("inspect", paths[name], "--json").stdout)
        assert info["segments"] == n and info["layout"] == "split" and info["model_id"] == keys.vk.id, name
    res = run_cli("inspect", paths["circuit"])
    assert _first(res).startswith("circuit:") and f"split ({n} segments)" in res.stdout
    proof = json.loads(run_cli("inspect", paths["proof"], "--json").stdout)
    assert proof["proof_bytes"] == sum(len(s.proof) for s in p0.segments) > 0 and proof["verified"] is False


def test_a_malformed_fingerprint_is_refused_on_every_path(committed):  # noqa: F811
    """One reading of a weights fingerprint (zkml.proof.read_fingerprint): each path refuses a malformed one with
    its own error class, naming the field."""
    from zkml.evm import InProcessChain

    keys, (ca, pa), _ = committed
    for bad in ("0x1234", "not hex", ca[:-1] + "g"):
        with pytest.raises(errors.VerifyError, match="cannot read the weights commitment") as e:
            keys.vk.pin_weights(bad)
        assert "prove-model commit" in e.value.hint
        with pytest.raises(errors.ContractError, match="cannot read the weights commitment"):
            zkml.verifier_contract(keys.vk, weights_commitment=bad)
    chain = InProcessChain()
    addr = chain.deploy(zkml.verifier_contract(keys.vk))
    with pytest.raises(errors.ChainError, match="cannot read the weights commitment") as e:
        chain.verify(addr, pa, weights_commitment="0x12")
    assert e.value.stage == "verify"
