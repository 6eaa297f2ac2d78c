"""Subcommands that build contracts and talk to chains: contract, deploy, verify-onchain (a read), record-onchain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import _dev_warning, _emit, _json_opt, _State

_rpc_opt = click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True,
                        help="JSON-RPC node; repeat for failover [env: ZKML_RPC_URL, comma-separated]; default: an in-process EVM.")
_quorum_opt = click.option("--quorum", default=1, show_default=True, type=int,
                           help="Accept a verification only when this many endpoints agree.")
_prod_opt = click.option("--production", is_flag=True,
                         help="Refuse keys made with an INSECURE dev SRS or an SRS whose digest was not pinned.")
_evm_opt = click.option("--evm-version", default="cancun", show_default=True,
                        help="EVM version the verifier is compiled for: one every chain you target accepts.")


def _contract_from(path: str, reusable: bool, production: bool, evm_version: str):
    """A contract directory from `prove-model contract`, or keys / verifying-key directory to generate one from."""
    import zkml

    p = Path(path)
    if (p / "contract.json").exists():
        c = zkml.VerifierContract.load(p)
        if production and c.dev_srs:
            from ..errors import ContractError

            raise ContractError("refusing to deploy a verifier made from an INSECURE dev SRS with --production", where=p,
                                hint="run setup with --srs FILE (a ceremony SRS) and generate the contract again")
        return c
    return zkml.verifier_contract(p, reusable=reusable, production=production, evm_version=evm_version)


@click.command("contract")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="A directory, or a .sol path (artifact goes beside it).")
@click.option("--reusable", is_flag=True, help="ezkl's shared verifier plus this model's VKA (smaller; one deployment per chain).")
@_evm_opt
@_prod_opt
@_json_opt
@click.pass_obj
def contract_cmd(st: _State, keys: str, output: str, reusable: bool, evm_version: str, production: bool, as_json: bool) -> None:
    """Generate and compile (solc-js) the Solidity verifier for KEYS."""
    from ..support.files import atomic_write_text

    with st.stage("contract"):
        c = _contract_from(keys, reusable, production, evm_version)
    out = Path(output)
    if out.suffix == ".sol":
        atomic_write_text(out, c.source)
        art = c.save(out.with_suffix(".contract"))
    else:
        art = c.save(out)
    info = {"ok": True, "name": c.name, "reusable": c.reusable, "deployed_size": c.deployed_size, "artifact": str(art),
            "source": str(out if out.suffix == ".sol" else art / f"{c.name}.sol"), "dev_srs": c.dev_srs, "timings": st.timings}
    _emit(as_json, info, [f"wrote {info['source']} ({c.name}, {c.deployed_size:,} bytes deployed, limit 24,576)",
                          f"  artifact  {art} (abi, bytecode{', vka' if c.reusable else ''})", *_dev_warning(c.dev_srs)])


@click.command("deploy")
@click.argument("contract", type=click.Path(file_okay=False))
@click.option("--reusable", is_flag=True, help="When CONTRACT is a keys directory: deploy the reusable verifier.")
@_evm_opt
@_rpc_opt
@_prod_opt
@_json_opt
@click.pass_obj
def deploy_cmd(st: _State, contract: str, reusable: bool, evm_version: str, rpc_url: tuple[str, ...], production: bool,
               as_json: bool) -> None:
    """Deploy a verifier (a contract directory, or keys to generate one from) to --rpc-url.

    A transaction: the sending account comes from $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD),
    else the node's first unlocked account. Never from an argument.
    """
    from ..errors import ChainError
    from ..evm import RpcChain

    if not rpc_url:
        raise ChainError("deploy needs a node: an in-process chain forgets everything when this command exits",
                         where="--rpc-url", hint="pass --rpc-url URL (or ZKML_RPC_URL); `verify-onchain` without a URL deploys and verifies in-process")
    c = _contract_from(contract, reusable, production, evm_version)
    with st.stage("deploy"):
        chain = RpcChain(list(rpc_url))
        address = chain.deploy(c)
    info = {"ok": True, "address": address, "chain_id": chain.chain_id, "rpc_url": chain.url, "reusable": c.reusable,
            "sender": chain.account, "model_id": c.meta.get("model_id"), "dev_srs": c.dev_srs, "timings": st.timings}
    _emit(as_json, info, [f"deployed {c.name} at {address} (chain {chain.chain_id})", *_dev_warning(c.dev_srs)])


@click.command("verify-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--address", help="Verifier address (needed with --rpc-url).")
@click.option("--vk", "vk_dir", type=click.Path(file_okay=False),
              help="Keys or verifying-key directory: builds the contract and decodes the outputs.")
@click.option("--contract", "contract_dir", type=click.Path(file_okay=False), help="Contract directory from `prove-model contract`.")
@click.option("--reusable", is_flag=True, help="Use the reusable verifier.")
@_evm_opt
@click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True,
              help="JSON-RPC node(s); repeat for failover [env: ZKML_RPC_URL, comma-separated]. With it: one eth_call to the "
                   "verifier at --address, a read that needs no account and spends no gas. Without it: the contract is "
                   "deployed to an in-process EVM (pyrevm) and called there.")
@_quorum_opt
@_json_opt
@click.pass_obj
def verify_onchain_cmd(st: _State, proof: str, address: str | None, vk_dir: str | None, contract_dir: str | None,
                       reusable: bool, evm_version: str, rpc_url: tuple[str, ...], quorum: int, as_json: bool) -> None:
    """Verify PROOF with a verifier contract (a read). Without --rpc-url: deploy and verify on an in-process EVM."""
    from ..errors import ChainError
    from ..evm import InProcessChain, RpcChain
    from ..keys.keys import VerifyingKey
    from ..proof.proof import Proof

    vk = VerifyingKey.load(vk_dir) if vk_dir else None
    p = Proof.load(proof, vk=vk)
    source = contract_dir or vk_dir
    c = _contract_from(source, reusable, False, evm_version) if source else None
    if c is not None and vk is not None and c.meta.get("model_id") != vk.id:
        raise ChainError("the contract was made for another model than --vk", stage="verify", where=contract_dir or vk_dir,
                         hint="generate the contract from this verifying key (prove-model contract KEYS)")
    wrong = []
    if vk is not None:
        from ..proof.proof import disagreements

        wrong = disagreements(p.meta, vk)
    if wrong:  # a falsy verdict, as zkml.verify gives: the chain is not asked
        info = {"ok": False, "reason": f"the proof file's metadata disagrees with --vk on {', '.join(wrong)}",
                "gas_used": None, "tx_hash": None, "address": address, "chain": "rpc" if rpc_url else "in-process",
                "outputs": [], "timings": st.timings}
        _emit(as_json, info, [f"REJECTED: {info['reason']}"])
        sys.exit(1)
    with st.stage("verify-onchain"):
        if rpc_url:
            if not address:
                raise ChainError("--address is needed with --rpc-url", where="--address", hint="pass the address printed by `prove-model deploy`")
            chain = RpcChain(list(rpc_url), quorum=quorum)
            if c is not None and chain.code_at(address) != c.deployed_bytecode:
                # outputs decoded with --vk mean something only if the contract there is this key's verifier
                raise ChainError(f"the code at {address} is not the verifier built from --vk/--contract", stage="verify",
                                 where=address, hint="pass the address of this model's verifier (prove-model deploy prints it)")
        else:
            if c is None:
                raise ChainError("the in-process chain needs the contract to deploy", where="--vk/--contract",
                                 hint="pass --vk KEYS_DIR (or --contract DIR), or --rpc-url and --address for a deployed verifier")
            chain = InProcessChain()
            address = chain.deploy(c)
        res = chain.verify(address, p, contract=c)
    # outputs: the reusable verifier returns them; otherwise they are decoded with --vk, never from the proof file
    outputs = res.outputs or ([o.tolist() for o in p.outputs] if vk is not None and res else [])
    info = {"ok": bool(res), "reason": res.reason, "gas_used": res.gas_used, "tx_hash": res.tx_hash, "address": address,
            "chain": "rpc" if rpc_url else "in-process", "outputs": outputs, "timings": st.timings}
    word = "accepted" if res else f"REJECTED: {res.reason}"
    unchecked = ["  note      the code at this address was not compared with a verifier you trust: pass --vk"] if rpc_url and c is None else []
    info["code_checked"] = not unchecked
    _emit(as_json, info, [f"{word} by {address} on {info['chain']} chain (a read: no transaction)", *unchecked,
                          f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a",
                          f"  outputs   {outputs if outputs else '(pass --vk to decode them)'}"])
    if not res:
        sys.exit(1)


@click.command("record-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--registry", required=True, help="Address of a VerifiedOutputRegistry (it verifies the proof, then records its output).")
@click.option("--rpc-url", "rpc_url", envvar="ZKML_RPC_URL", multiple=True, required=True,
              help="JSON-RPC node(s) [env: ZKML_RPC_URL]. Required: recording is a transaction, and an in-process chain forgets it.")
@_json_opt
@click.pass_obj
def record_onchain_cmd(st: _State, proof: str, registry: str, rpc_url: tuple[str, ...], as_json: bool) -> None:
    """Record PROOF's verified output on chain: a transaction through a VerifiedOutputRegistry.

    Needs an account: $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD), else the node's first
    unlocked account. Never from an argument. To only check a proof, use verify-onchain (a read).
    """
    from ..evm import RpcChain
    from ..proof.proof import Proof

    p = Proof.load(proof)
    with st.stage("record-onchain"):
        chain = RpcChain(list(rpc_url))
        res = chain.record(registry, p)
    info = {"ok": res.ok, "reason": res.reason, "gas_used": res.gas_used, "tx_hash": res.tx_hash, "registry": registry,
            "sender": chain.account if res.tx_hash else None, "timings": st.timings}
    _emit(as_json, info, [f"{'recorded' if res.ok else 'NOT recorded: ' + str(res.reason)} by {registry} (tx {res.tx_hash})",
                          f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a"])
    if not res.ok:
        sys.exit(1)
