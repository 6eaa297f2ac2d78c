"""Several real anvil nodes on loopback: failover when one stops, quorum when one disagrees."""

import json

import pytest
from test_committed import committed, twins  # noqa: F401 -- fixtures

import zkml
from conftest import run_cli
from zkml import errors
from zkml.evm import RpcChain

pytestmark = [pytest.mark.requires_anvil, pytest.mark.requires_solc]


@pytest.fixture
def nodes():
    started = [zkml.evm._anvil.start_anvil() for _ in range(3)]
    yield started
    for n in started:
        n.stop()


def _deploy_each(nodes, contracts):
    """Deploy contracts[i] on nodes[i] from the same fresh account: they land at the same address."""
    addresses = {RpcChain(n.url).deploy(c) for n, c in zip(nodes, contracts)}
    assert len(addresses) == 1
    return addresses.pop()


def test_quorum_agrees_and_failover(nodes, mlp_keys, mlp_proof):
    c = zkml.verifier_contract(mlp_keys.vk)
    address = _deploy_each(nodes[:2], [c, c])
    chain = RpcChain([nodes[0].url, nodes[1].url], quorum=2)
    assert chain.verify(address, mlp_proof)
    failover = RpcChain([nodes[0].url, nodes[1].url])
    nodes[0].stop()  # the primary goes down mid-run
    res = failover.verify(address, mlp_proof)
    assert res and failover.url == nodes[1].url
    with pytest.raises(errors.ChainError, match="only 1 of 2 endpoints answered"):
        chain.verify(address, mlp_proof)


def test_quorum_catches_a_disagreeing_endpoint(nodes, mlp_keys, other_keys, mlp_proof):
    good, other = zkml.verifier_contract(mlp_keys.vk), zkml.verifier_contract(other_keys.vk)
    address = _deploy_each(nodes, [good, good, other])
    with pytest.raises(errors.ChainError) as ei:
        RpcChain([n.url for n in nodes], quorum=2).verify(address, mlp_proof)
    assert "disagree" in str(ei.value) and nodes[2].url in str(ei.value) and nodes[0].url in str(ei.value)
    assert RpcChain([nodes[0].url, nodes[1].url], quorum=2).verify(address, mlp_proof)


def test_all_endpoints_down_and_bad_quorum(nodes):
    urls = [n.url for n in nodes[:2]]
    with pytest.raises(errors.ChainError, match="quorum 3"):
        RpcChain(urls, quorum=3)
    for n in nodes:
        n.stop()
    with pytest.raises(errors.ChainError) as ei:
        RpcChain(urls)
    assert all(u in str(ei.value) for u in urls)


def test_cli_several_rpc_urls(nodes, mlp_keys, mlp_proof, tmp_path):
    c = zkml.verifier_contract(mlp_keys.vk)
    address = _deploy_each(nodes[:2], [c, c])
    proof = mlp_proof.save(tmp_path / "p.json")
    res = run_cli(
        "verify-onchain",
        proof,
        "--address",
        address,
        "--rpc-url",
        nodes[0].url,
        "--rpc-url",
        nodes[1].url,
        "--quorum",
        "2",
        "--json",
    )
    assert res.returncode == 0 and json.loads(res.stdout)["ok"], res.stderr
    res = run_cli(
        "verify-onchain",
        proof,
        "--address",
        address,
        "--json",
        env={"ZKML_RPC_URL": f"http://127.0.0.1:9,{nodes[1].url}"},
    )  # first endpoint dead: failover
    assert res.returncode == 0 and json.loads(res.stdout)["ok"], res.stderr


def test_quorum_verifies_committed_weights_pinned_on_chain(nodes, committed):  # noqa: F811
    """Two nodes agree on a pinned committed-weights verifier; the statement and the weights verdict come with the answer."""
    keys, (ca, pa), (cb, pb) = committed
    c = zkml.verifier_contract(keys.vk, weights_commitment=ca)
    address = _deploy_each(nodes[:2], [c, c])
    chain = RpcChain([nodes[0].url, nodes[1].url], quorum=2)
    chain.check_code(address, c)
    ok = chain.verify(address, pa, contract=c)
    assert ok and ok.weights_checked and ok.model_id == keys.vk.pin_weights(ca).id
    assert not chain.verify(address, pb)  # other weights: the front refuses them on both nodes
    refused = chain.verify(address, pb, contract=c)
    assert not refused and "weights commitment" in refused.reason and refused.gas_used is None  # not even asked
    with pytest.raises(errors.ChainError, match="committed-weights"):
        chain.check_code(_deploy_each(nodes[:2], [zkml.verifier_contract(keys.vk)] * 2), c)
