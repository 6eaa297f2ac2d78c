"""Gas of verifyProof for the tiny MLP and tiny CNN of the tests, per-model and reusable verifier,
on the in-process EVM (pyrevm, Cancun) and on anvil (--hardfork cancun). Medians of several proofs.

    python -m benchmarks gas      -> benchmarks/results/gas.json and gas.md
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from .report import write_results


def _models():
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import zkml
    from conftest import tiny_cnn, tiny_mlp

    rng = np.random.default_rng(0)
    mlp = zkml.export(tiny_mlp(), torch.zeros(1, 4))
    cnn = zkml.export(tiny_cnn(), torch.zeros(1, 1, 6, 6))
    return {"tiny_mlp": (mlp, rng.normal(size=(16, 4))), "tiny_cnn": (cnn, rng.uniform(0, 1, size=(8, 1, 1, 6, 6)))}


def run(repeats: int = 3) -> dict:
    import zkml
    import zkml.internals
    from zkml.evm import InProcessChain, RpcChain, anvil

    rows = []
    with anvil() as node:
        for name, (model, cal) in _models().items():
            keys = zkml.compile(model, cal).setup()
            proofs = [keys.prove(cal[i]) for i in range(repeats)]
            for reusable in (False, True):
                contract = zkml.verifier_contract(keys.vk, reusable=reusable)
                for chain_name, chain in (("pyrevm", InProcessChain()), ("anvil", RpcChain(node.url))):
                    address = chain.deploy(contract)
                    gas = []
                    for p in proofs:
                        res = chain.verify(address, p)
                        assert res, res.reason
                        gas.append(res.gas_used)
                    rows.append(
                        {
                            "model": name,
                            "verifier": "reusable" if reusable else "per-model",
                            "chain": chain_name,
                            "logrows": keys.circuit.logrows,
                            "deployed_bytes": contract.deployed_size,
                            "gas_median": int(statistics.median(gas)),
                            "gas_all": gas,
                        }
                    )
    return {"benchmark": "verifyProof gas", "ezkl": zkml.internals.ezkl_version(), "rows": rows}


def table(result: dict) -> str:
    lines = [
        "| model | verifier | chain | logrows | deployed bytes | verify gas (median) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['model']} | {r['verifier']} | {r['chain']} | {r['logrows']} | {r['deployed_bytes']:,} | {r['gas_median']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    os.environ.setdefault("ZKML_HOME", tempfile.mkdtemp(prefix="zkml-bench-"))
    result = run()
    write_results("gas", result, table(result))


if __name__ == "__main__":
    main()
