"""`make demo`: a zoo model proved end to end, verified off-chain and on an in-process EVM.

The digits MLP (models/digits_mlp: trained on scikit-learn's digits, exported with zkml.export)
is compiled, set up, proved on a held-out image, verified off-chain and by its Solidity verifier
on pyrevm. A second run reuses the cached circuit and keys, and says so.
"""

import time

import _path  # noqa: F401
import numpy as np

import zkml
from models import zoo

NAME = "digits_mlp"


def main() -> int:
    t = {}
    t0 = time.perf_counter()
    model, calibration, image, meta = zoo.load(NAME)
    t["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    circuit = zoo.compile_zoo(NAME)
    t["compile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    keys = circuit.setup()
    t["setup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    proof = keys.prove(image)
    t["prove"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    offchain = zkml.verify(proof, keys.vk)
    t["verify"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    chain = zkml.evm.InProcessChain()
    contract = zkml.verifier_contract(keys.vk)
    address = chain.deploy(contract)
    onchain = chain.verify(address, proof)
    t["evm"] = time.perf_counter() - t0

    label = int(np.argmax(offchain.outputs[0]))
    cached = circuit.cached and keys.cached
    print(f"zkml demo: {NAME} ({meta['dataset']})")
    print(f"  model        {model}")
    print(
        f"  accuracy     float model {meta['float_test_accuracy']:.1%} on {meta['test_rows']} held-out digits "
        f"(recorded at training, models/{NAME}/metadata.json); circuit agrees with it on "
        f"{circuit.report.top1_agreement:.1%} of {circuit.report.samples} calibration digits (measured at compile)"
    )
    print(f"  circuit      2^{circuit.logrows} rows ({circuit.num_rows} used), {circuit.visibility}")
    print(f"  proof        {len(proof.proof)} bytes, public label {label}, input kept private, model id {keys.id[:16]}")
    print(f"  off-chain    {'valid' if offchain else 'INVALID: ' + str(offchain.reason)}")
    print(
        f"  on-chain     {'accepted' if onchain else 'REJECTED: ' + str(onchain.reason)} by {contract.name} "
        f"({contract.deployed_size:,} bytes) on pyrevm, gas {onchain.gas_used:,}"
    )
    print("  time         " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    print(
        f"  cache        {'reused the cached circuit and keys (second run)' if cached else 'built circuit and keys; the next run reuses them'}"
        f" in {zkml.zkml_home()}"
    )
    if keys.dev_srs:
        print(
            "  WARNING      INSECURE dev SRS (generated locally): fine for a demo, not for production; "
            "use circuit.setup(srs='ceremony.srs')"
        )
    return 0 if offchain and onchain else 1


if __name__ == "__main__":
    raise SystemExit(main())
