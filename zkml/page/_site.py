"""``write_page()``: a static folder that verifies a model's proofs in the browser, with its own verifier contract.

    zkml.page.write_page("model.car", "site/")      # or a keys / verifying-key directory, (Split)Keys, VerifyingKey, Bundle

The folder holds ``index.html`` (with the model's data inline, so it also works from ``file://``), ``verify.js``
(the in-browser EVM, bundled), ``model.json`` (the same data, for tools) and the SRS file(s) the keys were made
with (``kzg-<sha256 prefix>.srs``). Every number the page decodes with (instance layout, shapes, scales) is computed
here from the authenticated verifying key, never from a proof file. The SRS status (ceremony / pinned / unknown) is
not decided here: the page hashes the SRS file in the browser, checks that the deployed verifier was made with it
(the key constants its pairing uses, ``[1]_2`` and ``-[tau]_2``, read where ezkl's template puts them), and looks
the digest up in zkml's ceremony table (compiled into ``verify.js``) and the reader's ``#srs-sha256=`` pin; the
builder's ``srs_sha256`` is shown as the builder's claim. The page's root of trust is the folder itself (its
bytecode, script and data ship together): check its integrity, e.g. its IPFS CID.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from ..batch.common import own_fingerprint
from ..errors import ArtifactError, ContractError
from ..evm import EIP170_LIMIT, VerifierContract, verifier_contract
from ..keys.keys import Keys, VerifyingKey
from ..keys.split import SplitKeys, SplitVerifyingKey, load_keys, load_vk
from ..proof.proof import CLAIMED_FIELDS, FIELD_MODULUS, claims_of, key_layout, key_visibility
from ..support.files import atomic_write_bytes, atomic_write_text
from ..support.progress import accepts_progress, step
from ..verifier.bundles import Bundle
from ..verifier.verification import as_vk
from ._script import SCRIPT_NAME, page_script

PAGE_FORMAT = 2  # 2: a list of units (one, or every segment of a split model), links, the statement's fingerprint
_TEMPLATE = Path(__file__).with_name("index.html")
_GENERIC_NAMES = frozenset({"", "model", "models", "keys", "key", "vk", "bundle", "out", "site", "page", "proof"})
# the proof file's claims each unit compares; model_id is the statement's and is checked once, for the whole proof
_UNIT_CLAIMS = tuple(k for k in CLAIMED_FIELDS if k != "model_id")


def _own_weights(keys: Any) -> Any:
    """A Keys/SplitKeys source's statement: committed weights pinned to the fingerprint of the weights it holds."""
    return keys.vk.pin_weights(own_fingerprint(keys)) if keys.vk.committed else keys.vk


def load_source(source: Any) -> tuple[Any, str]:
    """(statement, default page name) from a bundle (.car), a keys or vk directory (single or split), Keys,
    SplitKeys, a (Split)VerifyingKey or a Bundle. A verifying key or bundle is taken with the fingerprint it pins;
    keys with committed weights pin the fingerprint of the weights they hold."""
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_file():
            b = Bundle.load(p)
            return b.verifying_key(), _name(p.stem, b.model_id)
        if not p.exists():
            raise ArtifactError(
                "no bundle or key directory at this path",
                stage="page",
                where=p,
                hint="pass a bundle (.car) from prove-model bundle, or a keys / verifying-key directory",
            )
        name = p.resolve().parent.name if p.name == "vk" else p.resolve().name
        if (p / "keys.json").is_file() or _is_split_keys(p):
            vk = _own_weights(load_keys(p))
        else:
            vk = load_vk(p)
        return vk, _name(name, vk.id)
    if isinstance(source, (Keys, SplitKeys)):
        vk = _own_weights(source)
    else:
        vk = as_vk(source)
    return vk, _name("", vk.id)


def _is_split_keys(p: Path) -> bool:
    try:
        return json.loads((p / "split.json").read_text()).get("kind") == "split_keys"
    except (OSError, ValueError, AttributeError):
        return False


def _name(stem: str, model_id: str) -> str:
    """A file or folder name says which model it is unless it is a generic one ("model.car", "keys/")."""
    return f"model {model_id[:12]}" if stem.strip().lower() in _GENERIC_NAMES else stem


def page_contract(vk: VerifyingKey, reusable: bool | None = None) -> VerifierContract:
    """The verifier the page runs for one unit: the per-model one, or (``reusable=None``) ezkl's reusable verifier
    with this key's VKA when the per-model one is over EIP-170 — the contract this key would use on a chain."""
    if reusable is not None:
        return verifier_contract(vk, reusable=reusable)
    try:
        return verifier_contract(vk)
    except ContractError as err:
        if err.where != "deployed_bytecode":  # only the EIP-170 refusal has a chain-side answer
            raise
        return verifier_contract(vk, reusable=True)


def _units(vk: Any) -> tuple[VerifyingKey, ...]:
    return tuple(vk.segments) if isinstance(vk, SplitVerifyingKey) else (vk,)


def _verifier_json(contract: VerifierContract) -> dict:
    return {
        "name": contract.name,
        "reusable": contract.reusable,
        "bytecode": "0x" + contract.bytecode.hex(),
        "deployed_size": contract.deployed_size,
        "eip170_limit": EIP170_LIMIT,
        "vka": ["0x" + w.hex() for w in contract.vka] if contract.reusable and contract.vka else None,
        "solc_version": contract.meta.get("solc_version"),
        "evm_version": contract.meta.get("evm_version"),
    }


def srs_file_name(vk: VerifyingKey) -> str:
    """The page's copy of a unit's SRS file: named by its digest, so units on one SRS share one file."""
    return f"kzg-{vk.meta['srs']['sha256'][:16]}.srs"


def _unit_data(vk: VerifyingKey, contract: VerifierContract) -> dict:
    """One unit (the model, or one segment): its verifier, how to decode its instances, the claims a proof file
    may make of it, and how many commitments (points) its proof bytes start with, per part."""
    settings = vk.settings
    inputs, outputs = vk.meta["inputs"], vk.meta["outputs"]
    layout = key_layout(settings, len(inputs), len(outputs))
    claims = json.loads(json.dumps(claims_of(vk)))
    in_scales, out_scales = settings.get("model_input_scales", []), settings.get("model_output_scales", [])
    return {
        "key_id": vk.key_id,
        "verifier": _verifier_json(contract),
        "srs_file": srs_file_name(vk),  # hashed and checked against the verifier in the browser
        "decode": {
            "field_modulus": str(FIELD_MODULUS),
            "layout": layout,
            "instances": sum(layout.values()),
            "visibility": key_visibility(settings),
            "inputs": [
                {"name": s["name"], "shape": list(s["shape"]), "scale": int(sc)} for s, sc in zip(inputs, in_scales)
            ],
            "outputs": [
                {"name": s["name"], "shape": list(s["shape"]), "scale": int(sc)} for s, sc in zip(outputs, out_scales)
            ],
        },
        # a proof file whose own "zkml" section disagrees with these is refused, as zkml.verify refuses it
        "claims": {k: claims[k] for k in _UNIT_CLAIMS},
        # read from the proof bytes, in this order, 64 bytes a point (zkml.proof.read_commitments)
        "commitments": {
            part: int((vk.meta.get("commitments") or {}).get(part, 0)) for part in ("input", "params", "output")
        },
    }


def page_data(
    vk: Any,
    contract: VerifierContract | None,
    name: str,
    *,
    reusable: bool | None = None,
    srs_sha256: str | None = None,
) -> dict:
    """What the page knows about the statement it verifies: identity (model id, key id, the pinned weights
    fingerprint), visibility, every unit's verifier code and decoding numbers (one unit, or each segment of a
    split model, whose links the page compares), all derived from the authenticated key(s)."""
    units = _units(vk)
    split = len(units) > 1
    contracts = [contract] if contract is not None and not split else [page_contract(u, reusable) for u in units]
    unit_data = [_unit_data(u, c) for u, c in zip(units, contracts)]
    first, last = unit_data[0], unit_data[-1]
    visibility = dict(vk.visibility) if split else key_visibility(vk.settings)
    if split:
        verifier = {
            "name": f"{len(units)} segment verifiers ({', '.join(sorted({d['verifier']['name'] for d in unit_data}))})",
            "reusable": any(d["verifier"]["reusable"] for d in unit_data),
            "deployed_size": sum(d["verifier"]["deployed_size"] for d in unit_data),
            "solc_version": first["verifier"]["solc_version"],
            "evm_version": first["verifier"]["evm_version"],
        }
        decode = {"inputs": first["decode"]["inputs"], "outputs": last["decode"]["outputs"], "visibility": visibility}
    else:
        verifier, decode = first["verifier"], first["decode"]
    return {
        "zkml_page": PAGE_FORMAT,
        "name": name,
        "model_id": vk.id,  # the statement: the key(s) and, when pinned, the weights fingerprint
        "key_id": vk.key_id,
        "committed": bool(vk.committed),
        "weights_commitment": vk.weights_commitment,  # None: fixed weights, or committed and not pinned
        "segments": len(units),
        "model_sha256": vk.model_hash,
        "vk_sha256": None if split else vk.sha256,
        "bundle_cid": None if split else vk.core_cid,
        "dev_srs": vk.dev_srs,
        "srs": dict(units[0].meta["srs"]),
        # the builder's view (zkml.srs.srs_status), for tools only: the page decides the status itself, from the SRS
        # bytes, the ceremony table below and the pin
        "srs_status": vk.srs_status.to_json()
        if hasattr(vk, "srs_status")
        else {"kind": "unknown", "name": None, "message": "unknown SRS"},
        # the SRS digest the page builder vouches for (srs_sha256= / $ZKML_SRS_SHA256): data in the folder, so the page
        # shows it as the builder's claim and never calls the SRS pinned for it; a reader pins with #srs-sha256=.
        # zkml's ceremony table is compiled into verify.js, not carried here.
        "srs_builder_claim": _pin(srs_sha256),
        "visibility": visibility,
        "verifier": verifier,
        "decode": decode,
        "claims": first["claims"] if not split else {},
        "units": unit_data,
    }


def _pin(srs_sha256: str | None) -> str | None:
    pin = (srs_sha256 if srs_sha256 is not None else os.environ.get("ZKML_SRS_SHA256", "")).strip().lower()
    pin = pin.removeprefix("0x")
    if not pin:
        return None
    if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
        raise ArtifactError(
            "the SRS pin is not a sha256 (64 hex digits)",
            stage="page",
            where="srs_sha256" if srs_sha256 is not None else "ZKML_SRS_SHA256",
            hint="pass the sha256 the ceremony publishes for its SRS file",
        )
    return pin


def render_index(data: dict) -> str:
    # inline JSON: "<" escaped so no value (the model's name) can close the script element
    blob = (
        json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return _TEMPLATE.read_text().replace("{{TITLE}}", html.escape(data["name"])).replace("{{MODEL_JSON}}", blob)


@accepts_progress
def write_page(
    source: Any,
    out_dir: str | os.PathLike,
    *,
    name: str | None = None,
    reusable: bool | None = None,
    weights_commitment: str | None = None,
    srs_sha256: str | None = None,
) -> Path:
    """Write the static verification site for ``source`` (a bundle .car, a keys / vk directory, Keys, VerifyingKey
    or Bundle; single or split) into ``out_dir``: ``index.html``, ``verify.js``, ``model.json`` and the SRS file,
    with relative paths only. The page verifies the statement: every unit's proof in its verifier contract, every
    link between segments, and the weights fingerprint the source pins (``weights_commitment`` pins one; keys with
    committed weights pin their own), and shows it, with the SRS status it computes from the SRS file
    (``srs_sha256``, default ``$ZKML_SRS_SHA256``: the digest the builder vouches for, shown as the builder's
    claim; only a reader's ``#srs-sha256=`` pin makes the status ``pinned``).

    Needs Node.js and the checkout's node_modules (solc-js compiles the verifier, esbuild bundles the script).
    Reports progress (stage ``page``: the source, the verifier contracts, the script, the files). Returns the
    path of ``index.html``.
    """
    with step("page", "load the statement"):
        vk, default_name = load_source(source)
        vk = _pinned(vk, weights_commitment)
    units = _units(vk)
    with step("page", f"verifier contract{'s' if len(units) > 1 else ''} (solc)"):
        data = page_data(vk, None, name or default_name, reusable=reusable, srs_sha256=srs_sha256)
    with step("page", "bundle the script (esbuild)"):
        script = page_script()
    out = Path(out_dir)
    srs = {srs_file_name(u): u.srs.path for u in units}
    with step("page", "write the site", total=3 + len(srs), unit="files") as s:
        for file, path in srs.items():
            atomic_write_bytes(out / file, path.read_bytes())  # the authenticated key's own SRS file
            s.advance()
        atomic_write_bytes(out / SCRIPT_NAME, script)
        atomic_write_text(out / "model.json", json.dumps(data, indent=1) + "\n")
        s.advance(2)
        index = atomic_write_text(out / "index.html", render_index(data))
        s.advance()
    return index


def _pinned(vk: Any, weights_commitment: str | None) -> Any:
    """``vk`` pinned to ``weights_commitment`` (refused when it pins another one already)."""
    if weights_commitment is not None:
        if (
            vk.weights_commitment is not None
            and vk.weights_commitment != vk.pin_weights(weights_commitment).weights_commitment
        ):
            raise ArtifactError(
                "the source pins another weights fingerprint than weights_commitment",
                stage="page",
                where="weights_commitment",
                hint="pass the fingerprint the bundle or key pins, or none",
            )
        vk = vk.pin_weights(weights_commitment)
    return vk
