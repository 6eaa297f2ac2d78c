"""Split compile: a model too big for one circuit becomes a chain of segments, each its own circuit.

The graph is cut at single-tensor boundaries into the fewest segments that each fit ``2^max_logrows``
rows (greedy, farthest cut first by binary search). Each segment is calibrated on the real intermediate
activations; the tensor between two segments is *committed* (KZG, ezkl's polycommit) on both sides, so a
verifier checks that the output commitment of segment i equals the input commitment of segment i+1.
Segment i+1 takes segment i's output scale as its input scale (the handed-over values are exact), and
every segment is padded to the same logrows: commitments match only over the same Lagrange basis.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

from ..errors import ArtifactError, CompileError, ZKMLError
from ..model.compare import compare
from ..model.graph import (
    BLIND_INPUT,
    BLIND_VALUES,
    LINK_IN,
    MAX_LINK_TENSORS,
    activations,
    boundaries,
    calibration_blinds,
    fresh_blinds,
)
from ..model.graph import segment as graph_segment
from ..model.model import Model, TensorSpec
from ..model.tiling import tile, tileable
from ..support.deps import need
from ..support.files import ZKML_FORMAT, atomic_write_text, private_tempdir, read_json
from ..support.progress import emit
from ..support.store import Store
from .build import Circuit, build, build_smallest, load_circuit, looks_like_scores, next_stage, witness_outputs
from .prepared import Prepared
from .report import CalibrationReport
from .visibility import Visibility

REPORT_SAMPLES = 8
MIN_SCALE = 4  # the coarsest scale a chain restarts at


@dataclass(frozen=True, eq=False)
class SplitCircuit:
    """A chain of segment circuits computing one model; ``cuts`` are the tensors handed from one to the next."""

    segments: tuple[Circuit, ...]
    model: Model = field(repr=False)
    cuts: tuple[str, ...]
    visibility: Visibility
    report: CalibrationReport
    links: tuple[Mapping[str, Any], ...] = ()  # per segment: its input and output tensors, blinding values in and out
    tiles: Mapping[str, int] = field(default_factory=dict)  # ops cut into tiles (model.tiling): output -> parts

    @property
    def units(self) -> int:
        return len(self.segments)

    @property
    def blinded(self) -> bool:
        """Whether the links carry fresh blinding values (a private input: the link commitments hide it)."""
        return any(link.get("blind_out") for link in self.links)

    @property
    def logrows(self) -> int:
        return max(c.logrows for c in self.segments)

    @property
    def num_rows(self) -> int:
        return max(c.num_rows for c in self.segments)

    @property
    def cached(self) -> bool:
        return all(c.cached for c in self.segments)

    @property
    def target(self) -> str:
        return self.segments[0].target

    def setup(
        self,
        srs: str | os.PathLike | None = None,
        *,
        store: Store | None = None,
        production: bool = False,
        srs_sha256: str | None = None,
    ):
        """Keys for every segment on one SRS: :func:`zkml.setup` (registered by the keys stage)."""
        return next_stage("setup")(self, srs=srs, store=store, production=production, srs_sha256=srs_sha256)

    def run(self, x: Any) -> list:
        """What the chain of circuits computes on ``x``: each segment's output handed to the next."""
        feeds = first_feeds(self, x, stage="compile")
        with private_tempdir() as tmp:
            for i, c in enumerate(self.segments):
                got, _ = witness_outputs(c, feeds, tmp / f"s{i}")
                if i + 1 < len(self.segments):
                    feeds = chain_feeds(self, i + 1, got)
        return got

    def save(self, path: str | os.PathLike) -> Path:
        d = Path(path)
        for i, c in enumerate(self.segments):
            c.save(d / f"seg{i:03d}")
        atomic_write_text(d / "split.json", json.dumps(self._meta(), indent=1))
        return d

    def _meta(self) -> dict:
        return {
            "format": ZKML_FORMAT,
            "kind": "split_circuit",
            "segments": len(self.segments),
            "cuts": list(self.cuts),
            "visibility": self.visibility.to_json(),
            "report": self.report.to_json(),
            "model": self.model.meta(),
            "links": [dict(link) for link in self.links],
            "tiles": dict(self.tiles),
        }

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SplitCircuit":
        d = Path(path)
        hint = "compile the model again with max_logrows (zkml.compile or prove-model compile --max-logrows)"
        meta = read_json(d / "split.json", error_cls=ArtifactError, stage="load", hint=hint)
        if not isinstance(meta, dict) or meta.get("kind") != "split_circuit" or meta.get("format") != ZKML_FORMAT:
            raise ArtifactError("not a zkml split circuit directory", where=d, hint=hint)
        segments = tuple(load_circuit(d / f"seg{i:03d}") for i in range(int(meta["segments"])))
        whole = segments[0].model  # the whole model is not needed to prove; the first segment's stands in
        return cls(
            segments,
            whole,
            tuple(meta["cuts"]),
            Visibility.from_json(meta["visibility"]),
            CalibrationReport.from_json(meta["report"]),
            tuple(meta.get("links") or ()),
            _tiles_of(meta, d / "split.json", hint),
        )


def split_compile(
    prep: Prepared, max_logrows: int, scales: list[int] | None, options: Mapping[str, Any]
) -> SplitCircuit | Circuit:
    """The fewest segments that each fit ``2^max_logrows`` rows (see the module docstring); one circuit if the
    whole model fits at a coarser scale than its own calibration chose."""
    plan = _Planner(prep, max_logrows, scales, options)
    while True:
        chosen, first = plan.restarting_chain()
        if len(chosen) == 1:
            return chosen[0][2]  # at the coarser scale the whole model fits: it stays one circuit
        try:
            return plan.finish(chosen, first)
        except _Shorten as s:  # a segment went over with its blinding values: it ends one cut earlier next time
            plan.caps[plan.key(s.a)] = plan.key(s.b - 1)


class _Planner:
    """Split compile's state: the cut points, the activations there, and how to build the segment between two."""

    def __init__(self, prep: Prepared, max_logrows: int, scales: list[int] | None, options: Mapping[str, Any]):
        self.prep, self.batch, self.vis, self.max_logrows = prep, prep.batch, prep.vis, max_logrows
        self.scales, self.options = scales, options
        self.original, self.tiles = prep.model, {}  # tiles: the ops cut into parts (their outputs: parts)
        self.caps: dict = {}  # a segment starting at a boundary ends no later than this one (blinding values' rows)
        self.candidates: list | None = None  # the user's ops that tiling can cut (found once, when first needed)
        self.use(prep.model)
        if not self.points:
            raise CompileError(
                f"the model does not fit 2^{max_logrows} rows and has no point where at most "
                f"{MAX_LINK_TENSORS} tensors carry everything forward, so it cannot be split",
                where="max_logrows",
                hint="raise max_logrows, or compile without it",
            )

    def use(self, model: Model) -> None:
        """Plan on ``model`` (the user's, or it with ops tiled): its cut points and the activations there."""
        batch = self.batch
        self.model, self.points = model, boundaries(model)
        names = sorted({n for p in self.points for n in p} - {t.name for t in model.inputs})
        acts = activations(model, batch, names)
        acts.update({t.name: batch[t.name] for t in model.inputs})
        # boundary 0 is the model's inputs, boundary j a cut's tensors, boundary `last` the model's outputs
        self.specs = [tuple(model.inputs)] + [
            tuple(TensorSpec(n, tuple(acts[n].shape[1:]), "float32") for n in p) for p in self.points
        ]
        self.data = [[batch[t.name] for t in model.inputs]] + [[acts[n] for n in p] for p in self.points]
        self.last = len(self.specs)

    def key(self, b: int):
        """Boundary ``b`` by what it hands over (tiling adds boundaries, so positions move; names do not)."""
        return () if b == 0 else self.points[b - 1]

    def cap(self, a: int) -> int:
        end = self.caps.get(self.key(a))
        return self.last if end is None or end not in self.points else self.points.index(end) + 1

    def retile(self, a: int, c: Circuit) -> bool | None:
        """Cut the heaviest op of the step after boundary ``a`` (whose segment ``c`` is too big), or the op whose
        element-wise tail it computes, into more tiles; None when none can be cut further (or cutting adds no
        cut point: too many values alive there). True when the segments before ``a`` may have changed (the op
        was tiled before, or it lies before ``a``), False when the op lies wholly after ``a``, first tiled."""
        step = graph_segment(self.model, self.specs[a], self.out_specs(a + 1))
        made = {o for n in _nodes(step) for o in n.output}
        if self.candidates is None:
            self.candidates = tileable(self.original)
        for cand in self.candidates:
            if not any(cand.covers(name) for name in made):
                continue
            have = self.tiles.get(cand.output, 1)
            want = min(cand.max_parts, max(2 * have, 2 * -(-c.num_rows // 2**self.max_logrows)))
            if want <= have:
                continue
            plan = {**self.tiles, cand.output: want}
            try:
                tiled = tile(self.original, plan)
            except ZKMLError:  # this op cannot be cut so (its check failed, or the graph refused it): another may
                continue
            if len(boundaries(tiled)) <= len(self.points):
                continue
            emit(
                "compile",
                f"split: the {cand.op} making '{cand.output}' does not fit 2^{self.max_logrows} rows: {want} tiles",
            )
            again = have > 1 or cand.output not in made
            self.tiles = plan
            self.use(tiled)
            return again
        return None

    def out_specs(self, b: int) -> tuple[TensorSpec, ...]:
        if b == self.last:
            return tuple(TensorSpec(t.name, t.shape, "float32") for t in self.model.outputs)
        return self.specs[b]

    def segment(
        self,
        a: int,
        b: int,
        in_scale: list[int] | None,
        pad: Circuit | None = None,
        rows: int | None = None,
        blind: tuple[int, int] = (0, 0),
    ) -> Circuit:
        vis, options = self.vis, self.options
        sub = graph_segment(self.model, self.specs[a], self.out_specs(b), *blind, link_in=a > 0, link_out=b < self.last)
        sv = Visibility(
            vis.input if a == 0 else "committed",
            vis.output if b == self.last else "committed",
            vis.params,
            allow_unbound_params=vis.allow_unbound_params,
        )
        part = self.prep.part(sub, _calibration(sub, self.specs[a], self.data[a], blind, in_scale), sv)
        if pad is None:  # the smaller of zkml's and ezkl's decompositions, as for a whole model
            if {"decomp_base", "decomp_legs"} & set(options):
                return build(part, "resources", None, in_scale, options)
            return build_smallest(part, in_scale, options)
        # padded to the chain's logrows, with the decomposition chosen for it
        opts = {
            **options,
            "min_logrows": rows,
            "decomp_base": pad.options["decomp_base"],
            "decomp_legs": pad.options["decomp_legs"],
        }
        return build(part, "resources", None, in_scale, opts)

    def fits(self, c: Circuit) -> bool:
        return c.logrows <= self.max_logrows

    def restarting_chain(self) -> tuple[list[tuple[int, int, Circuit]], list[int] | None]:
        """The chain, and the scale it starts at. The scale handed over a cut is fixed by the segment before it; a
        later segment whose lookups only fit at a lower scale (softmax's exp table doubles with every bit) restarts
        the chain at that scale."""
        first = self.scales
        while True:
            try:
                return self.chain(first), first
            except _Rescale as r:
                first = [min(r.scale, first[0] - 1) if first else r.scale]  # strictly lower each time
                if first[0] < MIN_SCALE:
                    raise CompileError(
                        f"no scale from {MIN_SCALE} up lets every segment fit 2^{self.max_logrows} rows",
                        where="max_logrows",
                        hint="raise max_logrows",
                    ) from None

    def chain(self, first_scales: list[int] | None) -> list[tuple[int, int, Circuit]]:
        """Greedy: from each boundary, the farthest end that still fits. Raises _Rescale when a segment only fits
        at a lower scale than the one handed to it."""
        chosen: list[tuple[int, int, Circuit]] = []
        a, in_scale = 0, first_scales
        while a < self.last:
            try:
                b, c = self.farthest(a, in_scale)
            except _Tiled as t:  # an op after `a` was cut into tiles: the segments before `a` stand as they are
                if t.again:  # cut into more tiles than before: earlier segments may hold some, so the chain again
                    chosen, a, in_scale = [], 0, first_scales  # (the pieces it built are cached)
                continue
            chosen.append((a, b, c))
            emit(
                "compile",
                f"split: segment {len(chosen)} ends at boundary {b} of {self.last} (2^{c.logrows} rows)",
                done=b,
                total=self.last,
            )
            in_scale = [
                int(s) for s in c.settings["model_output_scales"][:1]
            ]  # the next segment reads these values exactly
            a = b
        return chosen

    def farthest(self, a: int, in_scale: list[int] | None) -> tuple[int, Circuit]:
        """The farthest boundary after ``a`` whose segment fits (binary search), and its circuit. The one-step
        segment is compiled first: when even it does not fit, the refusal comes after one compile, not log2(n)
        compiles of ever larger segments."""
        lo, hi, best, why, one = a + 2, self.cap(a), None, "", None
        try:
            c = one = self.segment(a, a + 1, in_scale)
            best, why = ((a + 1, c), "") if self.fits(c) else (None, f" (2^{c.logrows})")
            if best is None:
                hi = lo - 1  # a longer segment holds these rows and more: none fits
        except ZKMLError as err:  # this piece alone did not compile: a longer one still may
            why = f" ({type(err).__name__}: {err.message[:200]})"
        while lo <= hi:
            mid = (lo + hi) // 2
            try:
                c = self.segment(a, mid, in_scale)
            except ZKMLError as err:
                c, why = None, f" ({type(err).__name__}: {err.message[:200]})"
            if c is not None and self.fits(c):
                best, lo = (mid, c), mid + 1
            else:
                hi = mid - 1
                why = why if c is None else f" (2^{c.logrows})"
        if best is not None:
            return best
        again = self.retile(a, one) if one is not None else None  # an op too big for a segment alone: tiles
        if again is not None:
            raise _Tiled(again)
        where = "the input" if a == 0 else "', '".join(self.points[a - 1])
        lower = (
            _fitting_scale(lambda t: self.segment(a, a + 1, [t]), self.fits, in_scale)
            if a and not self.scales
            else None
        )
        if lower is not None:
            raise _Rescale(lower)
        raise CompileError(
            f"even the smallest segment after '{where}' does not fit 2^{self.max_logrows} rows{why}",
            where="max_logrows",
            hint="raise max_logrows (each segment must fit it)" + (", or pass lower scales" if self.scales else ""),
        )

    def finish(self, chosen: list[tuple[int, int, Circuit]], first: list[int] | None) -> SplitCircuit:
        """Every segment at one row count (linked commitments are over the same Lagrange basis) and, with a private
        input, built again with the blinding values its links carry (graph.segment)."""
        rows, n = max(c.logrows for _, _, c in chosen), len(chosen)
        blinded = self.vis.input == "private"
        segments, links, in_scale = [], [], first
        for i, (a, b, c) in enumerate(chosen):
            emit("compile", f"split: segment {i + 1}/{n} at 2^{rows} rows", done=i, total=n)
            blind = (
                BLIND_VALUES * (n - i) if blinded and i else 0,
                BLIND_VALUES * (n - 1 - i) if blinded and i < n - 1 else 0,
            )
            if in_scale is None and blinded:  # the blinding values must be exact at the first segment's input scale
                in_scale = [int(s) for s in c.settings["model_input_scales"][:1]]
            seg = (
                c
                if c.logrows == rows and blind == (0, 0)
                else self.segment(a, b, in_scale, pad=c, rows=rows, blind=blind)
            )
            if seg.logrows > self.max_logrows and b > a + 1:
                raise _Shorten(a, b)
            if seg.logrows > self.max_logrows:
                raise CompileError(
                    f"a segment with its blinding values needs 2^{seg.logrows} rows, over 2^{self.max_logrows}",
                    where="max_logrows",
                    hint="raise max_logrows by one",
                )
            segments.append(seg)
            links.append(
                {
                    "inputs": [t.to_json() for t in self.specs[a]],
                    "outputs": [t.to_json() for t in self.out_specs(b)],
                    "blind_in": blind[0],
                    "blind_out": blind[1],
                    "link_in": a > 0,
                    "link_out": b < self.last,
                }
            )
            in_scale = [int(s) for s in seg.settings["model_output_scales"][:1]]
        for prev, nxt in zip(segments, segments[1:]):
            if list(prev.settings["model_output_scales"][:1]) != list(nxt.settings["model_input_scales"][:1]):
                raise CompileError(
                    "two linked segments disagree on the scale of the tensor between them",
                    where="split",
                    hint="report this model; compile with explicit scales=[s] meanwhile",
                )
        cut_names = tuple("+".join(self.points[b - 1]) for _, b, _ in chosen[:-1])
        return SplitCircuit(
            tuple(segments),
            self.model,
            cut_names,
            self.vis,
            _report(self.original, self.batch, segments),  # against the user's model, not the tiled one
            tuple(links),
            dict(self.tiles),
        )


def _calibration(
    sub: Model, specs: tuple[TensorSpec, ...], values: list, blind: tuple[int, int], in_scale: list[int] | None
) -> dict:
    """A segment's calibration batch: the activations at its inputs, packed in a link (with blinding values) where
    it reads one."""
    np = need("numpy")
    scale = int(in_scale[0]) if in_scale else 0
    n = values[0].shape[0]
    if LINK_IN in {t.name for t in sub.inputs}:  # the input link: the flattened activations, then the blinding values
        parts = [v.reshape(n, -1) for v in values]
        if blind[0]:
            parts.append(calibration_blinds(blind[0] // BLIND_VALUES, scale, n))
        return {LINK_IN: np.concatenate(parts, axis=1).reshape(n, 1, -1)}
    batch = {t.name: v for t, v in zip(specs, values)}
    if blind[1] and BLIND_INPUT in {t.name for t in sub.inputs}:
        batch[BLIND_INPUT] = calibration_blinds(blind[1] // BLIND_VALUES, scale, n)[:, None, :]
    return batch


def chain_feeds(circuit: "SplitCircuit", i: int, got: list) -> dict:
    """What segment ``i`` reads: the previous segment's output, blinding values included."""
    return {circuit.segments[i].model.inputs[0].name: got[0]}


def first_feeds(circuit: "SplitCircuit", x: Any, *, stage: str = "prove") -> dict:
    """The first segment's feeds for the model's input ``x``: with fresh blinding values for every link (private)."""
    from ..model.inputs import to_feeds

    first = circuit.segments[0]
    names = [t.name for t in first.model.inputs]
    if BLIND_INPUT not in names:
        return to_feeds(first.model, x, stage=stage)
    if isinstance(x, Mapping) and BLIND_INPUT in x:
        raise ZKMLError(
            f"'{BLIND_INPUT}' is zkml's own input (the links' blinding values)",
            stage=stage,
            where="inputs",
            hint="pass the model's input only",
        )
    own = tuple(t for t in first.model.inputs if t.name != BLIND_INPUT)
    feeds = to_feeds(SimpleNamespace(inputs=own), x, stage=stage)  # the model's own inputs, as for a whole model
    blind = next(t for t in first.model.inputs if t.name == BLIND_INPUT)
    scale = int(first.settings["model_input_scales"][names.index(BLIND_INPUT)])
    feeds[BLIND_INPUT] = fresh_blinds(blind.size // BLIND_VALUES, scale)
    return feeds


def _tiles_of(meta: Mapping, where: Path, hint: str) -> dict[str, int]:
    tiles = meta.get("tiles") or {}
    try:
        return {str(k): int(v) for k, v in dict(tiles).items()}
    except (TypeError, ValueError):
        raise ArtifactError("its 'tiles' is not a map of op outputs to tile counts", where=where, hint=hint) from None


class _Tiled(Exception):
    def __init__(self, again: bool):
        self.again = again


class _Shorten(Exception):
    def __init__(self, a: int, b: int):
        self.a, self.b = a, b


def _nodes(model: Model) -> list:
    onnx = need("onnx")
    return list(onnx.load_model_from_string(model.onnx_bytes).graph.node)


class _Rescale(Exception):
    def __init__(self, scale: int):
        self.scale = scale


def _fitting_scale(build_at, fits, in_scale: list[int] | None) -> int | None:
    """The highest scale below the handed-over one at which a segment fits (None if none down to MIN_SCALE)."""
    top = int(in_scale[0]) if in_scale else 0
    for t in range(top - 1, MIN_SCALE - 1, -1):
        try:
            if fits(build_at(t)):
                return t
        except ZKMLError:
            continue
    return None


def _report(model: Model, batch: Mapping, segments: list[Circuit]) -> CalibrationReport:
    """End to end: the chain of circuits against onnxruntime on the whole model, on calibration samples."""
    np = need("numpy")
    n = min(next(iter(batch.values())).shape[0], REPORT_SAMPLES)
    abs_errs, rel_errs, agree = [], [], 0
    chain = SimpleNamespace(segments=segments)
    with private_tempdir() as tmp:
        for i in range(n):
            feeds = {t.name: batch[t.name][i] for t in model.inputs}
            ref = model.run(feeds)
            x = first_feeds(chain, feeds, stage="compile")
            for j, c in enumerate(segments):
                got, _ = witness_outputs(c, x, tmp / f"r{i}-{j}")
                if j + 1 < len(segments):
                    x = chain_feeds(chain, j + 1, got)
            cmp = compare(ref, got)
            abs_errs.append(cmp.max_abs_error)
            rel_errs.append(cmp.max_rel_error)
            agree += int(np.argmax(ref[0]) == np.argmax(got[0]))
    return CalibrationReport(
        n, max(abs_errs), max(rel_errs), sum(abs_errs) / n, agree / n if looks_like_scores(model) else None
    )
