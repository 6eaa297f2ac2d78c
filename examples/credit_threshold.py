"""Prove that a private applicant's credit score passes a public threshold, and have a contract accept it.

The applicant's features stay private. The model's score (a logit) is public; the application
contract (circuits/contracts/VerifiedOutputRegistry.sol) verifies the proof through the generated
verifier and accepts it only if the score is at or above its threshold.

    python examples/credit_threshold.py                 # in-process EVM
    python examples/credit_threshold.py --rpc-url URL   # a real node (e.g. anvil)
"""

import argparse
import json

import _path  # noqa: F401

import zkml
from models import zoo
from zkml.evm import InProcessChain, RpcChain, app_contract, decode_output

THRESHOLD = 0.0  # the application accepts scores (logits) at or above this
OUTPUT_INDEX = 0  # the score is the first public instance


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rpc-url")
    args = ap.parse_args(argv)
    model, calibration, applicant, _ = zoo.load("credit_logreg")
    circuit = zoo.compile_zoo("credit_logreg")
    keys = circuit.setup()
    proof = keys.prove(applicant)
    score = float(proof.outputs[0].reshape(-1)[0])
    print(f"score (public): {score:.3f}")

    chain = RpcChain(args.rpc_url) if args.rpc_url else InProcessChain()
    verifier = chain.deploy(zkml.verifier_contract(keys.vk))
    registry = app_contract("VerifiedOutputRegistry")
    scale = circuit.settings["model_output_scales"][0]
    threshold = int(round(THRESHOLD * 2**scale))
    # the registry records outputs under the model's id: its verifying key's identity
    app = chain.deploy_code(
        registry["bytecode"], registry["abi"], [verifier, OUTPUT_INDEX, threshold, True, bytes.fromhex(keys.id)]
    )
    res = chain.record(app, proof)  # a transaction: the registry verifies the proof, then records the score
    if res.ok:
        (recorded,) = decode_output(registry["abi"], "submit", res.output)
        print(
            f"accepted by the application contract on {chain.name}: recorded score {recorded / 2**scale:.3f}, gas {res.gas_used}"
        )
    else:
        print(f"refused by the application contract: {res.reason}")
    print(json.dumps({"accepted": res.ok, "score": score, "gas_used": res.gas_used}))
    return 0 if res.ok == (score >= THRESHOLD) else 1


if __name__ == "__main__":
    raise SystemExit(main())
