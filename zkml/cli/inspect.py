"""``prove-model inspect``: what a file or directory is, in a few lines."""

from __future__ import annotations

import json
from pathlib import Path

from ..circuit.build import Circuit
from ..errors import ArtifactError
from ..keys.keys import Keys, VerifyingKey
from ..model.model import load_model
from ..proof.proof import Proof
from ..srs import srs_logrows


def describe(p: Path) -> tuple[dict, list[str]]:
    if p.is_dir():
        if (p / "keys.json").exists():
            k = Keys.load(p)
            info = {"kind": "keys", "model_id": k.id, "model_sha256": k.vk.model_hash, "logrows": k.circuit.logrows, "dev_srs": k.dev_srs,
                    "pk_bytes": k.pk_path.stat().st_size, "vk_sha256": k.vk.sha256, "visibility": k.circuit.visibility.to_json()}
            return info, [f"keys: model {k.vk.model_hash[:16]}, 2^{k.circuit.logrows} rows, proving key {info['pk_bytes']:,} bytes",
                          f"  visibility {k.circuit.visibility}", f"  srs        {k.srs.describe()}"]
        if (p / "vk.json").exists():
            vk = VerifyingKey.load(p)
            info = {"kind": "verifying_key", "model_id": vk.id, "model_sha256": vk.model_hash, "vk_sha256": vk.sha256, "dev_srs": vk.dev_srs,
                    "visibility": vk.meta["visibility"]}
            return info, [f"verifying key: model id {vk.id}", f"  srs        {vk.srs.describe()}"]
        if (p / "circuit.json").exists():
            c = Circuit.load(p)
            info = {"kind": "circuit", "model_sha256": c.model.hash, "logrows": c.logrows, "num_rows": c.num_rows,
                    "visibility": c.visibility.to_json(), "target": c.target, "calibration": c.report.to_json()}
            return info, [f"circuit: model {c.model.hash[:16]}, 2^{c.logrows} rows ({c.num_rows} used), target {c.target}",
                          f"  visibility {c.visibility}", f"  accuracy   {c.report}"]
        if (p / "model.onnx").exists():
            return _model(load_model(p))
        raise ArtifactError("not a zkml artifact directory", stage="inspect", where=p,
                            hint="pass a model, circuit, keys or verifying-key directory, a .onnx, proof .json, .sol or .srs file")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return _model(load_model(p))
    if suffix == ".sol":
        src = p.read_text(errors="replace")
        info = {"kind": "contract", "bytes": len(src), "contracts": [ln.split()[1] for ln in src.splitlines() if ln.startswith("contract ")]}
        return info, [f"Solidity source: {len(src):,} bytes, contracts {', '.join(info['contracts']) or '?'}"]
    if suffix == ".car":
        from ..verifier.bundles import Bundle

        b = Bundle.load(p)
        # the blocks match their CIDs; the metadata is the publisher's word until a verifier loads the key
        srs = "INSECURE dev SRS" if b.dev_srs else f"SRS sha256 {str(b.metadata['srs'].get('sha256', '?'))[:16]} (not a " \
              "ceremony SRS unless you pin its digest: ZKML_SRS_SHA256)"
        info = {"kind": "bundle", "root_cid": b.root, "core_cid": b.core, "files": sorted(b.files), "model_id": b.model_id,
                "segments": len(b.metadata.get("segments") or []) or 1, "dev_srs": b.dev_srs,
                "contract": (b.contract or {}).get("name"), "weights_commitment": b.weights_commitment}
        return info, [f"bundle {b.root}: model id {b.model_id[:16]}, files {', '.join(info['files'])}",
                      f"  core       {b.core}", f"  srs        {srs}"]
    if suffix == ".srs":
        k = srs_logrows(p)
        return {"kind": "srs", "logrows": k}, [f"KZG SRS with 2^{k} points (run zkml.check_srs for a pairing check)"]
    if suffix == ".json":
        try:
            raw = json.loads(p.read_bytes())
        except ValueError as err:
            raise ArtifactError(f"not valid JSON: {err}", stage="inspect", where=p, hint="pass a zkml artifact") from err
        if isinstance(raw, dict) and "proof" in raw and "instances" in raw:
            pr = Proof.from_json(raw, where=p)
            # nothing of the proof file's own section is trusted: its claims are shown as claims
            info = {"kind": "proof", "claimed_model_id": pr.meta.get("model_id"), "proof_bytes": len(pr.proof),
                    "public_values": sum(map(len, pr.instances)), "verified": False}
            lines = [f"proof: {len(pr.proof):,} bytes, {sum(map(len, pr.instances))} public values",
                     f"  claims to be for model id {pr.meta.get('model_id') or '?'} (unverified)",
                     "  outputs    decoded only by a verifier: prove-model verify PROOF --vk KEYS"]
            return info, lines
    raise ArtifactError("cannot tell what this file is", stage="inspect", where=p,
                        hint="pass a model, circuit, keys or verifying-key directory, a .onnx, proof .json, .sol or .srs file")


def _model(m) -> tuple[dict, list[str]]:
    info = {"kind": "model", "sha256": m.hash, "inputs": [t.to_json() for t in m.inputs], "outputs": [t.to_json() for t in m.outputs]}
    return info, [f"ONNX model {m.hash[:16]}: " + ", ".join(f"{t.name}{list(t.shape)}" for t in m.inputs) + " -> " +
                  ", ".join(f"{t.name}{list(t.shape)}" for t in m.outputs)]
