"""What every prove-model subcommand shares: the run state (stage timings, progress), output, the dev-SRS warning."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import click

ENV_HELP = ("Environment: ZKML_HOME (cache), ZKML_CACHE_MAX (cache size cap), ZKML_SRS (SRS file), ZKML_SRS_SHA256 (its pinned digest), ZKML_RPC_URL (JSON-RPC nodes), ZKML_PRIVATE_KEY / ZKML_KEYSTORE + ZKML_KEYSTORE_PASSWORD (the account that sends transactions), ZKML_NODE_MODULES (solc-js, anvil), ZKML_ANVIL (anvil binary), ZKML_DEBUG=1 (tracebacks).")


class _State:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; show a live spinner with the elapsed time on a terminal's stderr."""
        t0 = time.perf_counter()
        status = None
        if not self.quiet and sys.stderr.isatty():
            from rich.console import Console

            status = Console(stderr=True).status(f"{name}…")
            status.start()
        try:
            yield
        finally:
            if status is not None:
                status.stop()
            self.timings[name] = round(time.perf_counter() - t0, 4)
            if not self.quiet and sys.stderr.isatty():
                click.echo(f"  {name:<10} {self.timings[name]:.2f}s", err=True)


def _emit(as_json: bool, obj: dict, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, default=_jsonable))
    else:
        for line in lines:
            click.echo(line)


def _jsonable(o: Any):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _dev_warning(dev: bool) -> list[str]:
    return [click.style("WARNING: made with an INSECURE dev SRS (generated locally). Pass --srs FILE (or ZKML_SRS) "
                        "with a ceremony SRS for production.", fg="yellow")] if dev else []


_json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _load_input(path: str):
    from ..model.inputs import load_input_file

    return load_input_file(path)
