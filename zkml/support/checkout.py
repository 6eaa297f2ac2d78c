"""Where zkml's checkout is, for the parts that live beside the package (benchmarks/, node_modules/)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def find_upwards(relative: str, *, extra: tuple[Path, ...] = ()) -> Path | None:
    """The first ``base/relative`` that exists, for base in the cwd and its parents, then the package's
    own parents, then ``extra``: a checkout run from anywhere inside it, or an editable install."""
    starts = (Path.cwd(), PACKAGE_DIR)
    for base in [*(p for s in starts for p in (s, *s.parents)), *extra]:
        if (base / relative).exists():
            return base / relative
    return None
