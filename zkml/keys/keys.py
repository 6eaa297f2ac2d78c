"""``setup()`` and ``Keys.prove()``: proving and verifying keys, each one authenticated unit, and proofs.

A verifying key's **identity** (``VerifyingKey.id``, the model's id everywhere) is a sha256 over
``vk.key``, ``settings.json`` and the SRS digest, plus what ``vk.json`` says about them (visibility,
input/output shapes, dev or ceremony SRS). Every load re-hashes each file; a swapped or edited one is an
``ArtifactError`` naming it. ``Keys`` adds ``pk.key`` and the circuit, checked the same way.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .. import engine
from ..circuit.build import CIRCUIT_FILES, Circuit, check_versions, load_circuit, witness_outputs
from ..circuit.estimate import for_settings
from ..errors import ArtifactError, InputRangeError, ProveError, SetupError, SRSError
from ..model.compare import compare
from ..model.inputs import to_feeds
from ..proof.proof import Proof, expected_instances, key_visibility, witness_commitments
from ..srs import DEV_MARKER, SRS_FILE, SRSInfo, ceremony_srs, dev_srs, is_dev_digest, known_ceremony_digests
from ..support.deps import ezkl_version
from ..support.files import ZKML_FORMAT, private_tempdir, read_json, save_dir
from ..support.hashing import canonical_json, sha256_bytes, sha256_file
from ..support.ipld import core_cid
from ..support.progress import accepts_progress, emit, step
from ..support.store import Store
from .commit import with_weights
from .statement import checked_commitment, load_weights, save_weights, statement_id

VK_FILES = ["vk.key", "settings.json", SRS_FILE, "vk.json", "core.cid"]
CORE_FILES = ("vk.key", "settings.json", "vk.json")  # what a bundle's core node holds
IDENTITY_FIELDS = (
    "format",
    "ezkl_version",
    "vk_sha256",
    "settings_sha256",
    "srs",
    "model_sha256",
    "visibility",
    "inputs",
    "outputs",
    "commitments",
)
TOLERANCE_FACTOR = 4.0  # outputs may differ from onnxruntime by 4x the calibration error (+ 4 quanta)
UNMEASURED_QUANTA = 16  # when no error was measured (calibrated on a private input)
TOLERANCE_RTOL = 0.02


def identity(meta: Mapping[str, Any]) -> str:
    """The verifying key's identity: sha256 over the hashes of its files and what vk.json says of them."""
    return sha256_bytes(canonical_json({k: meta.get(k) for k in IDENTITY_FIELDS}).encode())


def bundle_meta(meta: Mapping[str, Any]) -> dict:
    """The metadata a bundle's core node carries (public, and bound to the identity)."""
    return {
        "zkml_bundle": ZKML_FORMAT,
        "model_id": meta["id"],
        **{k: meta[k] for k in IDENTITY_FIELDS if k != "format"},
    }


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass(frozen=True, eq=False)
class VerifyingKey:
    """What a verifier needs: vk, settings and the SRS, authenticated as one unit. Never the proving key."""

    path: Path
    meta: Mapping[str, Any] = field(repr=False)
    settings: Mapping[str, Any] = field(repr=False)
    weights_commitment: str | None = None  # committed weights: the one fingerprint this statement accepts

    @property
    def key_id(self) -> str:
        """The key's own identity hash (vk.key, settings, SRS digest and what vk.json says of them)."""
        return self.meta["id"]

    @property
    def id(self) -> str:
        """The model id: the statement this key verifies (the key, and the weights fingerprint it pins, if any).
        For fixed weights it is the key's own id. It names the model in bundles, registries and the CLI."""
        return statement_id(self.key_id, self.weights_commitment)

    @property
    def units(self) -> int:
        """How many circuits this statement chains: 1 (a split key says how many segments)."""
        return 1

    @property
    def committed(self) -> bool:
        """Whether the weights are committed (a fingerprint in every proof) rather than fixed in the key."""
        return bool((self.meta.get("commitments") or {}).get("params"))

    def pin_weights(self, commitment: str | None) -> "VerifyingKey":
        """This key accepting only proofs made with the weights of ``commitment`` (``zkml.commit``'s fingerprint):
        the statement a model's owner publishes. Its ``id`` covers the fingerprint. ``None``: the bare key."""
        wc = None if commitment is None else checked_commitment(commitment, self.committed)
        return replace(self, weights_commitment=wc)

    @property
    def sha256(self) -> str:
        return self.meta["vk_sha256"]

    @property
    def dev_srs(self) -> bool:
        # a digest that this machine generated is dev whatever vk.json says
        return bool(self.meta["srs"]["dev"]) or is_dev_digest(self.meta["srs"]["sha256"])

    @property
    def srs_status(self):
        """The verifier's view of this key's SRS: ``ceremony`` / ``pinned`` / ``unknown`` (``zkml.srs.srs_status``),
        from the SRS digest, zkml's table and ``$ZKML_SRS_SHA256``. vk.json's dev flag can only make it ``unknown``."""
        from ..srs import srs_status

        return srs_status(self.meta["srs"]["sha256"], dev=self.dev_srs)

    @property
    def ceremony_srs(self) -> bool:
        """Decided here, on the verifier's side: the SRS digest is one zkml lists as a ceremony's, or the one this
        verifier pinned (``$ZKML_SRS_SHA256``). What vk.json says about pinning is the key maker's word only."""
        digest = self.meta["srs"]["sha256"]
        return not self.dev_srs and (
            digest in known_ceremony_digests()
            or digest == os.environ.get("ZKML_SRS_SHA256", "").strip().lower().removeprefix("0x")
        )

    @property
    def model_hash(self) -> str:
        return self.meta["model_sha256"]

    @property
    def visibility(self) -> dict:
        return dict(self.meta["visibility"])

    @functools.cached_property
    def core_cid(self) -> str:
        """The CID of this key's bundle core: stored at setup, recomputed from the authenticated files on first use."""
        stored = (self.path / "core.cid").read_text().strip()
        cid = core_cid({name: (self.path / name).read_bytes() for name in CORE_FILES}, bundle_meta(self.meta))
        if cid != stored:
            raise ArtifactError(
                "core.cid is not the CID of this key's files",
                stage="verify",
                where=self.path / "core.cid",
                hint="copy the verifying key again from its publisher",
            )
        return cid

    @property
    def srs(self) -> SRSInfo:
        s = self.meta["srs"]
        return SRSInfo(self.path / SRS_FILE, s["sha256"], s["logrows"], self.dev_srs, self.ceremony_srs)

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ""
        return f"VerifyingKey(id={self.id[:12]}, model={self.model_hash[:12]}{warn})"

    def save(self, path: str | os.PathLike) -> Path:
        dest = save_dir(
            self.path,
            path,
            VK_FILES + ([SRS_FILE + DEV_MARKER] if (self.path / (SRS_FILE + DEV_MARKER)).exists() else []),
        )
        save_weights(dest, self.key_id, self.weights_commitment)
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike, *, id: str | None = None) -> "VerifyingKey":
        """Load and authenticate a verifying-key directory; ``id`` pins the model id you obtained honestly (the
        statement: with committed weights, the key and its fingerprint; the bare key's id pins the key only)."""
        p = Path(path)
        if (p / "vk").is_dir() and not (p / "vk.json").exists():
            p = p / "vk"  # a Keys directory: use its verifying key
        want = id.lower().removeprefix("0x") if id is not None else None
        vk = _load_vk(p, None)
        return replace(vk, weights_commitment=load_weights(p, vk.key_id, want))


def _load_vk(p: Path, want_id: str | None) -> VerifyingKey:
    hint = "pass the verifying-key directory written by Keys.save / VerifyingKey.save (or prove-model setup)"
    again = "copy the verifying key again from its publisher, or run setup again"
    meta = read_json(p / "vk.json", error_cls=ArtifactError, stage="verify", hint=hint)
    if not isinstance(meta, dict) or meta.get("kind") != "verifying_key":
        raise ArtifactError("not a zkml verifying key", stage="verify", where=p, hint=hint)
    check_versions(meta, p / "vk.json", "run setup again")
    for name in VK_FILES:
        if not (p / name).is_file():
            raise ArtifactError(f"missing {name}", stage="verify", where=p / name, hint=hint)
    try:
        checks = (
            ("vk.key", meta["vk_sha256"]),
            ("settings.json", meta["settings_sha256"]),
            (SRS_FILE, meta["srs"]["sha256"]),
        )
    except (KeyError, TypeError) as err:
        raise ArtifactError(f"vk.json lacks {err}", stage="verify", where=p / "vk.json", hint=again) from err
    for name, want in checks:
        if sha256_file(p / name) != want:
            raise ArtifactError(
                f"{name} does not match the hash recorded in vk.json: it was edited or replaced",
                stage="verify",
                where=p / name,
                hint=again,
            )
    if identity(meta) != meta.get("id"):
        raise ArtifactError(
            "vk.json does not match its identity hash: it was edited", stage="verify", where=p / "vk.json", hint=again
        )
    settings = read_json(p / "settings.json", error_cls=ArtifactError, stage="verify", hint=again)
    try:
        vis = key_visibility(settings)
    except (KeyError, TypeError, StopIteration) as err:
        raise ArtifactError(
            f"settings.json has no readable run_args: {err}", stage="verify", where=p / "settings.json", hint=again
        ) from err
    if vis != meta["visibility"]:
        raise ArtifactError(
            f"settings.json says visibility {vis}, vk.json says {meta['visibility']}",
            stage="verify",
            where=p / "settings.json",
            hint=again,
        )
    return VerifyingKey(p, meta, settings)


@dataclass(frozen=True, eq=False)
class Keys:
    """Proving + verifying key of one circuit and SRS. ``dev_srs`` says whether the SRS is INSECURE."""

    path: Path
    circuit: Circuit = field(repr=False)
    vk: VerifyingKey
    meta: Mapping[str, Any] = field(repr=False)
    cached: bool = False

    @property
    def id(self) -> str:
        return self.vk.id

    @property
    def dev_srs(self) -> bool:
        return self.vk.dev_srs

    @property
    def pk_path(self) -> Path:
        return self.path / "pk.key"

    @property
    def srs(self) -> SRSInfo:
        """As this key's maker set it up: pinned when setup was given the ceremony's digest (keys.json records it)."""
        s = self.vk.srs
        return SRSInfo(
            s.path, s.sha256, s.logrows, s.dev, s.pinned or (bool(self.meta.get("srs_pinned")) and not s.dev)
        )

    def __repr__(self) -> str:
        warn = ", INSECURE dev SRS" if self.dev_srs else ", " + self.srs.kind + " SRS"
        return f"Keys(id={self.id[:12]}, logrows={self.circuit.logrows}{warn}, cached={self.cached})"

    def save(self, path: str | os.PathLike) -> Path:
        dest = save_dir(self.path, Path(path), ["pk.key", "keys.json", "circuit", "vk"])
        if self.circuit.path != self.path / "circuit":  # proving with other weights (with_weights): that circuit
            self.circuit.save(dest / "circuit")
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Keys":
        """Load and authenticate a keys directory (``pk.key`` is hashed: once per load, not per proof)."""
        return _load_keys(Path(path))

    @property
    def units(self) -> int:
        """How many circuits prove one inference: 1 (a split model's keys say how many segments)."""
        return 1

    @accepts_progress
    def prove(self, x: Any, *, check: bool = True, workers: int | None = None, cluster: str | None = None) -> Proof:
        """Prove the model on ``x``; ``check`` compares the circuit's outputs with onnxruntime first. ``workers``:
        one circuit proves in this process on every core (it spreads a split model's segments)."""
        if cluster is not None:
            raise ProveError(
                "one circuit proves in one process: cluster= spreads a split model's segments",
                where="cluster",
                hint="prove here, or spread many inputs over the cluster with zkml.prove_many(..., cluster=)",
            )
        return prove(self, x, check=check)

    def with_weights(self, model: Any) -> "Keys":
        """These keys proving with ``model``'s weights (committed weights only): :func:`zkml.keys.commit.with_weights`."""
        return with_weights(self, model)


def _load_keys(p: Path, cached: bool = False) -> Keys:
    hint = "run setup again (circuit.setup() or prove-model setup)"
    if (p / "vk.json").is_file() and not (p / "keys.json").is_file():
        raise ArtifactError(
            "this is a verifying-key directory: it holds no proving key",
            where=p,
            hint="pass the keys directory that setup wrote (the one holding pk.key and vk/), not its vk/",
        )
    meta = read_json(p / "keys.json", error_cls=ArtifactError, stage="load", hint=hint)
    if not isinstance(meta, dict) or meta.get("kind") != "keys":
        raise ArtifactError("not a zkml keys directory", where=p, hint=hint)
    check_versions(meta, p / "keys.json", hint)
    if not (p / "pk.key").is_file():
        raise ArtifactError("missing pk.key", where=p / "pk.key", hint=hint)
    if sha256_file(p / "pk.key") != meta.get("pk_sha256"):
        raise ArtifactError(
            "pk.key does not match the hash recorded in keys.json: it was edited or replaced",
            where=p / "pk.key",
            hint=hint,
        )
    vk = VerifyingKey.load(p / "vk")
    if vk.id != meta.get("id"):
        raise ArtifactError("the verifying key is not the one these keys were made with", where=p / "vk", hint=hint)
    circuit = load_circuit(p / "circuit")
    own = circuit.key == meta.get("circuit_key") or json.loads((p / "circuit" / "circuit.json").read_text()).get(
        "weights_of"
    ) == meta.get("circuit_key")  # the same settings with other committed weights (with_weights)
    if not own or sha256_file(circuit.settings_path) != vk.meta["settings_sha256"]:
        raise ArtifactError("the circuit is not the one these keys were made from", where=p / "circuit", hint=hint)
    return Keys(p, circuit, vk, meta, cached=cached)


def setup(
    circuit: Circuit,
    srs: str | os.PathLike | None = None,
    *,
    store: Store | None = None,
    production: bool = False,
    srs_sha256: str | None = None,
) -> Keys:
    """Keys for ``circuit`` on a dev SRS (``srs=None``, INSECURE, cached) or on the SRS file ``srs``.

    ``production=True`` refuses anything but a ceremony SRS whose digest is pinned (``srs_sha256`` or
    ``$ZKML_SRS_SHA256``) or known to zkml.
    """
    store = store or Store()
    if srs is None:
        if production:
            raise SRSError(
                "production keys need a ceremony SRS, not a locally generated one",
                where="srs",
                hint="pass srs=FILE with srs_sha256=<its published digest> (CLI --srs FILE --srs-sha256 HEX)",
            )
        info = dev_srs(circuit.logrows, store)
    else:
        info = ceremony_srs(srs, circuit.logrows, store, sha256=srs_sha256, production=production)
    key = sha256_bytes(
        canonical_json(
            {"format": ZKML_FORMAT, "ezkl": ezkl_version(), "circuit": circuit.key, "srs": info.to_json()}
        ).encode()
    )[:40]

    def build(d: Path) -> None:
        (d / "circuit").mkdir()
        for name in CIRCUIT_FILES:
            _link_or_copy(circuit.path / name, d / "circuit" / name)
        vk_dir = d / "vk"
        vk_dir.mkdir()
        t0 = time.perf_counter()
        with step("setup", f"keys for 2^{circuit.logrows} rows", predicted_s=for_settings(circuit.settings).setup_s):
            engine.setup(
                SetupError, circuit.compiled_path, vk_dir / "vk.key", d / "pk.key", info.path, where=circuit.path
            )
        seconds = time.perf_counter() - t0
        _link_or_copy(circuit.settings_path, vk_dir / "settings.json")
        _link_or_copy(info.path, vk_dir / SRS_FILE)
        if info.dev:
            (vk_dir / (SRS_FILE + DEV_MARKER)).write_text("INSECURE: generated by zkml (ezkl.gen_srs)\n")
        meta = {
            "format": ZKML_FORMAT,
            "kind": "verifying_key",
            "ezkl_version": ezkl_version(),
            "srs": info.to_json(),
            "vk_sha256": sha256_file(vk_dir / "vk.key"),
            "settings_sha256": sha256_file(circuit.settings_path),
            "model_sha256": circuit.model.hash,
            "visibility": key_visibility(circuit.settings),
            "inputs": [t.to_json() for t in circuit.model.inputs],
            "outputs": [t.to_json() for t in circuit.model.outputs],
            "commitments": _commitment_counts(circuit, vk_dir / "vk.key", info.path),
        }
        meta["id"] = identity(meta)
        (vk_dir / "vk.json").write_text(json.dumps(meta, indent=2))
        cid = core_cid({name: (vk_dir / name).read_bytes() for name in CORE_FILES}, bundle_meta(meta))
        (vk_dir / "core.cid").write_text(cid)
        keys_meta = {
            "format": ZKML_FORMAT,
            "kind": "keys",
            "ezkl_version": ezkl_version(),
            "key": key,
            "id": meta["id"],
            "core_cid": cid,
            "circuit_key": circuit.key,
            "setup_seconds": seconds,
            "srs_pinned": info.pinned,
            "pk_bytes": (d / "pk.key").stat().st_size,
            "pk_sha256": sha256_file(d / "pk.key"),
        }
        (d / "keys.json").write_text(json.dumps(keys_meta, indent=2))

    entry, built = store.get_or_build("keys", key, build)
    if not built:
        emit("setup", f"cached keys for 2^{circuit.logrows} rows")
    return _load_keys(entry, cached=not built)


def _commitment_counts(circuit: Circuit, vk: Path, srs: Path) -> dict:
    """How many G1 points each committed part has at the start of every proof (ezkl splits a long tensor into
    chunks by the key's usable rows): measured once on a witness of zeros, recorded in vk.json. Where zeros
    have no witness (a layernorm divides by their zero variance), on small seeded values instead."""
    if "committed" not in key_visibility(circuit.settings).values():
        return {}
    import numpy as np

    rng = np.random.default_rng(0)
    probes = [
        {t.name: np.zeros(t.shape) for t in circuit.model.inputs},
        {t.name: rng.uniform(-0.5, 0.5, size=t.shape) for t in circuit.model.inputs},
    ]
    with private_tempdir() as tmp:
        for i, probe in enumerate(probes):
            try:
                _, w = witness_outputs(circuit, probe, tmp / f"probe{i}", SetupError, vk=vk, srs=srs)
                break
            except SetupError:
                if i == len(probes) - 1:
                    raise
    counts = {part: len(points) for part, points in witness_commitments(w).items()}
    if not counts:
        raise SetupError(
            "ezkl computed no commitment for the committed parts",
            where=circuit.path,
            hint="report this: the circuit's polycommit columns gave no KZG commitment",
        )
    return counts


def tolerance(circuit: Circuit) -> tuple[float, float]:
    """(atol, rtol) within which circuit outputs must match onnxruntime for a proof to be made."""
    scales = circuit.settings.get("model_output_scales") or [circuit.settings["run_args"]["input_scale"]]
    quantum = 2.0 ** -min(int(s) for s in scales)
    measured = circuit.report.max_abs_error
    if measured is None:  # calibrated on a private input: nothing was measured, so allow more quanta
        return UNMEASURED_QUANTA * quantum, TOLERANCE_RTOL
    return max(TOLERANCE_FACTOR * measured, 4 * quantum), TOLERANCE_RTOL


def prove(keys: Keys, x: Any, *, check: bool = True) -> Proof:
    return prove_with_outputs(keys, x, check=check)[0]


def prove_with_outputs(keys: Keys, x: Any, *, check: bool = True) -> tuple[Proof, list]:
    """The proof, and the circuit's outputs as the witness holds them (private when the outputs are: a split
    proof hands them to the next segment in memory, nowhere else)."""
    circuit, model = keys.circuit, keys.circuit.model
    feeds = to_feeds(model, x)
    timings: dict[str, float] = {}
    with private_tempdir() as tmp:
        # witness (with the key and SRS, so committed parts get their commitments)
        t0 = time.perf_counter()
        try:
            with step("prove", "witness"):
                got, _ = witness_outputs(
                    circuit, feeds, tmp / "w", ProveError, vk=keys.vk.path / "vk.key", srs=keys.srs.path
                )
        except ProveError as err:
            # the circuit compiled and ran on the calibration data: a failure on this input means
            # a value left the range the circuit's lookups and decompositions can represent
            raise _range_error(
                model, f"ezkl could not build a witness for this input ({err.message.split(': ', 1)[-1][:300]})"
            ) from None
        timings["witness"] = time.perf_counter() - t0
        # honest-output check against the float model (no number about the private input is reported)
        if check:
            atol, rtol = tolerance(circuit)
            if not compare(model.run(feeds), got, atol=atol, rtol=rtol):
                raise _range_error(
                    model,
                    f"the circuit's output differs from onnxruntime's by more than the tolerance "
                    f"({atol:.3g} + {rtol:g}*|y|)",
                )
        # prove
        t0 = time.perf_counter()
        with step("prove", f"proof of 2^{circuit.logrows} rows", predicted_s=for_settings(circuit.settings).prove_s):
            raw = engine.prove(
                ProveError,
                tmp / "w.witness.json",
                circuit.compiled_path,
                keys.pk_path,
                tmp / "proof.json",
                keys.srs.path,
                where=keys.path,
            )
        timings["prove"] = time.perf_counter() - t0
    proof = Proof.from_ezkl(raw, vk=keys.vk, timings=timings)
    want = expected_instances(keys.vk.settings, len(model.inputs), len(model.outputs))
    if sum(map(len, proof.instances)) != want:
        raise ProveError(
            f"ezkl returned {sum(map(len, proof.instances))} public values where the key's settings lay out {want}",
            where=keys.path,
            hint="report this: zkml cannot decode this circuit's instances",
        )
    return proof, got


def _range_error(model, detail: str) -> InputRangeError:
    return InputRangeError(
        f"refusing to prove: {detail}. The input is probably outside the range the circuit was calibrated on",
        where=f"input '{model.inputs[0].name}'",
        hint="recalibrate with data that covers such inputs: zkml.compile(model, calibration_data=...) "
        "(prove-model compile --calibration FILE), or use target='accuracy'",
    )
