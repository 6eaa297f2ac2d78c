"""Compile Solidity with npm's solc-js (pinned in package.json): legacy pipeline, optimizer on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ContractError, DependencyError
from ..support.checkout import find_upwards

DEFAULT_EVM_VERSION = "cancun"  # accepted by pyrevm (CANCUN) and by anvil --hardfork cancun
EIP170_LIMIT = 24_576
_JS = Path(__file__).with_name("solc_compile.js")


def node_modules() -> Path:
    """Find the project's node_modules: $ZKML_NODE_MODULES, then upwards from the cwd and from this package."""
    env = os.environ.get("ZKML_NODE_MODULES")
    if env and (Path(env) / "solc" / "package.json").is_file():
        return Path(env)
    found = find_upwards("node_modules/solc/package.json")
    if found is not None:
        return found.parents[1]
    raise DependencyError(
        "npm's solc (solc-js) is not installed",
        stage="contract",
        hint="run `npm ci` in the zkml checkout (make test/demo do it), or set ZKML_NODE_MODULES",
    )


def solc_version() -> str:
    return json.loads((node_modules() / "solc" / "package.json").read_text())["version"]


def compile_solidity(
    source: str,
    *,
    filename: str = "Verifier.sol",
    evm_version: str = DEFAULT_EVM_VERSION,
    optimizer_runs: int = 1,
    extra_sources: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Return ``{contract_name: {"abi", "bytecode", "deployed_bytecode"}}`` for every contract in ``filename``."""
    node = shutil.which("node")
    if node is None:
        raise DependencyError(
            "Node.js is not installed", stage="contract", hint="install Node.js 18+ (it runs solc-js)"
        )
    sources = {filename: {"content": source}, **{k: {"content": v} for k, v in (extra_sources or {}).items()}}
    std_in = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": optimizer_runs},
            "evmVersion": evm_version,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    try:
        proc = subprocess.run(
            [node, str(_JS), str(node_modules() / "solc")],
            input=json.dumps(std_in),
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as err:
        raise ContractError(
            "solc-js did not finish within 10 minutes", where=filename, hint="check the contract size"
        ) from err
    if proc.returncode != 0:
        raise ContractError(f"solc-js failed: {proc.stderr.strip()[-500:]}", where=filename, hint="run `npm ci` again")
    try:
        out = json.loads(proc.stdout)
    except ValueError as err:
        raise ContractError(
            f"solc-js printed no JSON: {proc.stdout[:300]}", where=filename, hint="run `npm ci` again"
        ) from err
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        msg = "; ".join(e.get("formattedMessage", e.get("message", "")).strip() for e in errors)[:1500]
        raise ContractError(
            f"the Solidity compiler rejected the contract: {msg}",
            where=filename,
            hint="fix the contract source; for a generated verifier report it as a zkml bug",
        )
    result = {}
    for name, c in out.get("contracts", {}).get(filename, {}).items():
        result[name] = {
            "abi": c["abi"],
            "bytecode": bytes.fromhex(c["evm"]["bytecode"]["object"]),
            "deployed_bytecode": bytes.fromhex(c["evm"]["deployedBytecode"]["object"]),
        }
    if not result:
        raise ContractError("the source defines no contract", where=filename, hint="check the Solidity source")
    return result
