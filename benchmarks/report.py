"""Where benchmark results go, and how: ``<stem>.json`` (everything measured) beside ``<stem>.md`` (the table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(stem: str, data: Any, markdown: str, out: Path = RESULTS, *, echo: bool = True) -> None:
    """Write ``out/<stem>.json`` and ``out/<stem>.md``; print the table unless ``echo`` is off."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    (out / f"{stem}.md").write_text(text)
    if echo:
        print(text, end="")
