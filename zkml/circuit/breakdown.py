"""Why a circuit has the size it has: its rows by op and by lookup table, what sets its logrows, and the
setting that would shrink it.

What ezkl reports, measured with ezkl 23.0.5:

- ``settings.json`` gives the totals: ``num_rows`` (the rows the ops use), ``required_lookups`` (one table
  per non-linearity, every one spanning ``run_args.lookup_range``), ``required_range_checks`` (one table per
  range, e.g. ``[0, decomp_base - 1]`` for the decomposition), shuffles and dynamic lookups
  (``total_shuffle_col_size``, ``total_dynamic_col_size``), constants (``total_const_size``) and hashing
  modules (``module_sizes``). A circuit needs ``2^logrows`` rows with ``logrows`` at least ``log2`` of the
  largest of these plus 8 reserved rows (ezkl's 5 blinding factors + 3 of padding), as ezkl computes it.
- rows per op are in no file: ezkl's debug log of its dummy layout says at which row each node starts
  (``laying out N: OP`` then the region's ``rows=R``). zkml replays that layout (``gen_settings`` with the
  circuit's scales, in a child process: ezkl reads its log level once per process) and reads only the node
  numbers, op names and row counts from it, never a logged value. The rows per node then sum to ``num_rows``
  (checked; when they do not, the breakdown says so).
- per lookup table, ezkl reports no rows used: a table's size is its range, whichever op fills it.

The result is cached per circuit (``$ZKML_HOME/breakdown``); it holds nothing of the calibration data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import CompileError
from ..support.store import Store
from .compiler import circuit_for_estimate
from .sizes import (  # noqa: F401  (RESERVED_ROWS and summary: this module's names too)
    RESERVED_ROWS,
    Part,
    op_counts,
    op_setting,
    settings_parts,
    summary,
    verdict,
)

LAYOUT_VERSION = 1  # part of the cache key: a changed parser reads the log again
LAYOUT_TIMEOUT_S = 600


@dataclass(frozen=True)
class Breakdown:
    """A circuit's rows explained: ``parts`` (tables and the ops' total), ``ops`` (rows per op kind, where
    ezkl's layout log gave them), what sets ``logrows``, and the plain verdict in ``message``."""

    logrows: int
    num_rows: int
    parts: tuple[Part, ...]
    ops: tuple[Part, ...]
    ops_source: str  # where the per-op rows come from, or why there are none
    ops_sum_matches: bool | None  # the per-op rows sum to num_rows (None: no per-op rows)
    message: str
    advice: str
    segment: int | None = None
    onnx_ops: Mapping[str, int] = field(default_factory=dict)  # op type -> nodes in the ONNX graph

    @property
    def largest(self) -> Part:
        return max(self.parts, key=lambda p: p.rows)

    def to_json(self) -> list[dict]:
        """The ``breakdown`` list of ``estimate --json``: every part, the ops' per-kind rows, then the verdict."""
        k = self.logrows
        seg = {} if self.segment is None else {"segment": self.segment}
        rows = [
            {
                "kind": p.kind,
                "name": p.name,
                "rows": p.rows,
                "share": round(p.rows / 2**k, 4),
                "logrows": p.logrows,
                "sets_logrows": p.logrows == k and p.kind != "op",
                "detail": p.detail,
                "setting": p.setting,
                **({"nodes": p.nodes} if p.kind == "op" else {}),
                **seg,
            }
            for p in (*self.parts, *self.ops)
        ]
        rows.append(
            {
                "kind": "summary",
                "name": "why this size",
                "logrows": k,
                "rows": self.num_rows,
                "message": self.message,
                "setting": self.advice,
                "ops_source": self.ops_source,
                "ops_sum_matches": self.ops_sum_matches,
                "onnx_ops": dict(self.onnx_ops),
                **seg,
            }
        )
        return rows

    def lines(self, top: int = 5) -> list[str]:
        head = f"segment {self.segment}: " if self.segment is not None else ""
        out = [f"  size       {head}{self.message}"]
        if self.advice:
            out.append(f"  shrink     {self.advice}")
        for p in sorted(self.parts, key=lambda p: -p.rows)[:top]:
            out.append(f"    {p.rows:>10,} rows  {p.name}{f' ({p.detail})' if p.detail else ''}")
        if self.ops:
            out.append(f"  by op      ({self.ops_source})")
            for p in sorted(self.ops, key=lambda p: -p.rows)[:top]:
                out.append(f"    {p.rows:>10,} rows  {p.name} ×{p.nodes}")
        else:
            out.append(f"  by op      {self.ops_source}")
        return out


# per-op rows: ezkl's layout log, replayed in a child process
_LAYOUT = r"""
import json, logging, re, sys
from zkml import engine
from zkml.errors import CompileError
onnx, out, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
rec = {"names": {}, "nodes": [], "total": None}
state = {"node": None, "after_outputs": False}
NAME = re.compile(r'Loading node: Node \{ id: (\d+), name: "([^"]*)"')
LAY = re.compile(r"^laying out (\d+): (.*)$", re.S)
ROWS = re.compile(r"^\(rows=(\d+), ")
class Parse(logging.Handler):  # keeps node numbers, op names and row counts: never a logged value
    def emit(self, r):
        m = r.getMessage()
        if (g := NAME.search(m)):
            rec["names"][g.group(1)] = g.group(2)[:120]
        elif (g := LAY.match(m)):
            label = g.group(2).split("\n")[0]
            rec["nodes"].append([int(g.group(1)), label[:300], None])
            state["node"] = len(rec["nodes"]) - 1
        elif m.startswith("model outputs are nodes"):
            state["after_outputs"] = True
        elif (g := ROWS.match(m)):
            if state["after_outputs"]:
                rec["total"] = int(g.group(1))
            elif state["node"] is not None and rec["nodes"][state["node"]][2] is None:
                rec["nodes"][state["node"]][2] = int(g.group(1))
lg = logging.getLogger("ezkl")
lg.setLevel(logging.DEBUG)
for name in ("ezkl.graph.model", "ezkl.graph.utilities", "ezkl.circuit.ops.region"):
    logging.getLogger(name).addHandler(Parse())
ra = engine.run_args(args["visibility"], args["options"], args["variables"])
engine.call(CompileError, "layout replay", "gen_settings", onnx, out, ra)
rec["num_rows"] = json.load(open(out))["num_rows"]
rec["names"] = {k: v for k, v in rec["names"].items()}
sys.stdout.write(json.dumps(rec))
"""


def _op_label(label: str) -> str:
    """ezkl's node label -> an op kind: "REBASED (div=...) (EINSUM mk,nk->mn)" -> "EINSUM + rescale"."""
    label = label.strip()
    rebased = label.startswith("REBASED")
    if rebased:
        inner = re.findall(r"\(([A-Z][A-Z_]*)[ )]", label)
        inner = [w for w in inner if w not in ("DIV",)]
        name = inner[-1] if inner else "REBASED"
        return f"{name} + rescale"
    word = re.split(r"[ (]", label, maxsplit=1)[0]
    return {"Input": "input (range checks)", "CONST": "constant"}.get(word, word)


def _layout(circuit, store: Store) -> dict | None:
    """ezkl's per-node row starts for this circuit (cached), or None when the log could not be read."""
    key = f"{circuit.key}-v{LAYOUT_VERSION}"
    cached = store.get("breakdown", key)
    if cached is not None:
        try:
            return json.loads((cached / "layout.json").read_text())
        except (OSError, ValueError):
            pass
    ra = circuit.settings["run_args"]
    opts = {
        **circuit.options,
        "input_scale": int(ra["input_scale"]),
        "param_scale": int(ra["param_scale"]),
        "scale_rebase_multiplier": int(ra.get("scale_rebase_multiplier", 1)),
    }
    opts.pop("logrows", None)
    args = {
        "visibility": circuit.visibility.to_json(),
        "options": opts,
        "variables": [list(v) for v in circuit.model.variables],
    }
    from ..support.files import private_tempdir

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("ZKML_DEBUG", None)  # the child reads ezkl's log itself
    with private_tempdir() as tmp:
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _LAYOUT,
                    str(circuit.path / "network.onnx"),
                    str(tmp / "s.json"),
                    json.dumps(args),
                ],
                capture_output=True,
                text=True,
                timeout=LAYOUT_TIMEOUT_S,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if proc.returncode != 0:
        return None
    try:
        rec = json.loads(proc.stdout)
    except ValueError:
        return None

    def fill(d: Path) -> None:
        (d / "layout.json").write_text(json.dumps(rec))

    store.get_or_build("breakdown", key, fill)
    return rec


def op_rows(circuit, store: Store | None = None) -> tuple[list[Part], str, bool | None]:
    """(rows per op kind, where they come from, whether they sum to num_rows)."""
    rec = _layout(circuit, store or Store())
    num_rows = int(circuit.settings.get("num_rows", 0))
    if rec is None or not rec.get("nodes") or rec.get("total") is None:
        return (
            [],
            ("not reported: ezkl's layout log could not be read for this circuit (the ONNX op counts are below)"),
            None,
        )
    nodes = [n for n in rec["nodes"] if n[2] is not None]
    per: dict[str, list] = {}
    ends = [n[2] for n in nodes[1:]] + [int(rec["total"])]
    for (idx, label, start), end in zip(nodes, ends):
        kind = _op_label(label)
        entry = per.setdefault(kind, [0, 0, []])
        entry[0] += max(end - start, 0)
        entry[1] += 1
        name = rec["names"].get(str(idx))
        if name and len(entry[2]) < 3:
            entry[2].append(name)
    ops = [
        Part("op", kind, rows, detail=", ".join(names), setting=op_setting(kind), nodes=count)
        for kind, (rows, count, names) in per.items()
        if rows > 0
    ]
    total = sum(p.rows for p in ops)
    matches = total == num_rows
    source = (
        "ezkl's layout log: rows from each node's start to the next, summing to num_rows"
        if matches
        else f"ezkl's layout log, replayed: {total:,} rows against the circuit's {num_rows:,} (approximate per op)"
    )
    return ops, source, matches


def of_circuit(circuit, *, store: Store | None = None, per_op: bool = True, segment: int | None = None) -> Breakdown:
    onnx_ops = op_counts(circuit.model)
    parts = settings_parts(circuit.settings, private=bool(circuit.report.private), op_types=onnx_ops)
    ops, source, matches = op_rows(circuit, store) if per_op else ([], "not computed (per_op=False)", None)
    msg, advice = verdict(circuit.logrows, parts, ops)
    return Breakdown(
        circuit.logrows, circuit.num_rows, tuple(parts), tuple(ops), source, matches, msg, advice, segment, onnx_ops
    )


def breakdown(target: Any, *, store: Store | None = None, per_op: bool = True) -> list[Breakdown]:
    """The breakdown of a Circuit, SplitCircuit (one per segment), Keys or SplitKeys (their circuits)."""
    circuit = getattr(target, "circuit", target)  # keys: their circuit
    segments = getattr(circuit, "segments", None)
    if segments:
        return [of_circuit(c, store=store, per_op=per_op, segment=i) for i, c in enumerate(segments)]
    if not (hasattr(circuit, "settings") and hasattr(circuit, "model") and hasattr(circuit, "compiled_path")):
        raise CompileError(
            f"a breakdown needs a circuit or keys, not {type(target).__name__}",
            where="circuit",
            hint="pass zkml.compile's result, or keys from zkml.setup",
        )
    return [of_circuit(circuit, store=store, per_op=per_op)]


def to_json(items: list[Breakdown]) -> list[dict]:
    return [row for b in items for row in b.to_json()]


def lines(items: list[Breakdown]) -> list[str]:
    """Text lines: for a split circuit, its largest segment's (the others are in --json)."""
    if not items:
        return []
    b = max(items, key=lambda b: (b.logrows, b.num_rows))
    out = b.lines()
    if len(items) > 1:
        out[0] += f" (the largest of {len(items)} segments)"
    return out


def for_estimate(model, calibration_data: Any, **compile_options: Any):
    """The circuit :func:`zkml.estimate` would estimate for a model (:func:`zkml.circuit.compiler.circuit_for_estimate`)."""
    return circuit_for_estimate(model, calibration_data, **compile_options)


# the report page: one static HTML file, inline SVG, nothing fetched
def _bars(
    items: list[tuple[str, float, str]],
    *,
    width: int = 640,
    unit: str = "rows",
    marker: float | None = None,
    marker_label: str = "",
) -> str:
    """A horizontal bar chart as inline SVG: (label, value, note) per bar; ``marker``: a vertical line (2^logrows)."""
    from html import escape

    if not items:
        return "<p>nothing to plot</p>"
    label_w, bar_w, row_h = 260, width - 260 - 110, 22
    top = max([v for _, v, _ in items] + ([marker] if marker else []) + [1e-300])
    h = row_h * len(items) + (24 if marker else 6)
    out = [f'<svg width="{width}" height="{h}" viewBox="0 0 {width} {h}" role="img" class="chart">']
    for i, (label, value, note) in enumerate(items):
        y = i * row_h + 3
        w = max(bar_w * value / top, 1.0 if value > 0 else 0.0)
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{escape(label[:40])}</text>')
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="#4a7bd0">'
            f"<title>{escape(note or label)}</title></rect>"
        )
        shown = f"{value:,.0f}" if unit == "rows" else f"{value:.3g}"
        out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{shown}</text>')
    if marker:
        x = label_w + bar_w * marker / top
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h - 16}" stroke="#c0392b" stroke-dasharray="4 3"/>')
        out.append(
            f'<text x="{x:.1f}" y="{h - 4}" font-size="11" text-anchor="middle" fill="#c0392b">{escape(marker_label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _calibration_section(circuit) -> str:
    from html import escape

    r = circuit.report
    if r.private:
        return f"<p>{escape(str(r))}.</p>"
    head = f"<p>{escape(str(r))}.</p>"
    try:
        meta = json.loads((Path(circuit.path) / "circuit.json").read_text())
    except (OSError, ValueError, TypeError):
        meta = {}
    per = meta.get("calibration_per_output")
    if not per:
        return head + (
            "<p>The error per output was not recorded for this circuit (a split circuit, or one compiled "
            "before zkml recorded it): compile it again to see it.</p>"
        )
    names = [t.name for t in circuit.model.outputs]
    items = [
        (f"{names[j] if j < len(names) else j}[{i}]", float(v), f"max abs error of output {j} element {i}")
        for j, errs in enumerate(per)
        for i, v in enumerate(errs)
    ]
    return (
        head
        + "<p>Largest absolute error of each output element over the calibration samples:</p>"
        + _bars(items, unit="error")
    )


def _section(b: Breakdown, circuit, est) -> str:
    from html import escape

    k = b.logrows
    title = f"Segment {b.segment}" if b.segment is not None else "Circuit"
    parts = sorted(b.parts, key=lambda p: -p.rows)
    ops = sorted(b.ops, key=lambda p: -p.rows)
    rows = "".join(
        f"<tr><td>{escape(p.name)}</td><td class=n>{p.rows:,}</td><td class=n>2^{p.logrows}</td>"
        f"<td>{escape(p.detail)}</td><td>{escape(p.setting)}</td></tr>"
        for p in parts
    )
    op_rows_ = "".join(
        f"<tr><td>{escape(p.name)}</td><td class=n>{p.nodes}</td><td class=n>{p.rows:,}</td>"
        f"<td>{escape(p.detail)}</td></tr>"
        for p in ops
    )
    onnx = ", ".join(f"{escape(t)} ×{n}" for t, n in sorted(b.onnx_ops.items()))
    est_rows = (
        ""
        if est is None
        else "".join(
            f"<tr><td>{escape(name)}</td><td class=n>{escape(value)}</td></tr>"
            for name, value in (
                ("rows", f"2^{est.logrows} ({est.rows:,} used by the ops)"),
                ("width", f"{est.width:.2f}"),
                ("proving key", f"{est.pk_bytes / 1e9:.3f} GB"),
                ("peak memory", f"{est.peak_memory_bytes / 1e9:.3f} GB of {est.machine_memory_bytes / 1e9:.1f} GB"),
                ("setup", f"~{est.setup_s:.1f} s"),
                ("prove", f"~{est.prove_s:.1f} s"),
                ("verifier", f"~{est.verifier_bytes / 1000:.1f} kB"),
                ("fits this machine", "yes" if est.fits else "NO"),
            )
        )
    )
    return f"""
<section>
<h2>{escape(title)}: 2^{k} rows</h2>
<p class=verdict>{escape(b.message)}.</p>
{f"<p><b>To shrink it:</b> {escape(b.advice)}.</p>" if b.advice else ""}
<h3>Rows each part needs</h3>
{_bars([(p.name, p.rows, p.detail) for p in parts], marker=2**k, marker_label=f"2^{k} rows")}
<table><tr><th>part</th><th>rows</th><th>needs</th><th>why</th><th>what would shrink it</th></tr>{rows}</table>
<h3>Rows by op</h3>
<p>{escape(b.ops_source)}.</p>
{_bars([(p.name, p.rows, p.detail) for p in ops]) if ops else ""}
{f"<table><tr><th>op</th><th>nodes</th><th>rows</th><th>nodes named</th></tr>{op_rows_}</table>" if ops else ""}
<p>ONNX graph: {onnx or "not read"}.</p>
<h3>Calibration error</h3>
{_calibration_section(circuit)}
{f"<h3>Estimate on this machine</h3><table>{est_rows}</table>" if est_rows else ""}
</section>"""


def report_html(target: Any, *, store: Store | None = None) -> str:
    """One static page for a Circuit, SplitCircuit, Keys or SplitKeys: the breakdown, the calibration error per
    output and the estimate, with inline SVG bar charts. No script, no stylesheet or font from anywhere else."""
    from html import escape

    from .estimate import for_settings, for_split

    circuit = getattr(target, "circuit", target)
    items = breakdown(circuit, store=store)
    segments = list(getattr(circuit, "segments", None) or [circuit])
    total = for_split(segments) if len(segments) > 1 else for_settings(circuit.settings)
    body = "".join(_section(b, seg, for_settings(seg.settings)) for b, seg in zip(items, segments))
    overall = (
        ""
        if len(segments) == 1
        else (
            f"<p>{len(segments)} segments, proved as one inference: {escape(str(total))}."
            f"</p><h3>End-to-end calibration</h3><p>{escape(str(circuit.report))}.</p>"
        )
    )
    kind = "keys" if hasattr(target, "circuit") else "circuit"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Why this size: {escape(kind)} of model {escape(circuit.model.hash[:16])}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: .6em 0 1.2em; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; vertical-align: top; }}
th {{ background: #f2f2f2; text-align: left; }} td.n {{ text-align: right; white-space: nowrap; }}
.verdict {{ font-size: 1.1em; background: #fff6dd; padding: .5em .8em; border-left: 4px solid #e0a800; }}
.chart text {{ font-family: system-ui, sans-serif; }}
</style></head><body>
<h1>Why this size</h1>
<p>{escape(kind.capitalize())} of ONNX model <code>{escape(circuit.model.hash)}</code>, visibility
{escape(str(circuit.visibility))}. Written by zkml; everything here is read from the circuit's public settings,
ezkl's layout of it and the calibration report, never from an input.</p>
{overall}
{body}
</body></html>
"""
