"""Worker processes are spawned: each imports the main script again. Say so before that goes wrong."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from ..errors import ProveError


def check_main_guard() -> None:
    """A script whose top level starts workers without an ``if __name__ == "__main__":`` guard would start them
    again in every worker (each spawned worker imports the main script)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or getattr(main, "__spec__", None) is not None:  # REPL, -c, -m: nothing re-runs
        return
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))
        ):
            return
    raise ProveError(
        "zkml starts worker processes that import your script again, and this script has no "
        '`if __name__ == "__main__":` guard: every worker would start the work anew',
        where=path,
        hint='put the code that proves under `if __name__ == "__main__":` (or use one worker / a Ray cluster)',
    )


def spawn_context():
    """The spawn context, after checking that the main script can be imported again safely."""
    import multiprocessing

    check_main_guard()
    return multiprocessing.get_context("spawn")
