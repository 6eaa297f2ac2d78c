"""``prove-model report``: one static HTML page on why a circuit has its size (:mod:`zkml.circuit.breakdown`)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _emit, _json_opt, _State


@click.command("report")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)
@_json_opt
@click.pass_obj
def report_cmd(st: _State, path: str, output: str, as_json: bool) -> None:
    """Write one static page (viewable offline) on CIRCUIT or KEYS: rows by op and by lookup table, what sets the
    size and the setting that would shrink it, the calibration error per output, and the estimate."""
    from ..circuit.breakdown import breakdown, lines, report_html, to_json
    from ..errors import ArtifactError
    from ..support.files import atomic_write_text
    from ..verifier.loader import artifact_kind, load

    kind = artifact_kind(Path(path))
    if kind not in ("circuit", "split_circuit", "keys", "split_keys"):
        raise ArtifactError(
            f"a report explains a circuit or keys, and this is {'a ' + kind if kind else 'neither'}",
            stage="report",
            where=path,
            hint="pass a directory from prove-model compile or setup",
        )
    target = load(Path(path))
    with st.stage("report"):
        page = report_html(target)
        parts = breakdown(target)
    atomic_write_text(Path(output), page)
    _emit(
        as_json,
        {"ok": True, "report": output, "bytes": len(page.encode()), "breakdown": to_json(parts), "timings": st.timings},
        [f"wrote {output} ({len(page.encode()):,} bytes)", *lines(parts)],
    )
