"""``prove-model inspect``: what a file or directory is, in a few lines, the model id first.

Every artifact kind, single or split: circuits, keys, verifying keys, proofs, bundles, contracts, models and SRS
files (``zkml.load`` recognises and authenticates them). The model id shown is the statement id (the key, and
the weights fingerprint when one is pinned); a proof's and a bundle's are what the file says until a verifier
checks them (``prove-model verify``).
"""

from __future__ import annotations

from pathlib import Path

from ..circuit.breakdown import breakdown, lines, to_json
from ..srs import srs_status
from ..verifier.loader import artifact_kind, load


def describe(p: Path) -> tuple[dict, list[str]]:
    kind = artifact_kind(p)
    if kind == "solidity":
        src = p.read_text(errors="replace")
        info = {
            "kind": "contract",
            "bytes": len(src),
            "contracts": [ln.split()[1] for ln in src.splitlines() if ln.startswith("contract ")],
        }
        return info, [f"Solidity source: {len(src):,} bytes, contracts {', '.join(info['contracts']) or '?'}"]
    if kind == "contract":
        return _contract(p)
    obj = load(p)
    return {
        "model": _model,
        "circuit": _circuit,
        "split_circuit": _circuit,
        "keys": _keys,
        "split_keys": _keys,
        "verifying_key": _vk,
        "split_verifying_key": _vk,
        "proof": _proof,
        "bundle": _bundle,
        "srs": _srs,
    }[kind](obj)


def _srs_line(vk) -> tuple[dict, str]:
    """The SRS as this verifier sees it (from the digest, never the key file's word)."""
    status = vk.srs_status
    digest = vk.srs.sha256
    return (
        {"srs_status": status.kind, "srs_name": status.name, "srs_sha256": digest, "dev_srs": vk.dev_srs},
        f"  srs        {status.kind}: sha256 {digest} ({status.message})",
    )


def _weights(vk) -> tuple[dict, str]:
    if not vk.committed:
        return {"weights": "fixed", "weights_commitment": None}, "  weights    fixed in the key"
    if vk.weights_commitment:
        return (
            {"weights": "pinned", "weights_commitment": vk.weights_commitment},
            f"  weights    committed, pinned: {vk.weights_commitment} (covered by the model id)",
        )
    return (
        {"weights": "committed", "weights_commitment": None},
        "  weights    committed, no fingerprint pinned: each set of weights is its own model id "
        "(prove-model commit; verify --weights-commitment)",
    )


def _statement(vk, label: str, extra: list[str], info: dict) -> tuple[dict, list[str]]:
    """Everything that has a verifying key: the model id first, then the key id, kind, visibility, weights, SRS."""
    segments = len(getattr(vk, "segments", ()) or ()) or 1
    layout = f"split ({segments} segments)" if hasattr(vk, "segments") else "single"
    w_info, w_line = _weights(vk)
    s_info, s_line = _srs_line(vk)
    info = {
        "kind": label.replace(" ", "_"),
        "model_id": vk.id,
        "key_id": vk.key_id,
        "layout": layout.split()[0],
        "segments": segments,
        "visibility": vk.visibility,
        "model_sha256": vk.model_hash,
        **w_info,
        **s_info,
        **info,
    }
    return info, [
        f"{label}: model id {vk.id}",
        f"  key id     {vk.key_id}",
        f"  kind       {layout}",
        f"  visibility {_vis(vk.visibility)}",
        w_line,
        s_line,
        *extra,
    ]


def _vis(v) -> str:
    return ", ".join(f"{k}={v[k]}" for k in ("input", "output", "params") if k in v)


def _keys(k) -> tuple[dict, list[str]]:
    units = getattr(k, "segments", None) or (k,)
    pk = sum(u.pk_path.stat().st_size for u in units)
    parts = breakdown(k.circuit)
    return _statement(
        k.vk,
        "keys",
        [f"  circuit    2^{k.circuit.logrows} rows, proving key {pk:,} bytes", *lines(parts)],
        {
            "logrows": k.circuit.logrows,
            "pk_bytes": pk,
            "vk_sha256": [u.vk.sha256 for u in units] if len(units) > 1 else k.vk.sha256,
            "breakdown": to_json(parts),
        },
    )


def _vk(vk) -> tuple[dict, list[str]]:
    units = getattr(vk, "segments", None) or (vk,)
    return _statement(
        vk, "verifying key", [], {"vk_sha256": [u.sha256 for u in units] if len(units) > 1 else vk.sha256}
    )


def _circuit(c) -> tuple[dict, list[str]]:
    segs = getattr(c, "segments", None)
    layout = f"split ({len(segs)} segments)" if segs else "single"
    rows = sum(s.num_rows for s in segs) if segs else c.num_rows
    info = {
        "kind": "split_circuit" if segs else "circuit",
        "model_id": None,
        "layout": layout.split()[0],
        "segments": len(segs) if segs else 1,
        "model_sha256": c.model.hash,
        "logrows": c.logrows,
        "num_rows": rows,
        "visibility": c.visibility.to_json(),
        "calibration": c.report.to_json(),
        "target": getattr(c, "target", None) if not segs else getattr(segs[0], "target", None),
    }
    parts = breakdown(c)
    info["breakdown"] = to_json(parts)
    tiles = dict(getattr(c, "tiles", None) or {})
    if segs:
        info["tiles"] = tiles  # ops cut into tiles by the split planner: output -> parts
    tiled = [f"  tiles      {', '.join(f'{op} in {n}' for op, n in tiles.items())}"] if tiles else []
    return info, [
        f"circuit: model {c.model.hash[:16]}, {layout}, 2^{c.logrows} rows ({rows} used)",
        *tiled,
        "  model id   none yet: a circuit gets its model id at setup (prove-model setup)",
        f"  visibility {c.visibility}",
        f"  accuracy   {c.report}",
        *lines(parts),
    ]


def _proof(pr) -> tuple[dict, list[str]]:
    # nothing of the proof file's own section is trusted: its claims are shown as claims
    segs = pr.segments
    size = sum(len(s.proof) for s in segs) if segs else len(pr.proof)
    values = sum(sum(map(len, s.instances)) for s in segs) if segs else sum(map(len, pr.instances))
    claimed = pr.meta.get("model_id")
    key_id = pr.meta.get("key_id")
    layout = f"split ({len(segs)} segments)" if segs else "single"
    info = {
        "kind": "proof",
        "claimed_model_id": claimed,
        "model_id": claimed,
        "key_id": key_id,
        "verified": False,
        "layout": layout.split()[0],
        "segments": len(segs) or 1,
        "proof_bytes": size,
        "public_values": values,
    }
    return info, [
        f"proof: model id {claimed or '?'} (claimed by the file, unverified)",
        f"  key id     {key_id or '?'} (claimed)",
        f"  kind       {layout}",
        f"  size       {size:,} bytes, {values} public values",
        "  outputs    decoded only by a verifier: prove-model verify PROOF --vk KEYS (or --bundle B --vk-id ID)",
    ]


def _bundle(b) -> tuple[dict, list[str]]:
    # the blocks match their CIDs; the metadata is the publisher's word until a verifier loads the key
    meta = b.metadata
    segs = list(meta.get("segments") or [])
    digest = str(meta["srs"].get("sha256", "?"))
    status = srs_status(digest, dev=b.dev_srs)  # the verifier's view, from the digest (the metadata can only lower it)
    srs = f"{status.kind}: sha256 {digest} ({status.message})"
    vis = segs[0]["visibility"] if segs else meta.get("visibility") or {}
    if segs:
        vis = {**vis, "output": segs[-1]["visibility"].get("output")}
    committed = any((m.get("commitments") or {}).get("params") for m in (segs or [meta]))
    weights = (
        f"committed, pinned: {b.weights_commitment} (in the core, covered by the model id)"
        if b.weights_commitment
        else "committed, no fingerprint pinned: each set of weights is its own model id"
        if committed
        else "fixed in the key"
    )
    layout = f"split ({len(segs)} segments)" if segs else "single"
    info = {
        "kind": "bundle",
        "model_id": b.model_id,
        "key_id": b.key_id,
        "layout": layout.split()[0],
        "segments": len(segs) or 1,
        "visibility": vis,
        "weights_commitment": b.weights_commitment,
        "weights": "pinned" if b.weights_commitment else "committed" if committed else "fixed",
        "root_cid": b.root,
        "core_cid": b.core,
        "compiled_sha256": b.compiled_sha256,
        "files": sorted(b.files),
        "dev_srs": b.dev_srs,
        "srs_sha256": digest,
        "srs_status": status.kind,
        "srs_name": status.name,
        "contract": (b.contract or {}).get("name"),
    }
    lines = [
        f"bundle: model id {b.model_id} (the core's statement; authenticated when a verifier loads it)",
        f"  key id     {b.key_id}",
        f"  kind       {layout}",
        f"  visibility {_vis(vis)}",
        f"  weights    {weights}",
        f"  srs        {srs}",
        f"  root       {b.root}",
        f"  core       {b.core} (pin it: verify --bundle B --cid CORE)",
        f"  files      {', '.join(info['files'])}",
    ]
    if b.compiled_sha256:
        lines.append(
            f"  compiled   sha256 {b.compiled_sha256} (the model node's circuit"
            f"{'' if 'network.compiled' in b.files else ', not carried'}: bound by the core CID, not by the "
            "model id; pin the core with verify --cid)"
        )
    if info["contract"]:
        lines.append(f"  contract   {info['contract']}")
    return info, lines


def _contract(p: Path) -> tuple[dict, list[str]]:
    from ..evm import VerifierContract

    c = VerifierContract.load(p)
    segments = len(getattr(c, "segments", ()) or ()) or 1
    model_id = getattr(c, "model_id", None) or c.meta.get("model_id")
    key_id = getattr(c, "key_id", None) or c.meta.get("key_id") or model_id
    wc = getattr(c, "weights_commitment", None)
    info = {
        "kind": "contract",
        "model_id": model_id,
        "key_id": key_id,
        "name": c.name,
        "layout": "split" if segments > 1 else "single",
        "segments": segments,
        "reusable": c.reusable,
        "weights_commitment": wc,
        "deployed_bytes": c.deployed_size,
        "dev_srs": c.dev_srs,
    }
    return info, [
        f"contract: model id {model_id or '?'}",
        f"  key id     {key_id or '?'}",
        f"  kind       {'split (%d segments)' % segments if segments > 1 else 'single'}, {c.name}"
        f"{', reusable' if c.reusable else ''}, {c.deployed_size:,} bytes deployed",
        f"  weights    {'pinned: ' + wc if wc else 'not pinned'}",
    ]


def _srs(s) -> tuple[dict, list[str]]:
    status = srs_status(s.sha256, dev=s.dev)
    return (
        {
            "kind": "srs",
            "logrows": s.logrows,
            "sha256": s.sha256,
            "dev_srs": s.dev,
            "srs_status": status.kind,
            "srs_name": status.name,
        },
        [
            f"KZG SRS with 2^{s.logrows} points, sha256 {s.sha256}",
            f"  status     {status.kind}: {status.message}",
            "  check      zkml.check_srs(path) runs a pairing check",
        ],
    )


def _model(m) -> tuple[dict, list[str]]:
    info = {
        "kind": "model",
        "sha256": m.hash,
        "inputs": [t.to_json() for t in m.inputs],
        "outputs": [t.to_json() for t in m.outputs],
    }
    return info, [
        f"ONNX model {m.hash[:16]}: "
        + ", ".join(f"{t.name}{list(t.shape)}" for t in m.inputs)
        + " -> "
        + ", ".join(f"{t.name}{list(t.shape)}" for t in m.outputs)
    ]
