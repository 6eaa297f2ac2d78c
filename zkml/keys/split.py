"""Keys for a split circuit: one Keys per segment on one SRS, proved as one inference, one Proof.

The split key's identity is a hash over its segments' identities in order, so a verifier that trusts it
trusts exactly that chain. Proving computes the chain of witnesses in order (each segment's output is
the next one's input, private, in memory), then proves the segments in sequence or on ``workers``
processes at once (peak memory: the largest segment per worker).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from ..circuit.build import register_next_stage
from ..circuit.split import SplitCircuit, chain_feeds, first_feeds
from ..errors import ArtifactError, ModelError, ProveError
from ..model.graph import extract
from ..model.graph import segment as graph_segment
from ..model.model import Model, TensorSpec, load_model
from ..model.tiling import tile
from ..proof.proof import Proof
from ..support.files import ZKML_FORMAT, atomic_write_text, read_json
from ..support.hashing import canonical_json, sha256_bytes
from ..support.progress import Event, accepts_progress, each, emit, relay
from ..support.store import Store
from .commit import commit as commit_one
from .commit import with_weights
from .keys import Keys, VerifyingKey, prove_with_outputs
from .keys import setup as setup_one
from .statement import checked_commitment, load_weights, save_weights, statement_id


def split_id(segment_ids: list[str]) -> str:
    return sha256_bytes(canonical_json({"kind": "split", "segments": list(segment_ids)}).encode())


@dataclass(frozen=True, eq=False)
class SplitVerifyingKey:
    """The verifying keys of every segment, in order. ``id`` binds the chain."""

    path: Path | None
    segments: tuple[VerifyingKey, ...]
    weights_commitment: str | None = None  # committed weights: every segment's commitment, in order

    @property
    def key_id(self) -> str:
        """The chain's own identity: its segments' key ids in order."""
        return split_id([v.key_id for v in self.segments])

    @property
    def id(self) -> str:
        """The model id: the statement (the chain, and the weights fingerprint it pins, if any)."""
        return statement_id(self.key_id, self.weights_commitment)

    @property
    def committed(self) -> bool:
        """Whether any segment's weights are committed (a segment with no weights has nothing to commit)."""
        return any(v.committed for v in self.segments)

    @property
    def units(self) -> int:
        return len(self.segments)

    def pin_weights(self, commitment: str | None) -> "SplitVerifyingKey":
        """This chain accepting only proofs made with the weights of ``commitment`` (see VerifyingKey.pin_weights)."""
        wc = None if commitment is None else checked_commitment(commitment, self.committed)
        return replace(self, weights_commitment=wc)

    @property
    def dev_srs(self) -> bool:
        return any(v.dev_srs for v in self.segments)

    @property
    def srs_status(self):
        """One SRS for every segment: the verifier's view of it (the weakest segment's, should they differ)."""
        from ..srs import weakest_status

        return weakest_status(v.srs_status for v in self.segments)

    @property
    def model_hash(self) -> str:
        return split_id([v.model_hash for v in self.segments])

    @property
    def srs(self):
        return self.segments[0].srs

    @property
    def visibility(self) -> dict:
        return {
            "input": self.segments[0].visibility["input"],
            "output": self.segments[-1].visibility["output"],
            "params": self.segments[0].visibility["params"],
        }

    def save(self, path: str | os.PathLike) -> Path:
        d = Path(path)
        for i, v in enumerate(self.segments):
            v.save(d / f"seg{i:03d}")
        atomic_write_text(
            d / "split.json",
            json.dumps(
                {
                    "format": ZKML_FORMAT,
                    "kind": "split_verifying_key",
                    "segments": [v.key_id for v in self.segments],
                    "id": self.key_id,
                },
                indent=1,
            ),
        )
        save_weights(d, self.key_id, self.weights_commitment)
        return d

    @classmethod
    def load(cls, path: str | os.PathLike, *, id: str | None = None) -> "SplitVerifyingKey":
        d = Path(path)
        if (d / "vk" / "split.json").exists():
            d = d / "vk"
        hint = "pass the verifying-key directory of a split model (Keys.save / prove-model setup)"
        meta = read_json(d / "split.json", error_cls=ArtifactError, stage="verify", hint=hint)
        if not isinstance(meta, dict) or meta.get("kind") != "split_verifying_key":
            raise ArtifactError("not a zkml split verifying key", stage="verify", where=d, hint=hint)
        segs = tuple(
            VerifyingKey.load(d / f"seg{i:03d}", id=sid).pin_weights(None) for i, sid in enumerate(meta["segments"])
        )
        vk = cls(d, segs)
        if vk.key_id != meta.get("id"):
            raise ArtifactError(
                "the split key's segments are not the chain its identity names",
                stage="verify",
                where=d / "split.json",
                hint="get the verifying key again from its publisher",
            )
        want = id.lower().removeprefix("0x") if id is not None else None
        return replace(vk, weights_commitment=load_weights(d, vk.key_id, want))


@dataclass(frozen=True, eq=False)
class SplitKeys:
    """Keys of every segment of a split circuit."""

    circuit: SplitCircuit = field(repr=False)
    segments: tuple[Keys, ...]

    @property
    def vk(self) -> SplitVerifyingKey:
        return SplitVerifyingKey(None, tuple(k.vk for k in self.segments))

    @property
    def id(self) -> str:
        return self.vk.id

    @property
    def dev_srs(self) -> bool:
        return any(k.dev_srs for k in self.segments)

    @property
    def srs(self):
        return self.segments[0].srs

    @property
    def cached(self) -> bool:
        return all(k.cached for k in self.segments)

    @property
    def units(self) -> int:
        return len(self.segments)

    @property
    def path(self) -> Path:
        return self.segments[0].path.parent

    def __repr__(self) -> str:
        return f"SplitKeys(id={self.id[:12]}, {len(self.segments)} segments, logrows={self.circuit.logrows})"

    def save(self, path: str | os.PathLike) -> Path:
        d = Path(path)
        for i, k in enumerate(self.segments):
            k.save(d / f"seg{i:03d}")
        self.circuit.save(d / "circuit")
        self.vk.save(d / "vk")
        atomic_write_text(
            d / "split.json",
            json.dumps(
                {"format": ZKML_FORMAT, "kind": "split_keys", "segments": len(self.segments), "id": self.id}, indent=1
            ),
        )
        return d

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SplitKeys":
        d = Path(path)
        hint = "run setup again (circuit.setup() or prove-model setup)"
        meta = read_json(d / "split.json", error_cls=ArtifactError, stage="load", hint=hint)
        if not isinstance(meta, dict) or meta.get("kind") != "split_keys":
            raise ArtifactError("not a zkml split keys directory", where=d, hint=hint)
        segs = tuple(Keys.load(d / f"seg{i:03d}") for i in range(int(meta["segments"])))
        keys = cls(SplitCircuit.load(d / "circuit"), segs)
        if keys.id != meta.get("id"):
            raise ArtifactError(
                "the segments are not the chain these keys were made with", where=d / "split.json", hint=hint
            )
        return keys

    @accepts_progress
    def prove(self, x: Any, *, check: bool = True, workers: int | None = None, cluster: str | None = None) -> Proof:
        """One inference through every segment: one Proof holding each segment's proof, in order. ``workers=N``
        proves the segments on local processes at once; ``cluster=ADDR`` on a Ray cluster (one task per segment,
        one CPU each; keys must be readable on every node)."""
        return prove_split(self, x, check=check, workers=workers, cluster=cluster)

    def with_weights(self, model: Any) -> "SplitKeys":
        """These keys proving with ``model``'s weights (committed weights, the same graph)."""
        return split_with_weights(self, model)


def split_with_weights(keys: SplitKeys, model: Model | str | os.PathLike) -> SplitKeys:
    """SplitKeys proving with ``model``'s weights (committed weights; the same graph): each segment's Keys with
    the matching piece of ``model``, cut where the keys' model was cut."""
    if not isinstance(model, Model):
        model = load_model(model)
    try:
        model = tile(model, keys.circuit.tiles)  # its ops cut into the tiles the keys' model was cut into
    except ModelError as err:
        raise ModelError(
            f"this model is not the graph these keys were made for: {err.message}",
            stage="prove",
            where="model",
            hint="pass a model with the keys' graph and shapes (only its weights may differ)",
        ) from None
    if keys.circuit.links:  # cut where the keys' model was cut, links packed and blinded alike
        pieces = [
            graph_segment(
                model,
                [TensorSpec.from_json(t) for t in ln["inputs"]],
                [TensorSpec.from_json(t) for t in ln["outputs"]],
                int(ln["blind_in"]),
                int(ln["blind_out"]),
                link_in=bool(ln["link_in"]),
                link_out=bool(ln["link_out"]),
            )
            for ln in keys.circuit.links
        ]
    else:
        pieces = [extract(model, list(c.model.inputs), list(c.model.outputs)) for c in keys.circuit.segments]
    segs = tuple(with_weights(k, piece) for k, piece in zip(keys.segments, pieces))
    return SplitKeys(replace(keys.circuit, segments=tuple(k.circuit for k in segs), model=model), segs)


def commit_split(model: Model | str | os.PathLike, keys: SplitKeys) -> str:
    """The fingerprint of ``model``'s weights under split keys: the weights commitment of every segment that holds
    weights, in order."""
    other = split_with_weights(keys, model)
    return "0x" + "".join(commit_one(k.circuit.model, k)[2:] for k in other.segments if k.vk.committed)


def commit(
    model: Model | str | os.PathLike,
    circuit_or_keys,
    *,
    srs: str | os.PathLike | None = None,
    store: Store | None = None,
) -> str:
    """The public fingerprint of ``model``'s weights (committed weights), without proving: ``zkml.commit``.

    Takes Keys, SplitKeys (every segment's commitment, in order), or a Circuit / SplitCircuit, set up first
    (cached; ``srs`` as for setup): the commitment depends on the SRS. It equals the ``weights_commitment``
    that every proof with these weights exposes."""
    if isinstance(circuit_or_keys, SplitCircuit):
        circuit_or_keys = setup_split(circuit_or_keys, srs, store=store)
    if isinstance(circuit_or_keys, SplitKeys):
        return commit_split(model, circuit_or_keys)
    return commit_one(model, circuit_or_keys, srs=srs, store=store)


def setup_split(
    circuit: SplitCircuit,
    srs: str | os.PathLike | None = None,
    *,
    store: Store | None = None,
    production: bool = False,
    srs_sha256: str | None = None,
) -> SplitKeys:
    """Every segment on one SRS (all segments share one logrows, so one SRS file serves them all)."""
    return SplitKeys(
        circuit,
        tuple(
            setup_one(c, srs=srs, store=store, production=production, srs_sha256=srs_sha256)
            for c in each("setup", "segment", circuit.segments)
        ),
    )


@accepts_progress
def setup(
    circuit,
    srs: str | os.PathLike | None = None,
    *,
    store: Store | None = None,
    production: bool = False,
    srs_sha256: str | None = None,
):
    """Proving and verifying keys for a Circuit (Keys) or a SplitCircuit (SplitKeys): ``zkml.setup``.

    ``srs=None``: a dev SRS (INSECURE, cached). ``production=True`` refuses anything but a ceremony SRS whose
    digest is pinned (``srs_sha256`` or ``$ZKML_SRS_SHA256``) or known to zkml."""
    if isinstance(circuit, SplitCircuit):
        return setup_split(circuit, srs, store=store, production=production, srs_sha256=srs_sha256)
    return setup_one(circuit, srs, store=store, production=production, srs_sha256=srs_sha256)


def load_keys(path: str | os.PathLike):
    """Keys or SplitKeys, whichever the directory holds."""
    return SplitKeys.load(path) if (Path(path) / "split.json").exists() else Keys.load(path)


def load_vk(path: str | os.PathLike, *, id: str | None = None):
    """A VerifyingKey or SplitVerifyingKey, whichever the directory (or a keys directory's vk/) holds."""
    p = Path(path)
    if (p / "split.json").exists() and read_json(
        p / "split.json", error_cls=ArtifactError, stage="verify", hint="pass a verifying-key directory"
    ).get("kind") == "split_keys":
        p = p / "vk"
    if (p / "split.json").exists():
        return SplitVerifyingKey.load(p, id=id)
    return VerifyingKey.load(p, id=id)


def _prove_segment(keys_path: str, home: str | None, feeds: Mapping, check: bool) -> Proof:
    if home:
        os.environ["ZKML_HOME"] = home
    return Keys.load(keys_path).prove(feeds, check=check)


MAX_ATTEMPTS = 3


def _prove_on_workers(keys: SplitKeys, inputs: list, workers: int, check: bool) -> list[Proof]:
    """Each segment on a spawned worker (zkml.support.workers). A segment whose worker dies (OOM, SIGKILL) is
    proved again on a new one, up to MAX_ATTEMPTS times; one with no proof within ZKML_WORKER_TIMEOUT seconds
    fails, its worker killed. Every worker is ended before this returns or raises."""
    from ..support.workers import WorkerPool  # here: a single proof never loads multiprocessing

    segs = keys.segments
    home = os.environ.get("ZKML_HOME")
    done: dict[int, Proof] = {}
    attempts = {i: 0 for i in range(len(segs))}

    def relayed(i: int, event: dict) -> None:  # a worker's own steps, beneath this proof's (public: names, times)
        try:
            ev = Event.from_json(event)
        except (TypeError, ValueError):  # not an event: nothing to show
            return
        relay(ev, depth=1, prefix=f"segment {i + 1}/{len(segs)}: ")

    with WorkerPool(_prove_segment, min(workers, len(segs)), progress=True) as pool:
        for i in range(len(segs)):
            pool.submit(i, str(segs[i].path), home, inputs[i], check)
        for i, kind, value in pool.results(on_progress=relayed):
            if kind == "done":
                done[i] = value.bind(segs[i].vk)
            elif kind == "died":
                attempts[i] += 1
                on_worker_death(i)
                if attempts[i] >= MAX_ATTEMPTS:
                    raise ProveError(
                        f"the worker proving segment {i} died {MAX_ATTEMPTS} times",
                        where=keys.path,
                        hint="the machine may be out of memory: use fewer workers, or a smaller max_logrows",
                    )
                pool.submit(i, str(segs[i].path), home, inputs[i], check)
            elif kind == "timeout":
                raise ProveError(
                    f"segment {i} had no proof after {value:.0f} s; its worker was killed",
                    where=keys.path,
                    hint="the worker was stuck, or the proof is slower than that: set ZKML_WORKER_TIMEOUT "
                    "(seconds) higher, or prove in sequence (workers=None)",
                )
            elif isinstance(value, ProveError):
                raise value
            else:
                raise ProveError(
                    f"segment {i}'s prover failed: {type(value).__name__}",
                    where=keys.path,
                    hint="prove in sequence (workers=None) to see why",
                ) from value
    return [done[i] for i in range(len(segs))]


def on_worker_death(segment: int) -> None:
    """Called in this process each time a segment's worker died (then the segment is retried, or fails after
    MAX_ATTEMPTS deaths); tests observe it."""


def _prove_on_ray(keys: SplitKeys, inputs: list, cluster: str, check: bool) -> list[Proof]:
    """One Ray task per segment (one CPU each). Ray retries a task whose worker died (3 times)."""
    from ..support.ray import connect

    ray = connect(cluster)
    task = ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS)(_prove_segment)
    refs = [task.remote(str(k.path), os.environ.get("ZKML_HOME"), f, check) for k, f in zip(keys.segments, inputs)]
    from ..support.workers import worker_timeout

    limit = worker_timeout()
    try:
        results = ray.get(refs, timeout=limit)  # bounded: a stuck task fails the proof instead of hanging it
    except ray.exceptions.GetTimeoutError:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise ProveError(
            f"a segment had no proof after {limit:.0f} s on the Ray cluster; its tasks were cancelled",
            where=cluster,
            hint="raise ZKML_WORKER_TIMEOUT for big segments, or check the cluster's workers",
        ) from None
    except Exception as err:  # a task that failed for good: its ZKMLError arrives wrapped by Ray
        cause = getattr(err, "cause", None)
        if isinstance(cause, ProveError):
            raise cause from None
        raise ProveError(
            f"a segment failed on the Ray cluster: {type(err).__name__}",
            where=cluster,
            hint="prove in sequence (no cluster) to see which segment and why",
        ) from None
    return [p.bind(k.vk) for p, k in zip(results, keys.segments)]


def prove_split(
    keys: SplitKeys, x: Any, *, check: bool = True, workers: int | None = None, cluster: str | None = None
) -> Proof:
    segs = keys.segments
    feeds = first_feeds(keys.circuit, x)  # with fresh blinding values for every link when the input is private
    if cluster is None and (not workers or workers <= 1):
        proofs = []
        for i, k in enumerate(each("prove", "segment", segs)):
            proof, got = prove_with_outputs(k, feeds, check=check)
            proofs.append(proof)
            if i + 1 < len(segs):
                feeds = chain_feeds(keys.circuit, i + 1, got)
    else:
        # the chain of witnesses first (cheap, in order), then the proofs side by side
        inputs = [feeds]
        for i, k in enumerate(segs[:-1]):
            got = k.circuit.run(inputs[-1])
            inputs.append(chain_feeds(keys.circuit, i + 1, got))
        emit("prove", f"{len(segs)} segments on {'the Ray cluster' if cluster else f'{workers} workers'}")
        proofs = (
            _prove_on_ray(keys, inputs, cluster, check) if cluster else _prove_on_workers(keys, inputs, workers, check)
        )
    chain_vk = keys.vk
    fingerprint = Proof(b"", (), {}, chain_vk, tuple(proofs)).weights_commitment
    meta = {
        "format": ZKML_FORMAT,
        "kind": "split_proof",
        "model_id": chain_vk.pin_weights(fingerprint).id,
        "key_id": chain_vk.key_id,
        "segments": len(proofs),
        "created": proofs[-1].meta.get("created"),
        "timings": {"prove": sum(p.timings.get("prove", 0.0) for p in proofs)},
    }
    return Proof(b"", (), meta, keys.vk, tuple(proofs), made_here=True)


register_next_stage(setup=setup)  # Circuit.setup / SplitCircuit.setup reach this stage through it

__all__ = ["SplitKeys", "SplitVerifyingKey", "load_keys", "load_vk", "setup", "setup_split", "split_id"]
