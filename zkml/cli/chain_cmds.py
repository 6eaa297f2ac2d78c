"""Subcommands that build contracts and talk to chains: contract, deploy, verify-onchain (a read), record-onchain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import _dev_warning, _emit, _json_opt, _State

_rpc_opt = click.option(
    "--rpc-url",
    "rpc_url",
    envvar="ZKML_RPC_URL",
    multiple=True,
    help="JSON-RPC node; repeat for failover [env: ZKML_RPC_URL, comma-separated]. Required: an "
    "in-process EVM forgets the deployment when the command exits (verify-onchain without a URL "
    "deploys and verifies in-process).",
)
_quorum_opt = click.option(
    "--quorum",
    default=1,
    show_default=True,
    type=int,
    help="Accept a verification only when this many endpoints agree.",
)
_prod_opt = click.option(
    "--production",
    is_flag=True,
    help="Refuse keys made with an INSECURE dev SRS or an SRS whose digest was not pinned.",
)
_evm_opt = click.option(
    "--evm-version",
    default="cancun",
    show_default=True,
    help="EVM version the verifier is compiled for: one every chain you target accepts.",
)
_weights_opt = click.option(
    "--weights-commitment",
    "weights_commitment",
    help="Committed weights: the published fingerprint (prove-model commit). The contract then "
    "checks on chain that a proof was made with those weights; a key directory that pins "
    "one (weights.json) pins it too.",
)


def _contract_from(
    path: str, reusable: bool, production: bool, evm_version: str, weights_commitment: str | None = None
):
    """A contract directory from `prove-model contract`, or keys / verifying-key directory to generate one from
    (any kind: single or split, fixed or committed weights; a fingerprint pins the weights on chain)."""
    import zkml

    p = Path(path)
    if (p / "contract.json").exists():
        c = zkml.VerifierContract.load(p)
        if production and c.dev_srs:
            from ..errors import ContractError

            raise ContractError(
                "refusing to deploy a verifier made from an INSECURE dev SRS with --production",
                where=p,
                hint="run setup with --srs FILE (a ceremony SRS) and generate the contract again",
            )
        if weights_commitment is not None and c.weights_commitment is None:
            c = c.pin_weights(weights_commitment)
        return c
    return zkml.verifier_contract(
        p, reusable=reusable, production=production, evm_version=evm_version, weights_commitment=weights_commitment
    )


def _kind_words(c) -> str:
    """What kind of model the contract verifies, in words ("" for a single model with fixed weights)."""
    split = [f"{len(c.segments)} segments"] if c.segments else []
    weights = (
        ["weights pinned on chain"]
        if c.weights_commitment
        else (["committed weights, not pinned"] if c.committed else [])
    )
    return ", ".join(split + weights)


@click.command("contract")
@click.argument("keys", type=click.Path(file_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="A directory, or a .sol path (artifact goes beside it)."
)
@click.option(
    "--reusable", is_flag=True, help="ezkl's shared verifier plus this model's VKA (smaller; one deployment per chain)."
)
@_evm_opt
@_prod_opt
@_weights_opt
@_json_opt
@click.pass_obj
def contract_cmd(
    st: _State,
    keys: str,
    output: str,
    reusable: bool,
    evm_version: str,
    production: bool,
    weights_commitment: str | None,
    as_json: bool,
) -> None:
    """Generate and compile (solc-js) the Solidity verifier for KEYS.

    A split model's contract is a SplitVerifier over every segment's verifier (deploy puts them all on chain)."""
    from ..support.files import atomic_write_text

    with st.stage("contract"):
        c = _contract_from(keys, reusable, production, evm_version, weights_commitment)
    out = Path(output)
    if out.suffix == ".sol":
        atomic_write_text(out, c.source)
        art = c.save(out.with_suffix(".contract"))
    else:
        art = c.save(out)
    sizes = [s.deployed_size for s in c.segments]
    info = {
        "ok": True,
        "name": c.name,
        "reusable": c.reusable,
        "deployed_size": c.deployed_size,
        "artifact": str(art),
        "source": str(out if out.suffix == ".sol" else art / f"{c.name}.sol"),
        "dev_srs": c.dev_srs,
        "model_id": c.model_id,
        "key_id": c.key_id,
        "segments": len(c.segments) or 1,
        "segment_sizes": sizes,
        "weights_commitment": c.weights_commitment,
        "committed": c.committed,
        "timings": st.timings,
    }
    kind = _kind_words(c)
    lines = [
        f"wrote {info['source']} ({c.name}, {kind + ', ' if kind else ''}{c.deployed_size:,} bytes deployed, limit 24,576)",
        f"  artifact  {art} (abi, bytecode{', vka' if c.reusable else ''}{', segNNN/ per segment' if sizes else ''})",
        f"  model id  {c.model_id}",
    ]
    if sizes:
        lines.append(f"  segments  {', '.join(f'{n:,}' for n in sizes)} bytes deployed")
    if c.committed and not c.weights_commitment:
        lines.append(
            "  weights   NOT pinned: any weights of this architecture verify; pass --weights-commitment to pin them"
        )
    _emit(as_json, info, [*lines, *_dev_warning(c.dev_srs)])


@click.command("deploy")
@click.argument("contract", type=click.Path(file_okay=False))
@click.option("--reusable", is_flag=True, help="When CONTRACT is a keys directory: deploy the reusable verifier.")
@_evm_opt
@_rpc_opt
@_prod_opt
@_weights_opt
@_json_opt
@click.pass_obj
def deploy_cmd(
    st: _State,
    contract: str,
    reusable: bool,
    evm_version: str,
    rpc_url: tuple[str, ...],
    production: bool,
    weights_commitment: str | None,
    as_json: bool,
) -> None:
    """Deploy a verifier (a contract directory, or keys to generate one from) to --rpc-url.

    A transaction: the sending account comes from $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD),
    else the node's first unlocked account. Never from an argument.
    """
    from ..errors import ChainError
    from ..evm import RpcChain

    if not rpc_url:
        raise ChainError(
            "deploy needs a node: an in-process chain forgets everything when this command exits",
            where="--rpc-url",
            hint="pass --rpc-url URL (or ZKML_RPC_URL); `verify-onchain` without a URL deploys and verifies in-process",
        )
    c = _contract_from(contract, reusable, production, evm_version, weights_commitment)
    with st.stage("deploy"):
        chain = RpcChain(list(rpc_url))
        address = chain.deploy(c)
    info = {
        "ok": True,
        "address": address,
        "chain_id": chain.chain_id,
        "rpc_url": chain.url,
        "reusable": c.reusable,
        "sender": chain.account,
        "model_id": c.model_id,
        "key_id": c.key_id,
        "segments": len(c.segments) or 1,
        "weights_commitment": c.weights_commitment,
        "dev_srs": c.dev_srs,
        "timings": st.timings,
    }
    front = "CommittedWeightsVerifier in front of " if c.weights_commitment and not c.segments else ""
    kind = f" ({_kind_words(c)})" if _kind_words(c) else ""
    _emit(
        as_json,
        info,
        [
            f"deployed {front}{c.name}{kind} at {address} (chain {chain.chain_id})",
            f"  model id  {c.model_id}",
            *_dev_warning(c.dev_srs),
        ],
    )


@click.command("verify-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option("--address", help="Verifier address (needed with --rpc-url).")
@click.option(
    "--vk",
    "vk_dir",
    type=click.Path(file_okay=False),
    help="Keys or verifying-key directory (single or split): builds the contract and decodes the outputs.",
)
@click.option(
    "--contract",
    "contract_dir",
    type=click.Path(file_okay=False),
    help="Contract directory from `prove-model contract`.",
)
@click.option("--reusable", is_flag=True, help="Use the reusable verifier.")
@click.option(
    "--vk-id",
    help="The model id you trust (the statement: with committed weights it covers the weights "
    "fingerprint; the bare key id pins the architecture only): another one is refused.",
)
@click.option(
    "--weights-commitment",
    "weights_commitment",
    help="Committed weights: accept only a proof made with the weights of this published fingerprint, read "
    "from the proof bytes sent as calldata (in-process, also checked on chain by a CommittedWeightsVerifier).",
)
@_evm_opt
@click.option(
    "--rpc-url",
    "rpc_url",
    envvar="ZKML_RPC_URL",
    multiple=True,
    help="JSON-RPC node(s); repeat for failover [env: ZKML_RPC_URL, comma-separated]. With it: one eth_call to the "
    "verifier at --address, a read that needs no account and spends no gas. Without it: the contract is "
    "deployed to an in-process EVM (pyrevm) and called there.",
)
@_quorum_opt
@_json_opt
@click.pass_obj
def verify_onchain_cmd(
    st: _State,
    proof: str,
    address: str | None,
    vk_dir: str | None,
    contract_dir: str | None,
    reusable: bool,
    vk_id: str | None,
    weights_commitment: str | None,
    evm_version: str,
    rpc_url: tuple[str, ...],
    quorum: int,
    as_json: bool,
) -> None:
    """Verify PROOF with a verifier contract (a read). Without --rpc-url: deploy and verify on an in-process EVM.

    Every kind of model: a split proof is verified by its SplitVerifier in one call; with committed weights the
    verdict says whether the weights were checked (--weights-commitment, or a key that pins them)."""
    from ..errors import ChainError
    from ..evm import InProcessChain, RpcChain
    from ..keys.split import load_vk
    from ..proof.proof import Proof

    vk = load_vk(vk_dir, id=vk_id) if vk_dir else None
    if vk_id and not vk_dir:
        raise ChainError(
            "--vk-id pins the verifying key given with --vk", where="--vk-id", hint="pass --vk KEYS as well"
        )
    p = Proof.load(proof, vk=vk)
    pins = _pins(vk.weights_commitment if vk is not None else None, weights_commitment)
    pin = pins[0] if pins else None
    chain_name = "rpc" if rpc_url else "in-process"
    wrong = _claims_problem(p, vk) if vk is not None else None
    if len(pins) > 1:
        wrong = (
            "--weights-commitment is not the fingerprint that --vk pins: no proof can be made with both sets of weights"
        )
    # the contract for the statement; on the in-process chain the pinned weights are checked on chain too (the
    # reusable verifier takes no front: there they are compared with the calldata's bytes only)
    c = None
    if contract_dir:
        c = _contract_from(contract_dir, reusable, False, evm_version, None if rpc_url or wrong or reusable else pin)
    elif vk is not None and not wrong:
        import zkml

        c = zkml.verifier_contract(
            vk.pin_weights(None),
            reusable=reusable,
            evm_version=evm_version,
            weights_commitment=None if rpc_url or reusable else pin,
        )
    if c is not None and vk is not None and c.key_id != vk.key_id:
        raise ChainError(
            "the contract was made for another model than --vk",
            stage="verify",
            where=contract_dir or vk_dir,
            hint="generate the contract from this verifying key (prove-model contract KEYS)",
        )
    if wrong:  # a falsy verdict, as zkml.verify gives: the chain is not asked
        info = {
            "ok": False,
            "reason": wrong,
            "gas_used": None,
            "tx_hash": None,
            "address": address,
            "chain": chain_name,
            "outputs": [],
            "model_id": None,
            "timings": st.timings,
        }
        _emit(as_json, info, [f"REJECTED: {info['reason']}"])
        sys.exit(1)
    onchain_weights = bool(c is not None and c.weights_commitment)
    with st.stage("verify-onchain"):
        if rpc_url:
            if not address:
                raise ChainError(
                    "--address is needed with --rpc-url",
                    where="--address",
                    hint="pass the address printed by `prove-model deploy`",
                )
            chain = RpcChain(list(rpc_url), quorum=quorum)
            if c is not None:
                # outputs decoded with --vk mean something only if the contract there is this key's verifier
                c, onchain_weights = _deployed_as(chain, address, c, pins)
        else:
            if c is None:
                raise ChainError(
                    "the in-process chain needs the contract to deploy",
                    where="--vk/--contract",
                    hint="pass --vk KEYS_DIR (or --contract DIR), or --rpc-url and --address for a deployed verifier",
                )
            chain = InProcessChain()
            address = chain.deploy(c)
        res = chain.verify(address, p, contract=c, weights_commitment=pin)
    # outputs: the reusable verifier returns them; otherwise they are decoded with --vk, never from the proof file
    outputs = res.outputs or ([o.tolist() for o in p.decoded(vk).outputs] if vk is not None and res else [])
    info = {
        "ok": bool(res),
        "reason": res.reason,
        "gas_used": res.gas_used,
        "tx_hash": res.tx_hash,
        "address": address,
        "chain": chain_name,
        "outputs": outputs,
        "model_id": res.model_id,
        "key_id": res.key_id,
        "segments": len(p.segments) or 1,
        "weights_commitment": res.weights_commitment,
        "weights_checked": res.weights_checked,
        "weights_pinned": res.weights_pinned,
        "weights_checked_on_chain": bool(res.weights_checked and onchain_weights),
        "weights_note": res.weights_note,
        "timings": st.timings,
    }
    info["chain_asked"] = res.chain_asked
    unchecked = (
        ["  note      the code at this address was not compared with a verifier you trust: pass --vk"]
        if rpc_url and c is None
        else []
    )
    info["code_checked"] = not unchecked
    where = f"by {address} on {info['chain']} chain (a read: no transaction)"
    head = (
        f"accepted {where}"
        if res
        else f"REJECTED: {res.reason} ({where})"
        if res.chain_asked
        else f"REJECTED before asking {address} on {info['chain']} chain: {res.reason}"
    )
    lines = [head, *unchecked, f"  model id  {res.model_id or '(pass --vk to know which model this address verifies)'}"]
    if p.segments and res:
        lines.append(f"  segments  {len(p.segments)}, every one and every link checked in the same call")
    shown = outputs if outputs else ("(pass --vk to decode them)" if vk is None and res else "none")
    lines += [f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a", f"  outputs   {shown}"]
    if res.weights_note:
        where = " (on chain too)" if info["weights_checked_on_chain"] else ""
        lines.append(
            f"  weights   {res.weights_commitment[:18]}… {res.weights_note}{where if res.weights_checked else ''}"
        )
    _emit(as_json, info, lines)
    if not res:
        sys.exit(1)


def _pins(*given: str | None) -> list[str]:
    """The distinct weights fingerprints pinned (the key's, --weights-commitment's), normalised."""
    from ..errors import ChainError
    from ..proof.proof import read_fingerprint

    out = []
    for w in given:
        if w is None:
            continue
        w = read_fingerprint(w, ChainError, where="--weights-commitment", stage="verify")
        if w not in out:
            out.append(w)
    return out


def _claims_problem(p, vk) -> str | None:
    """Why the proof file's metadata disagrees with --vk (None: it agrees): for a split proof, every segment's."""
    from ..keys.split import SplitVerifyingKey
    from ..proof.proof import disagreements, read_commitments

    if bool(p.segments) != isinstance(vk, SplitVerifyingKey):
        return "a split proof needs a split model's --vk and the other way round"
    units = list(zip(p.segments, vk.segments)) if p.segments else [(p, vk)]
    if len(units) != len(getattr(vk, "segments", units)):
        return f"the proof has {len(p.segments)} segments, the model of --vk has {len(vk.segments)}"
    if p.segments:
        claimed = p.meta.get("model_id")
        if claimed is not None and claimed not in (vk.pin_weights(p.weights_commitment).id, vk.key_id):
            return f"the proof file says it was made for another model: {str(claimed)[:12]}, not {vk.id[:12]}"
    for i, (seg, key) in enumerate(units):
        wrong = disagreements(
            seg.meta, key, read_commitments(seg.proof, key.meta.get("commitments") or {}).get("params")
        )
        if wrong:
            where = f" (segment {i})" if p.segments else ""
            return f"the proof file's metadata disagrees with --vk on {', '.join(wrong)}{where}"
    return None


def _deployed_as(chain, address: str, c, pins: list):
    """The contract as deployed at ``address``: ``c`` itself, or (pinned weights) ``c`` with the committed-weights
    check for the pinned fingerprint in front. Anything else is refused. Returns (contract, weights on chain)."""
    from ..errors import ChainError

    try:
        chain.check_code(address, c)
        return c, bool(c.weights_commitment)
    except ChainError:
        if not pins or not c.committed or c.reusable:
            raise
    pinned = c.pin_weights(pins[0])
    chain.check_code(address, pinned)
    return pinned, True


@click.command("record-onchain")
@click.argument("proof", type=click.Path(dir_okay=False))
@click.option(
    "--registry",
    required=True,
    help="Address of a VerifiedOutputRegistry (it verifies the proof, then records its output).",
)
@click.option(
    "--rpc-url",
    "rpc_url",
    envvar="ZKML_RPC_URL",
    multiple=True,
    required=True,
    help="JSON-RPC node(s) [env: ZKML_RPC_URL]. Required: recording is a transaction, and an in-process chain forgets it.",
)
@_json_opt
@click.pass_obj
def record_onchain_cmd(st: _State, proof: str, registry: str, rpc_url: tuple[str, ...], as_json: bool) -> None:
    """Record PROOF's verified output on chain: a transaction through a VerifiedOutputRegistry.

    A split proof is refused (a registry verifies one proof; verify it with verify-onchain). Needs an account: $ZKML_PRIVATE_KEY or $ZKML_KEYSTORE (+ $ZKML_KEYSTORE_PASSWORD), else the node's first
    unlocked account. Never from an argument. To only check a proof, use verify-onchain (a read).
    """
    from ..evm import RpcChain
    from ..proof.proof import Proof

    p = Proof.load(proof)
    with st.stage("record-onchain"):
        chain = RpcChain(list(rpc_url))
        res = chain.record(registry, p)
    info = {
        "ok": res.ok,
        "reason": res.reason,
        "gas_used": res.gas_used,
        "tx_hash": res.tx_hash,
        "registry": registry,
        "sender": chain.account if res.tx_hash else None,
        "timings": st.timings,
    }
    _emit(
        as_json,
        info,
        [
            f"{'recorded' if res.ok else 'NOT recorded: ' + str(res.reason)} by {registry} (tx {res.tx_hash})",
            f"  gas       {res.gas_used:,}" if res.gas_used else "  gas       n/a",
        ],
    )
    if not res.ok:
        sys.exit(1)
