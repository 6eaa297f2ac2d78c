"""Every kind of model on chain: single, split, committed, split + committed, split with an op tiled.

For each kind, through the library (``zkml.verifier_contract``, ``chain.deploy``, ``chain.verify``, ``chain.record``)
and the CLI (``contract``, ``deploy``, ``verify-onchain``, ``record-onchain``): a real positive case, and what a forger
would try: a proof made with other weights against a pinned fingerprint, reordered or spliced segments, another
model's proof. On pyrevm always; on anvil for every kind (the session's anvil node).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from test_committed import committed, twins  # noqa: F401 -- fixtures
from test_split import deep, split  # noqa: F401 -- fixtures

import zkml
from conftest import run_cli
from zkml import errors
from zkml.evm import InProcessChain, RpcChain

pytestmark = [pytest.mark.requires_solc]

KINDS = ["single", "split", "committed", "split+committed", "tiled"]


def _bare(*segments):
    return zkml.Proof(b"", (), {}, None, tuple(segments))


def _flip(proof, at=200):
    data = bytearray(proof.proof)
    data[at] ^= 1
    return zkml.Proof(bytes(data), proof.instances, {})


@pytest.fixture(scope="module")
def split_committed(deep):  # noqa: F811
    """The split model with committed weights: one chain of keys, two sets of weights (A, B), a proof of each."""
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
    ca, cb = zkml.commit(model, keys), zkml.commit(other, keys)
    return keys, (ca, keys.prove(cal[0])), (cb, keys.with_weights(other).prove(cal[0])), keys.prove(cal[1])


@pytest.fixture(scope="module")
def kinds(request):
    """Lazily, per kind: the statement (a pinned verifying key), a valid proof of it and the forgeries."""
    cache = {}

    def get(kind: str) -> SimpleNamespace:
        if kind in cache:
            return cache[kind]
        fx = request.getfixturevalue
        if kind == "single":
            keys, proof = fx("mlp_keys"), fx("mlp_proof")
            other = fx("other_keys").prove([0.1, 0.2, 0.3, 0.4])
            ns = SimpleNamespace(
                keys=keys,
                vk=keys.vk,
                proof=proof,
                pin=None,
                forged={"another model's proof": other, "a flipped byte": _flip(proof)},
            )
        elif kind == "committed":
            keys, (ca, pa), (cb, pb) = fx("committed")
            ns = SimpleNamespace(
                keys=keys,
                vk=keys.vk.pin_weights(ca),
                proof=pa,
                pin=ca,
                other_weights=pb,
                other_pin=cb,
                forged={
                    "a proof made with other weights": pb,
                    "another model's proof": fx("mlp_proof"),
                    "B's commitment in A's proof": zkml.Proof(
                        pb.proof[: 64 * keys.vk.meta["commitments"]["params"]]
                        + pa.proof[64 * keys.vk.meta["commitments"]["params"] :],
                        pa.instances,
                        {},
                    ),
                },
            )
        elif kind == "tiled":  # split, its convolution cut into tile segments that read one committed input
            case = fx("kind_case")("tiled")
            ns = SimpleNamespace(keys=case.keys, vk=case.keys.vk, proof=case.proof, pin=None, forged=dict(case.forged))
        elif kind == "split":
            _, _, keys, p0, p1 = fx("split")
            a, b = p0.segments, p1.segments
            ns = SimpleNamespace(
                keys=keys,
                vk=keys.vk,
                proof=p0,
                pin=None,
                forged={
                    "reordered segments": _bare(*reversed(a)),
                    "another inference's segment spliced in": _bare(a[0], *b[1:]),
                    "another model's proof": fx("mlp_proof"),
                    "another model's segment": _bare(a[0], fx("mlp_proof"), *a[2:]),
                },
            )
        else:
            keys, (ca, pa), (cb, pb), p1 = fx("split_committed")
            a = pa.segments
            ns = SimpleNamespace(
                keys=keys,
                vk=keys.vk.pin_weights(ca),
                proof=pa,
                pin=ca,
                other_weights=pb,
                other_pin=cb,
                forged={
                    "a proof made with other weights": pb,
                    "reordered segments": _bare(*reversed(a)),
                    "another inference's segment spliced in": _bare(a[0], *p1.segments[1:]),
                    "a segment of other weights spliced in": _bare(a[0], *pb.segments[1:]),
                    "another model's proof": fx("mlp_proof"),
                },
            )
        cache[kind] = ns
        return ns

    return get


def _chain(node: str, request):
    return InProcessChain() if node == "pyrevm" else RpcChain(request.getfixturevalue("anvil_node").url)


NODES = ["pyrevm", pytest.param("anvil", marks=pytest.mark.requires_anvil)]


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_verifies_on_chain_and_refuses_forgeries(kind, node, kinds, request):
    k = kinds(kind)
    chain = _chain(node, request)
    c = zkml.verifier_contract(k.vk)
    assert bool(c.segments) == (kind.startswith("split") or kind == "tiled") and c.weights_commitment == k.pin
    assert c.model_id == k.vk.id  # the contract verifies the statement a verifier pins
    address = chain.deploy(c)
    res = chain.verify(address, k.proof, contract=c)
    assert res and res.tx_hash is None, res.reason  # a read
    off_chain = zkml.verify(k.proof, k.vk)
    assert off_chain and res.model_id == off_chain.model_id == k.vk.id
    assert res.weights_commitment == k.pin and res.weights_checked == (k.pin is not None)
    assert (res.weights_note is not None) == (k.pin is not None) and (
        not k.pin or "weights checked" in res.weights_note
    )
    assert chain.verify(address, k.proof)  # the bare call: what the chain itself says
    for what, forged in k.forged.items():
        told = chain.verify(address, forged, contract=c)
        assert not told and told.reason, what
        if what == "a proof made with other weights":  # refused from the calldata's bytes, before the call
            assert not told.chain_asked and not told.weights_checked and "REJECTED" in told.weights_note
            assert told.weights_commitment == k.other_pin and told.model_id == k.keys.vk.pin_weights(k.other_pin).id
        # without zkml's pre-checks: the deployed code alone refuses it (weights, links, segments checked on chain)
        assert not chain.verify(address, forged), what
    if k.pin:
        # unpinned, the same architecture accepts any weights, and the verdict says so in words
        bare = zkml.verifier_contract(k.keys.vk)
        plain = chain.deploy(bare)
        unpinned = chain.verify(plain, k.other_weights, contract=bare)
        assert unpinned and not unpinned.weights_checked and "NOT checked" in unpinned.weights_note
        assert unpinned.weights_commitment == k.other_pin and unpinned.model_id == k.keys.vk.pin_weights(k.other_pin).id
        # pinned at verification time instead: compared with the calldata's commitment, off chain
        assert not chain.verify(plain, k.other_weights, contract=bare, weights_commitment=k.pin)
        assert chain.verify(plain, k.other_weights, contract=bare, weights_commitment=k.other_pin).weights_checked


@pytest.mark.parametrize("kind", KINDS)
def test_contract_artifact_round_trips_for_every_kind(kind, kinds, tmp_path):
    k = kinds(kind)
    c = zkml.verifier_contract(k.vk)
    loaded = zkml.VerifierContract.load(c.save(tmp_path / "c"))
    assert loaded.model_id == c.model_id == k.vk.id and loaded.weights_commitment == c.weights_commitment
    assert len(loaded.segments) == len(c.segments) and loaded.deployed_bytecode == c.deployed_bytecode
    chain = InProcessChain()
    address = chain.deploy(loaded)
    assert chain.verify(address, k.proof, contract=loaded)
    chain.check_code(address, loaded)
    for forged in k.forged.values():
        assert not chain.verify(address, forged)


def test_what_cannot_be_built_is_refused_clearly(kinds):
    split_k, committed_k, single = kinds("split"), kinds("committed"), kinds("single")
    with pytest.raises(errors.ContractError, match="reusable") as ei:
        zkml.verifier_contract(split_k.vk, reusable=True)
    assert "drop" in ei.value.hint
    with pytest.raises(errors.ContractError, match="reusable"):
        zkml.verifier_contract(committed_k.vk, reusable=True)  # the pinned check cannot front the reusable verifier
    assert zkml.verifier_contract(committed_k.keys.vk, reusable=True).reusable  # unpinned: it can
    with pytest.raises(errors.ContractError, match="committed"):
        zkml.verifier_contract(single.vk, weights_commitment=committed_k.pin)
    with pytest.raises(errors.ContractError, match="points"):
        zkml.verifier_contract(committed_k.keys.vk, weights_commitment=committed_k.pin + "00" * 64)
    with pytest.raises(errors.ContractError, match="not the one"):
        zkml.verifier_contract(committed_k.vk, weights_commitment=committed_k.other_pin)
    with pytest.raises(errors.ChainError, match="contract"):
        InProcessChain().verify("0x" + "11" * 20, committed_k.proof, weights_commitment=committed_k.pin)


def test_check_code_catches_other_code(kinds):
    k, sc = kinds("committed"), kinds("split+committed")
    chain = InProcessChain()
    pinned, bare = zkml.verifier_contract(k.vk), zkml.verifier_contract(k.keys.vk)
    at_pinned, at_bare = chain.deploy(pinned), chain.deploy(bare)
    chain.check_code(at_pinned, pinned)
    chain.check_code(at_bare, bare)
    with pytest.raises(errors.ChainError, match="committed-weights"):
        chain.check_code(at_bare, pinned)
    for_b = zkml.verifier_contract(k.keys.vk, weights_commitment=k.other_pin)
    with pytest.raises(errors.ChainError, match="pinned fingerprint"):
        chain.check_code(chain.deploy(for_b), pinned)  # a front for other weights
    split_c = zkml.verifier_contract(sc.vk)
    at_split = chain.deploy(split_c)
    chain.check_code(at_split, split_c)
    with pytest.raises(errors.ChainError, match="segment 0"):
        chain.check_code(
            chain.deploy(zkml.verifier_contract(sc.keys.vk)), split_c
        )  # segments without the weights check
    with pytest.raises(errors.ChainError):
        chain.check_code(at_split, zkml.verifier_contract(kinds("split").vk))  # another split model


def test_record_split_is_refused_and_committed_records_only_its_weights(kinds):
    from zkml.evm import app_contract, decode_output, function_calldata

    chain = InProcessChain()
    with pytest.raises(errors.ChainError, match="split proof") as ei:
        chain.record("0x" + "11" * 20, kinds("split").proof)
    assert "verify-onchain" in ei.value.hint
    k = kinds("committed")
    registry = app_contract("VerifiedOutputRegistry")
    verifier = chain.deploy(zkml.verifier_contract(k.vk))  # the front: it checks the weights for the registry
    app = chain.deploy_code(registry["bytecode"], registry["abi"], [verifier, 0, 0, False, bytes.fromhex(k.vk.id)])
    assert not chain.record(app, k.other_weights).ok
    assert chain.record(app, k.proof).ok
    count = chain.transact(app, function_calldata(registry["abi"], "count"))
    assert decode_output(registry["abi"], "count", count.output) == (1,)


# the CLI: every kind through contract / verify-onchain, split and committed through deploy on anvil


@pytest.fixture(scope="module")
def saved(kinds, tmp_path_factory):
    """Each kind's keys (no pin beside them) and proofs on disk, as a verifier receives them."""
    d = tmp_path_factory.mktemp("matrix")
    cache = {}

    def get(kind):
        if kind not in cache:
            k = kinds(kind)
            out = d / kind
            k.keys.save(out / "keys")
            k.proof.save(out / "proof.json")
            for i, forged in enumerate(k.forged.values()):
                forged.save(out / f"forged{i}.json")
            if k.pin:
                k.other_weights.save(out / "other_weights.json")
                k.vk.save(out / "pinned_vk")  # a verifying key that pins the fingerprint (weights.json)
            cache[kind] = SimpleNamespace(k=k, d=out, forged=[out / f"forged{i}.json" for i in range(len(k.forged))])
        return cache[kind]

    return get


@pytest.mark.parametrize("kind", [*KINDS[:3], pytest.param("split+committed", marks=pytest.mark.slow)])
def test_cli_contract_and_verify_onchain_for_every_kind(kind, saved):
    """The library cells above cover split + committed by default; its CLI cell (some 20 commands) is slow."""
    s = saved(kind)
    k = s.k
    res = run_cli("contract", s.d / "keys", "-o", s.d / "contract", "--json")
    assert res.returncode == 0 and "Traceback" not in res.stderr + res.stdout, res.stderr
    info = json.loads(res.stdout)
    assert info["segments"] == (len(k.proof.segments) or 1) and info["model_id"] == k.keys.vk.id
    ok = run_cli("verify-onchain", s.d / "proof.json", "--vk", s.d / "keys", "--json")
    got = json.loads(ok.stdout)
    assert ok.returncode == 0 and got["ok"] and got["model_id"] == zkml.verify(k.proof, k.keys.vk).model_id, ok.stderr
    if k.pin:
        assert (
            got["weights_commitment"] == k.pin and not got["weights_checked"] and "NOT checked" in got["weights_note"]
        )
        # the forgery: a proof of other weights against the published fingerprint
        bad = run_cli("verify-onchain", s.d / "other_weights.json", "--vk", s.d / "keys", "--weights-commitment", k.pin)
        assert bad.returncode == 1 and "weights commitment" in bad.stdout, bad.stdout + bad.stderr
        good = run_cli(
            "verify-onchain", s.d / "proof.json", "--vk", s.d / "keys", "--weights-commitment", k.pin, "--json"
        )
        g = json.loads(good.stdout)
        assert (
            good.returncode == 0 and g["weights_checked"] and g["weights_checked_on_chain"] and g["model_id"] == k.vk.id
        )
        if not k.proof.segments:  # the reusable verifier takes no front: the calldata's bytes are compared
            r = run_cli(
                "verify-onchain",
                s.d / "other_weights.json",
                "--vk",
                s.d / "keys",
                "--reusable",
                "--weights-commitment",
                k.pin,
            )
            assert r.returncode == 1 and "weights commitment" in r.stdout, r.stdout + r.stderr
        # a pinned verifying key pins it without the flag; the bare key id pins the architecture only
        assert run_cli("verify-onchain", s.d / "other_weights.json", "--vk", s.d / "pinned_vk").returncode == 1
        assert (
            run_cli("verify-onchain", s.d / "proof.json", "--vk", s.d / "pinned_vk", "--vk-id", k.vk.id).returncode == 0
        )
        loose = run_cli(
            "verify-onchain", s.d / "other_weights.json", "--vk", s.d / "pinned_vk", "--vk-id", k.keys.vk.key_id
        )
        assert loose.returncode == 0 and "NOT checked" in loose.stdout
        # a contract directory that pins the weights refuses the other weights on chain
        assert run_cli("contract", s.d / "keys", "-o", s.d / "pinned_c", "--weights-commitment", k.pin).returncode == 0
        assert run_cli("verify-onchain", s.d / "other_weights.json", "--contract", s.d / "pinned_c").returncode == 1
        assert run_cli("verify-onchain", s.d / "proof.json", "--contract", s.d / "pinned_c").returncode == 0
    else:
        assert got["weights_commitment"] is None and got["weights_note"] is None
    for forged in s.forged[:2]:
        r = run_cli("verify-onchain", forged, "--vk", s.d / "keys", *(["--weights-commitment", k.pin] if k.pin else []))
        assert r.returncode == 1 and "REJECTED" in r.stdout and "Traceback" not in r.stderr, (
            forged,
            r.stdout,
            r.stderr,
        )


@pytest.mark.requires_anvil
@pytest.mark.parametrize("kind", ["split", "committed"])
def test_cli_deploy_verify_and_record_on_anvil(kind, saved, anvil_node):
    s = saved(kind)
    k = s.k
    pin = ["--weights-commitment", k.pin] if k.pin else []
    dep = run_cli("deploy", s.d / "keys", "--rpc-url", anvil_node.url, *pin, "--json")
    assert dep.returncode == 0, dep.stderr
    address = json.loads(dep.stdout)["address"]
    assert json.loads(dep.stdout)["model_id"] == k.vk.id
    at = ["--address", address, "--rpc-url", anvil_node.url]
    ok = run_cli("verify-onchain", s.d / "proof.json", *at, "--vk", s.d / "keys", *pin, "--json")
    got = json.loads(ok.stdout)
    assert ok.returncode == 0 and got["ok"] and got["code_checked"] and got["model_id"] == k.vk.id, (
        ok.stdout + ok.stderr
    )
    for forged in s.forged[:2]:  # the rest are the library cells above, on anvil too
        r = run_cli("verify-onchain", forged, *at, "--vk", s.d / "keys", *pin)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (forged, r.stdout, r.stderr)
    if k.pin:
        assert got["weights_checked_on_chain"]
        # the deployed front refuses other weights even when the caller forgets to pin them
        r = run_cli("verify-onchain", s.d / "other_weights.json", *at)
        assert r.returncode == 1 and "REJECTED" in r.stdout
    else:
        rec = run_cli("record-onchain", s.d / "proof.json", "--registry", address, "--rpc-url", anvil_node.url)
        assert rec.returncode == 1 and "split proof" in rec.stdout + rec.stderr and "Traceback" not in rec.stderr
    other = run_cli(
        "verify-onchain",
        s.d / "proof.json",
        "--address",
        address,
        "--rpc-url",
        anvil_node.url,
        "--vk",
        saved("single").d / "keys",
    )
    assert other.returncode == 1 and "Traceback" not in other.stderr  # another model's key: never "accepted"


@pytest.mark.requires_anvil
def test_split_committed_library_on_anvil_checks_the_deployed_code(kinds, anvil_node):
    k = kinds("split+committed")
    chain = RpcChain(anvil_node.url)
    c = zkml.verifier_contract(k.vk)
    address = chain.deploy(c)
    chain.check_code(address, c)
    assert chain.verify(address, k.proof, contract=c).weights_checked
    assert not chain.verify(address, k.other_weights)
    with pytest.raises(errors.ChainError, match="segment"):
        chain.check_code(chain.deploy(zkml.verifier_contract(k.keys.vk)), c)
    np.testing.assert_allclose(zkml.verify(k.proof, k.vk).outputs[0], k.proof.decoded(k.vk).outputs[0])


# --- a split chain with a segment that holds no weights ---------------------------------------------------


@pytest.fixture(scope="module")
def weight_free_split():
    """Split + committed where the first segment holds no weights (only ReLUs and adds) and the second holds the
    layer: the chain's fingerprint is the second segment's commitment. Two sets of weights (A, B), a proof of each."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 2)

        def forward(self, x):
            for _ in range(6):
                x = torch.relu(x) + x  # no initializer: nothing to commit
            return self.fc(x)

    torch.manual_seed(0)
    net_a, net_b = Net(), Net()
    ma, mb = zkml.export(net_a, torch.zeros(1, 64)), zkml.export(net_b, torch.zeros(1, 64))
    cal = np.random.default_rng(0).normal(size=(4, 64))
    whole = zkml.compile(ma, cal, visibility="params=committed")
    keys = zkml.compile(ma, cal, visibility="params=committed", max_logrows=whole.logrows - 1).setup()
    counts = [dict(u.vk.meta.get("commitments") or {}) for u in keys.segments]
    assert not counts[0].get("params") and any(c.get("params") for c in counts[1:]), counts  # the case under test
    ca, cb = zkml.commit(ma, keys), zkml.commit(mb, keys)
    return keys, (ca, keys.prove(cal[0])), (cb, keys.with_weights(mb).prove(cal[0]))


@pytest.mark.parametrize("node", NODES)
def test_a_weight_free_segment_does_not_stop_pinning_weights_on_chain(node, weight_free_split, request, tmp_path):
    """The contract counts a split model committed when any segment is (as SplitVerifyingKey does): pinning the
    fingerprint puts the weights check in front of the segment that holds weights only, A's proof verifies with its
    weights checked, and B's (other weights) is refused by zkml and by the deployed code alone."""
    keys, (ca, pa), (cb, pb) = weight_free_split
    assert keys.vk.committed and pa.weights_commitment == ca and ca != cb
    pinned = keys.vk.pin_weights(ca)
    c = zkml.verifier_contract(pinned)
    assert c.committed and c.weights_commitment == ca and c.model_id == pinned.id
    assert c.segments[0].weights_commitment is None and c.segments[1].weights_commitment == ca
    loaded = zkml.VerifierContract.load(c.save(tmp_path / "c"))
    assert [s.weights_commitment for s in loaded.segments] == [None, ca] and loaded.model_id == c.model_id
    chain = _chain(node, request)
    address = chain.deploy(loaded)
    chain.check_code(address, c)
    res = chain.verify(address, pa, contract=c)
    assert res and res.weights_checked and res.weights_commitment == ca, res.reason
    assert res.model_id == pinned.id == zkml.verify(pa, pinned).model_id
    assert chain.verify(address, pa)  # what the chain itself says
    told = chain.verify(address, pb, contract=c)
    assert not told and not told.chain_asked and "REJECTED" in told.weights_note and told.weights_commitment == cb
    assert not chain.verify(address, pb)  # the front in front of the second segment refuses B's weights
    assert not chain.verify(address, pa, contract=c, weights_commitment=cb)  # a verifier pinning B refuses A
    # unpinned: the same chain of verifiers accepts either set of weights, and says they were not checked
    bare = zkml.verifier_contract(keys.vk)
    plain = chain.deploy(bare)
    unpinned = chain.verify(plain, pb, contract=bare)
    assert unpinned and not unpinned.weights_checked and unpinned.weights_commitment == cb
    assert "NOT checked" in unpinned.weights_note
    with pytest.raises(errors.ChainError, match="segment 1"):
        chain.check_code(plain, c)  # no weights check in front of the segment that holds the weights
    with pytest.raises(errors.ContractError, match="points"):
        zkml.verifier_contract(keys.vk, weights_commitment=ca + "00" * 64)
