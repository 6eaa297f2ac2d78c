"""``write_page()``: a static folder that verifies a model's proofs in the browser, with its own verifier contract.

    zkml.page.write_page("model.car", "site/")      # or a keys / verifying-key directory, Keys, VerifyingKey, Bundle

The folder holds ``index.html`` (with the model's data inline, so it also works from ``file://``), ``verify.js``
(the in-browser EVM, bundled) and ``model.json`` (the same data, for tools). Every number the page decodes with
(instance layout, shapes, scales) is computed here from the authenticated verifying key, never from a proof file.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, ContractError
from ..evm import EIP170_LIMIT, VerifierContract, verifier_contract
from ..keys.keys import VerifyingKey
from ..proof.proof import CLAIMED_FIELDS, FIELD_MODULUS, claims_of, key_layout, key_visibility
from ..support.files import atomic_write_bytes, atomic_write_text
from ..verifier.bundles import Bundle
from ..verifier.verification import as_vk
from ._script import SCRIPT_NAME, page_script

PAGE_FORMAT = 1
_TEMPLATE = Path(__file__).with_name("index.html")


def load_source(source: Any) -> tuple[VerifyingKey, str]:
    """(verifying key, default page name) from a bundle (.car), a keys or vk directory, Keys, VerifyingKey or Bundle."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_file():
            return Bundle.load(p).verifying_key(), p.stem
        if not p.exists():
            raise ArtifactError("no bundle or key directory at this path", stage="page", where=p,
                                hint="pass a bundle (.car) from prove-model bundle, or a keys / verifying-key directory")
        name = p.resolve().parent.name if p.name == "vk" else p.resolve().name
        return VerifyingKey.load(p), name
    vk = as_vk(source)
    return vk, vk.id[:12]


def page_contract(vk: VerifyingKey, reusable: bool | None = None) -> VerifierContract:
    """The verifier the page runs: the per-model one, or (``reusable=None``) ezkl's reusable verifier with this
    model's VKA when the per-model one is over EIP-170 — the contract this model would use on a chain."""
    if reusable is not None:
        return verifier_contract(vk, reusable=reusable)
    try:
        return verifier_contract(vk)
    except ContractError as err:
        if err.where != "deployed_bytecode":  # only the EIP-170 refusal has a chain-side answer
            raise
        return verifier_contract(vk, reusable=True)


def page_data(vk: VerifyingKey, contract: VerifierContract, name: str) -> dict:
    """What the page knows about the model: identity, visibility, the verifier's code, and how to decode outputs."""
    settings = vk.settings
    inputs, outputs = vk.meta["inputs"], vk.meta["outputs"]
    layout = key_layout(settings, len(inputs), len(outputs))
    claims = json.loads(json.dumps(claims_of(vk)))
    in_scales, out_scales = settings.get("model_input_scales", []), settings.get("model_output_scales", [])
    return {
        "zkml_page": PAGE_FORMAT,
        "name": name,
        "model_id": vk.id,
        "model_sha256": vk.model_hash,
        "vk_sha256": vk.sha256,
        "bundle_cid": vk.core_cid,
        "dev_srs": vk.dev_srs,
        "srs": dict(vk.meta["srs"]),
        "visibility": key_visibility(settings),
        "verifier": {
            "name": contract.name,
            "reusable": contract.reusable,
            "bytecode": "0x" + contract.bytecode.hex(),
            "deployed_size": contract.deployed_size,
            "eip170_limit": EIP170_LIMIT,
            "vka": ["0x" + w.hex() for w in contract.vka] if contract.reusable and contract.vka else None,
            "solc_version": contract.meta.get("solc_version"),
            "evm_version": contract.meta.get("evm_version"),
        },
        "decode": {
            "field_modulus": str(FIELD_MODULUS),
            "layout": layout,
            "instances": sum(layout.values()),
            "visibility": key_visibility(settings),
            "inputs": [{"name": s["name"], "shape": list(s["shape"]), "scale": int(sc)} for s, sc in zip(inputs, in_scales)],
            "outputs": [{"name": s["name"], "shape": list(s["shape"]), "scale": int(sc)} for s, sc in zip(outputs, out_scales)],
        },
        # a proof file whose own "zkml" section disagrees with these is refused, as zkml.verify refuses it
        "claims": {k: claims[k] for k in CLAIMED_FIELDS},
    }


def render_index(data: dict) -> str:
    # inline JSON: "<" escaped so no value (the model's name) can close the script element
    blob = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _TEMPLATE.read_text().replace("{{TITLE}}", html.escape(data["name"])).replace("{{MODEL_JSON}}", blob)


def write_page(source: Any, out_dir: str | os.PathLike, *, name: str | None = None, reusable: bool | None = None) -> Path:
    """Write the static verification site for ``source`` (a bundle .car, a keys / vk directory, Keys, VerifyingKey
    or Bundle) into ``out_dir``: ``index.html``, ``verify.js`` and ``model.json``, with relative paths only.

    Needs Node.js and the checkout's node_modules (solc-js compiles the verifier, esbuild bundles the script).
    Returns the path of ``index.html``.
    """
    vk, default_name = load_source(source)
    contract = page_contract(vk, reusable)
    data = page_data(vk, contract, name or default_name)
    script = page_script()
    out = Path(out_dir)
    atomic_write_bytes(out / SCRIPT_NAME, script)
    atomic_write_text(out / "model.json", json.dumps(data, indent=1) + "\n")
    return atomic_write_text(out / "index.html", render_index(data))
