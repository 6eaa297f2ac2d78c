"""On-chain verification. The same test bodies run on the in-process EVM and on a real anvil node."""

import json

import pytest

import zkml
from zkml import errors
from zkml.evm import InProcessChain, RpcChain
from zkml.proof.proof import FIELD_MODULUS, felt_to_int, int_to_felt

pytestmark = [pytest.mark.requires_solc]


@pytest.fixture(params=["inprocess", pytest.param("anvil", marks=pytest.mark.requires_anvil)])
def chain(request):
    if request.param == "inprocess":
        return InProcessChain()
    return RpcChain(request.getfixturevalue("anvil_node").url)


@pytest.fixture(scope="session")
def contracts(mlp_keys):
    return {False: zkml.verifier_contract(mlp_keys.vk), True: zkml.verifier_contract(mlp_keys.vk, reusable=True)}


@pytest.fixture(scope="session")
def other_contracts(other_keys):
    return {False: zkml.verifier_contract(other_keys.vk), True: zkml.verifier_contract(other_keys.vk, reusable=True)}


def _with(proof, *, data=None, instances=None):
    return zkml.Proof(
        proof.proof if data is None else data, proof.instances if instances is None else instances, proof.meta
    )


@pytest.mark.parametrize("reusable", [False, True], ids=["per-model", "reusable"])
def test_valid_proof_is_accepted(chain, contracts, mlp_proof, reusable):
    address = chain.deploy(contracts[reusable])
    res = chain.verify(address, mlp_proof)
    assert res and res.gas_used and 400_000 < res.gas_used < 900_000
    assert res.tx_hash is None  # verifying is a read (eth_call), never a transaction
    if reusable:  # the reusable verifier returns the rescaled outputs
        assert res.outputs == pytest.approx(mlp_proof.outputs[0].reshape(-1).tolist(), abs=1e-12)


@pytest.mark.parametrize("reusable", [False, True], ids=["per-model", "reusable"])
def test_tampered_proofs_are_rejected(chain, contracts, mlp_proof, other_keys, reusable):
    address = chain.deploy(contracts[reusable])
    flipped = bytearray(mlp_proof.proof)
    flipped[len(flipped) // 3] ^= 0x01
    inst = list(mlp_proof.instances[0])
    changed = inst[:-1] + [int_to_felt(felt_to_int(inst[-1]) + 1)]
    raw0 = int.from_bytes(bytes.fromhex(inst[0]), "little") + FIELD_MODULUS
    aliased = [raw0.to_bytes(32, "little").hex()] + inst[1:]
    other_proof = other_keys.prove([0.1, 0.2, 0.3, 0.4])
    for bad in (
        _with(mlp_proof, data=bytes(flipped)),
        _with(mlp_proof, instances=(tuple(changed),)),
        _with(mlp_proof, instances=(tuple(aliased),)),
        _with(other_proof, instances=other_proof.instances),
    ):
        res = chain.verify(address, bad, contract=contracts[reusable])
        assert not res and res.reason


def test_other_models_contract_rejects(chain, other_contracts, mlp_proof):
    address = chain.deploy(other_contracts[False])
    assert not chain.verify(address, mlp_proof)


def test_reusable_before_registration_reverts(chain, contracts, mlp_proof, other_contracts):
    address = chain.deploy(other_contracts[True])  # deploys the shared verifier, registers the other model only
    res = chain.verify(address, mlp_proof, contract=contracts[True])
    assert not res and "not registered" in res.reason.lower()
    assert chain.deploy(contracts[True]) == address  # the shared verifier is deployed once per chain
    assert chain.verify(address, mlp_proof, contract=contracts[True])


def test_calldata_matches_ezkl_encoder(tmp_path, mlp_proof, contracts):
    """Same selector and same decoded arguments as ezkl's encoder (ezkl appends 32 bytes of padding)."""
    import ezkl
    from eth_abi import decode

    path = mlp_proof.save(tmp_path / "proof.json")
    theirs = bytes(ezkl.encode_evm_calldata(str(path), str(tmp_path / "cd.bin"), None))
    ours = zkml.evm.calldata(mlp_proof)
    assert theirs[:4] == ours[:4]
    assert decode(["bytes", "uint256[]"], theirs[4:]) == decode(["bytes", "uint256[]"], ours[4:])
    vka = tmp_path / "vka.bin"
    words = contracts[True].vka
    vka.write_bytes(len(words).to_bytes(8, "little") + b"".join(words))
    theirs = bytes(ezkl.encode_evm_calldata(str(path), str(tmp_path / "cd2.bin"), str(vka)))
    ours = zkml.evm.calldata(mlp_proof, contracts[True])
    types = ["bytes", "uint256[]", "bytes32[]"]
    assert theirs[:4] == ours[:4] and decode(types, theirs[4:]) == decode(types, ours[4:])


def test_contract_artifact(tmp_path, contracts):
    c = contracts[False]
    assert "contract Halo2Verifier" in c.source and c.deployed_size < zkml.evm.EIP170_LIMIT
    assert any(f.get("name") == "verifyProof" for f in c.abi) and c.dev_srs
    loaded = zkml.VerifierContract.load(c.save(tmp_path / "c"))
    assert loaded.bytecode == c.bytecode and loaded.abi == c.abi and not loaded.reusable
    r = zkml.VerifierContract.load(contracts[True].save(tmp_path / "r"))
    assert r.reusable and r.vka == contracts[True].vka


def test_oversized_runtime_code_is_refused(chain):
    from zkml.evm._contract import check_size

    initcode = bytes.fromhex("6160016000f3")  # return 0x6001 = 24577 zero bytes: one over EIP-170
    big = zkml.VerifierContract("Big", "", [], initcode, bytes(24577), False)
    with pytest.raises(errors.ContractError) as ei:
        check_size(big)
    assert "EIP-170" in str(ei.value) and "reusable" in ei.value.hint
    with pytest.raises(errors.ChainError):
        chain.deploy(big)


def test_compiler_errors_are_kept():
    with pytest.raises(errors.ContractError) as ei:
        zkml.evm.compile_solidity("pragma solidity ^0.8.0; contract X { function f( }")
    assert "ParserError" in str(ei.value)


def test_production_refuses_dev_srs(mlp_keys):
    with pytest.raises(errors.ContractError) as ei:
        zkml.verifier_contract(mlp_keys.vk, production=True)
    assert "ceremony SRS" in ei.value.hint


def test_ezkl_leaves_the_user_home_alone(tmp_path, monkeypatch, mlp_keys, fresh_home):
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    zkml.verifier_contract(mlp_keys.vk)
    assert not (tmp_path / "user-home").exists()


def test_rpc_errors(monkeypatch):
    with pytest.raises(errors.ChainError, match="cannot reach"):
        RpcChain("http://127.0.0.1:9", timeout=2)


@pytest.mark.requires_anvil
def test_private_keys_never_come_from_arguments(anvil_node, monkeypatch):
    key = "0x" + "ab" * 32
    with pytest.raises(errors.ChainError) as ei:
        RpcChain(anvil_node.url, account=key)
    assert key not in str(ei.value) and "ZKML_PRIVATE_KEY" in ei.value.hint
    monkeypatch.setenv("ZKML_PRIVATE_KEY", "not-a-key-" + "cd" * 10)
    with pytest.raises(errors.ChainError) as ei:
        RpcChain(anvil_node.url)
    assert "cd" * 10 not in str(ei.value) and ei.value.__cause__ is None


@pytest.mark.requires_anvil
def test_env_private_key_deploys(anvil_node, monkeypatch, contracts, mlp_proof):
    # anvil's first well-known dev key, funded at genesis
    monkeypatch.setenv("ZKML_PRIVATE_KEY", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
    chain = RpcChain(anvil_node.url)
    assert chain.local is not None and chain.account == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert chain.verify(chain.deploy(contracts[False]), mlp_proof)


# the application contract
@pytest.fixture(scope="session")
def registry():
    return zkml.evm.app_contract("VerifiedOutputRegistry")


def _deploy_registry(chain, registry, verifier, threshold=None):
    model_id = b"\x11" * 32
    return chain.deploy_code(
        registry["bytecode"],
        registry["abi"],
        [verifier, 0, 0 if threshold is None else threshold, threshold is not None, model_id],
    )


def _submit(chain, registry, address, proof):
    from zkml.evm import function_calldata

    instances = [int.from_bytes(bytes.fromhex(h), "little") for col in proof.instances for h in col]
    return chain.transact(address, function_calldata(registry["abi"], "submit", [proof.proof, instances]))


def test_registry_records_verified_outputs(chain, registry, contracts, mlp_proof, mlp_circuit):
    from zkml.evm import decode_output, function_calldata

    verifier = chain.deploy(contracts[False])
    app = _deploy_registry(chain, registry, verifier)
    res = _submit(chain, registry, app, mlp_proof)
    assert res.ok, res.reason
    scale = mlp_circuit.settings["model_output_scales"][0]
    (out,) = decode_output(registry["abi"], "submit", res.output)
    assert out / 2**scale == pytest.approx(mlp_proof.outputs[0].reshape(-1)[0])
    count = chain.transact(app, function_calldata(registry["abi"], "count"))
    assert decode_output(registry["abi"], "count", count.output) == (1,)
    flipped = bytearray(mlp_proof.proof)
    flipped[7] ^= 1
    bad = _submit(chain, registry, app, _with(mlp_proof, data=bytes(flipped)))
    assert not bad.ok


def test_registry_threshold(chain, registry, contracts, mlp_proof, mlp_circuit):
    scale = mlp_circuit.settings["model_output_scales"][0]
    first = int(round(mlp_proof.outputs[0].reshape(-1)[0] * 2**scale))
    verifier = chain.deploy(contracts[False])
    assert _submit(chain, registry, _deploy_registry(chain, registry, verifier, threshold=first), mlp_proof).ok
    high = _submit(chain, registry, _deploy_registry(chain, registry, verifier, threshold=first + 1), mlp_proof)
    assert not high.ok


@pytest.mark.requires_anvil
def test_keystore_account(anvil_node, monkeypatch, tmp_path, contracts, mlp_proof):
    from eth_account import Account

    key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil's second dev key
    (tmp_path / "ks.json").write_text(json.dumps(Account.encrypt(key, "s3cret")))
    monkeypatch.delenv("ZKML_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("ZKML_KEYSTORE", str(tmp_path / "ks.json"))
    monkeypatch.setenv("ZKML_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(errors.ChainError, match="decrypt") as ei:
        RpcChain(anvil_node.url)
    assert "s3cret" not in str(ei.value) and "wrong" not in str(ei.value)
    assert "ValueError" in str(ei.value)  # which failure it was, without the cause's text
    (tmp_path / "not-v3.json").write_text("this is not a keystore")
    monkeypatch.setenv("ZKML_KEYSTORE", str(tmp_path / "not-v3.json"))
    with pytest.raises(errors.ChainError, match="decrypt"):
        RpcChain(anvil_node.url)
    monkeypatch.setenv("ZKML_KEYSTORE", str(tmp_path / "ks.json"))
    monkeypatch.setenv("ZKML_KEYSTORE_PASSWORD", "s3cret")
    chain = RpcChain(anvil_node.url)
    assert chain.account == Account.from_key(key).address
    assert chain.verify(chain.deploy(contracts[False]), mlp_proof)
