"""``setup()`` and ``Keys.prove()``: proving/verifying keys and proofs."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ._circuit import CIRCUIT_FILES, Circuit, _load_circuit, check_versions, ezkl_call, witness_outputs
from ._inputs import to_feeds
from ._proof import Proof, layout_from_witness
from ._srs import SRS_FILE, SRSInfo, ceremony_srs, dev_srs
from ._store import Store
from ._util import ZKML_FORMAT, canonical_json, ezkl_version, need, private_tempdir, read_json, save_dir, sha256_bytes, sha256_file
from .errors import ArtifactError, InputRangeError, ProveError, SetupError

VK_FILES = ["vk.key", "settings.json", SRS_FILE, "vk.json"]  # (+ bundle.cid, a cache of the bundle core CID)
TOLERANCE_FACTOR = 4.0  # outputs may differ from onnxruntime by 4x the calibration error (+ 4 quanta)
TOLERANCE_RTOL = 0.02


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass(frozen=True, eq=False)
class VerifyingKey:
    """What a verifier needs: vk, settings and the SRS. Never the proving key."""

    path: Path
    meta: Mapping[str, Any] = field(repr=False)

    @property
    def sha256(self) -> str:
        return self.meta["vk_sha256"]

    @property
    def dev_srs(self) -> bool:
        return bool(self.meta["srs"]["dev"])

    @property
    def model_hash(self) -> str:
        return self.meta["model_sha256"]

    @property
    def settings(self) -> dict:
        return json.loads((self.path / "settings.json").read_text())

    @property
    def srs(self) -> SRSInfo:
        s = self.meta["srs"]
        return SRSInfo(self.path / SRS_FILE, s["sha256"], s["logrows"], s["dev"])

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        return f"VerifyingKey(model={self.model_hash[:12]}, vk={self.sha256[:12]}{warn})"

    def save(self, path: str | os.PathLike) -> Path:
        return save_dir(self.path, path, VK_FILES)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "VerifyingKey":
        p = Path(path)
        if (p / "vk").is_dir() and not (p / "vk.json").exists():
            p = p / "vk"  # a Keys directory: use its verifying key
        hint = "pass the verifying-key directory written by Keys.save / VerifyingKey.save (or prove-model setup)"
        meta = read_json(p / "vk.json", error_cls=ArtifactError, stage="verify", hint=hint)
        if not isinstance(meta, dict) or meta.get("kind") != "verifying_key":
            raise ArtifactError("not a zkml verifying key", stage="verify", where=p, hint=hint)
        check_versions(meta, p / "vk.json", "run setup again")
        for name in VK_FILES:
            if not (p / name).is_file():
                raise ArtifactError(f"missing {name}", stage="verify", where=p / name, hint=hint)
        if sha256_file(p / "vk.key") != meta.get("vk_sha256"):
            raise ArtifactError("vk.key does not match the hash recorded in vk.json: it is corrupt or was replaced",
                                stage="verify", where=p / "vk.key", hint="copy the verifying key again from its publisher")
        return cls(p, meta)


@dataclass(frozen=True, eq=False)
class Keys:
    """Proving + verifying key of one circuit and SRS. ``dev_srs`` says whether the SRS is INSECURE."""

    path: Path
    circuit: Circuit = field(repr=False)
    vk: VerifyingKey
    meta: Mapping[str, Any] = field(repr=False)
    cached: bool = False

    @property
    def dev_srs(self) -> bool:
        return self.vk.dev_srs

    @property
    def pk_path(self) -> Path:
        return self.path / "pk.key"

    @property
    def srs(self) -> SRSInfo:
        return self.vk.srs

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ", ceremony SRS"
        return f"Keys(model={self.vk.model_hash[:12]}, logrows={self.circuit.logrows}{warn}, cached={self.cached})"

    def save(self, path: str | os.PathLike) -> Path:
        dest = Path(path)
        names = ["pk.key", "keys.json", "circuit", "vk"]
        return save_dir(self.path, dest, names)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Keys":
        return _load_keys(Path(path))

    def prove(self, x: Any, *, check: bool = True) -> Proof:
        """Prove the model on ``x``; ``check`` compares the circuit's outputs with onnxruntime first."""
        return prove(self, x, check=check)


def _load_keys(p: Path, cached: bool = False) -> Keys:
    hint = "run setup again (circuit.setup() or prove-model setup)"
    meta = read_json(p / "keys.json", error_cls=ArtifactError, stage="load", hint=hint)
    if not isinstance(meta, dict) or meta.get("kind") != "keys":
        raise ArtifactError("not a zkml keys directory", where=p, hint=hint)
    check_versions(meta, p / "keys.json", hint)
    if not (p / "pk.key").is_file():
        raise ArtifactError("missing pk.key", where=p / "pk.key", hint=hint)
    return Keys(p, _load_circuit(p / "circuit"), VerifyingKey.load(p / "vk"), meta, cached=cached)


def setup(circuit: Circuit, srs: str | os.PathLike | None = None, *, store: Store | None = None) -> Keys:
    store = store or Store()
    info = dev_srs(circuit.logrows, store) if srs is None else ceremony_srs(srs, circuit.logrows, store)
    key = sha256_bytes(canonical_json({"format": ZKML_FORMAT, "ezkl": ezkl_version(), "circuit": circuit.key,
                                       "srs": info.sha256, "dev_srs": info.dev}).encode())[:40]

    def build(d: Path) -> None:
        (d / "circuit").mkdir()
        for name in CIRCUIT_FILES:
            _link_or_copy(circuit.path / name, d / "circuit" / name)
        vk_dir = d / "vk"
        vk_dir.mkdir()
        t0 = time.perf_counter()
        ezkl_call(SetupError, "setup", "setup", str(circuit.compiled_path), str(vk_dir / "vk.key"), str(d / "pk.key"),
                  str(info.path), None, False, where=circuit.path)
        seconds = time.perf_counter() - t0
        _link_or_copy(circuit.settings_path, vk_dir / "settings.json")
        _link_or_copy(info.path, vk_dir / SRS_FILE)
        vk_sha = sha256_file(vk_dir / "vk.key")
        common = {"format": ZKML_FORMAT, "ezkl_version": ezkl_version(), "srs": info.to_json(), "vk_sha256": vk_sha,
                  "model_sha256": circuit.model.hash, "settings_sha256": sha256_file(circuit.settings_path)}
        vk_meta = {**common, "kind": "verifying_key", "visibility": circuit.visibility.to_json(),
                   "inputs": [t.to_json() for t in circuit.model.inputs],
                   "outputs": [t.to_json() for t in circuit.model.outputs]}
        (vk_dir / "vk.json").write_text(json.dumps(vk_meta, indent=2))
        keys_meta = {**common, "kind": "keys", "key": key, "circuit_key": circuit.key, "setup_seconds": seconds,
                     "pk_bytes": (d / "pk.key").stat().st_size}
        (d / "keys.json").write_text(json.dumps(keys_meta, indent=2))

    entry, built = store.get_or_build("keys", key, build)
    return _load_keys(entry, cached=not built)


def tolerance(circuit: Circuit) -> tuple[float, float]:
    """(atol, rtol) within which circuit outputs must match onnxruntime for a proof to be made."""
    scales = circuit.settings.get("model_output_scales") or [circuit.settings["run_args"]["input_scale"]]
    quantum = 2.0 ** -min(int(s) for s in scales)
    return max(TOLERANCE_FACTOR * circuit.report.max_abs_error, 4 * quantum), TOLERANCE_RTOL


def prove(keys: Keys, x: Any, *, check: bool = True) -> Proof:
    np = need("numpy")
    circuit, model = keys.circuit, keys.circuit.model
    feeds = to_feeds(model, x)
    timings: dict[str, float] = {}
    with private_tempdir() as tmp:
        # witness
        t0 = time.perf_counter()
        try:
            got, witness = witness_outputs(circuit.compiled_path, model, feeds, tmp / "w", ProveError)
        except ProveError as err:
            # the circuit compiled and ran on the calibration data: a failure on this input means
            # a value left the range the circuit's lookups and decompositions can represent
            raise _range_error(circuit, feeds, detail="ezkl could not build a witness for this input "
                               f"({err.message.split(': ', 1)[-1][:300]})") from err
        timings["witness"] = time.perf_counter() - t0
        # honest-output check against the float model
        if check:
            ref = model.run(feeds)
            atol, rtol = tolerance(circuit)
            for r, g in zip(ref, got):
                r = np.asarray(r, dtype=np.float64)
                excess = np.abs(g - r) - (atol + rtol * np.abs(r))
                if (excess > 0).any():
                    raise _range_error(circuit, feeds, detail=(
                        f"the circuit's output differs from onnxruntime by {float(np.abs(g - r).max()):.4g} "
                        f"(tolerance {atol:.3g} + {rtol:g}*|y|)"))
        # prove
        t0 = time.perf_counter()
        proof_path = tmp / "proof.json"
        ezkl_call(ProveError, "proving", "prove", str(tmp / "w.witness.json"), str(circuit.compiled_path),
                  str(keys.pk_path), str(proof_path), str(keys.srs.path), where=keys.path)
        timings["prove"] = time.perf_counter() - t0
        raw = json.loads(proof_path.read_text())
        layout = layout_from_witness(witness, circuit.visibility, model)
    return Proof.from_ezkl(raw, vk=keys.vk, layout=layout, timings=timings)


def _range_error(circuit: Circuit, feeds: Mapping, detail: str) -> InputRangeError:
    model = circuit.model
    parts = []
    for spec, rng in zip(model.inputs, circuit.report.input_ranges or [None] * len(model.inputs)):
        arr = feeds[spec.name]  # private: only say whether it is outside, never its values
        if rng is None:
            parts.append(f"input '{spec.name}' (no calibrated range recorded)")
        elif arr.min() < rng[0] or arr.max() > rng[1]:
            parts.append(f"input '{spec.name}' goes outside the calibrated range [{rng[0]:.4g}, {rng[1]:.4g}]")
        else:
            parts.append(f"input '{spec.name}' is within the calibrated range [{rng[0]:.4g}, {rng[1]:.4g}]")
    return InputRangeError(
        f"refusing to prove: {detail}; {'; '.join(parts)}", where=f"input '{model.inputs[0].name}'",
        hint="recalibrate with data that covers this input: zkml.compile(model, calibration_data=...) "
             "(prove-model compile --calibration FILE), or use target='accuracy'")
