"""What every prove-model subcommand shares: the run state (stage timings, progress), output, the dev-SRS warning."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import click

ENV_HELP = "Environment: ZKML_HOME (cache), ZKML_CACHE_MAX (cache size cap), ZKML_SRS (SRS file), ZKML_SRS_SHA256 (its pinned digest), ZKML_SRS_URL (where srs fetch downloads from), ZKML_WORKER_TIMEOUT (seconds a worker may take per task), ZKML_RPC_URL (JSON-RPC nodes), ZKML_PRIVATE_KEY / ZKML_KEYSTORE + ZKML_KEYSTORE_PASSWORD (the account that sends transactions), ZKML_NODE_MODULES (solc-js, anvil), ZKML_ANVIL (anvil binary), ZKML_DEBUG=1 (tracebacks), ZKML_PROGRESS_INTERVAL (seconds between progress lines when stderr is not a terminal; default 10)."


# The progress display runs in a child process: ezkl holds the GIL through a whole setup or proof, so no thread
# of this process could tick. The child reads events as JSON lines on its stdin and writes to this stderr: on a
# terminal a rich display (spinner, bar, elapsed, ETA), else plain timestamped lines for the slow steps: a step
# predicted to take ZKML_PROGRESS_INTERVAL seconds (default 10) or more says so when it starts, any step still
# running after that long gets a line every interval, and a step that was shown says when it ends. Quick
# commands (and one-line errors) stay as they were.
_VIEW = r"""
import json, os, queue, sys, threading, time
plain = sys.argv[1] == "plain"
interval = float(sys.argv[2])
q = queue.Queue()
def read():
    for line in sys.stdin:
        try:
            q.put(json.loads(line))
        except ValueError:
            pass
    q.put(None)
threading.Thread(target=read, daemon=True).start()
def secs(s):
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s" if s < 120 else f"{int(s // 60)} min {int(s % 60):02d} s"
def what(e):
    return f"{e['stage']}: {e['step']}" if e["step"] else e["stage"]
def count(e):
    if e.get("done") is None:
        return ""
    f = (lambda n: f"{n / 1e6:.1f} MB") if e.get("unit") == "bytes" else (lambda n: f"{n:g}")
    return f" {f(e['done'])}" + (f"/{f(e['total'])}" if e.get("total") else "")
open_ = {}  # (stage, step, depth) -> {"t0": wall start, "ev": last event, "at": wall time of it}
def left(o, now):
    eta = o["ev"].get("eta")
    if eta is None:
        return ""
    rest = eta - (now - o["at"])
    return f", ~{secs(rest)} left" if rest > 0 else ", past the predicted time"
if plain:
    # quiet unless slow: a step shows once it is predicted or seen to take an interval, then a line every interval
    def out(text):
        sys.stderr.write(time.strftime("%Y-%m-%d %H:%M:%S ") + text + "\n")
        sys.stderr.flush()
    last = 0.0
    while True:
        try:
            m = q.get(timeout=min(0.2, interval))
        except queue.Empty:
            m = ""
        now = time.time()
        if m is None:
            break
        if m:
            if m["kind"] == "print":
                out(m["text"])
                last = now
                continue
            k = (m["stage"], m["step"], m["depth"])
            if m["status"] == "start":
                open_[k] = {"t0": m["time"] - m["elapsed"], "ev": m, "at": now, "shown": False}
                if m.get("eta") and m["eta"] >= interval:
                    out(f"{what(m)}{count(m)}: started, ~{secs(m['eta'])} predicted")
                    open_[k]["shown"] = last = now
            elif m["status"] in ("done", "failed"):
                o = open_.pop(k, None)
                if (o and o["shown"]) or m["elapsed"] >= interval:
                    verb = "done in" if m["status"] == "done" else "failed after"
                    out(f"{what(m)}{count(m)}: {verb} {secs(m['elapsed'])}")
                    last = now
            elif k in open_:
                open_[k].update(ev=m, at=now)
        slow = [(kk, o) for kk, o in open_.items() if now - o["t0"] >= interval]
        if slow and now - last >= interval:
            # the innermost slow step that counts something (a batch's proofs), else the innermost
            k, o = max(slow, key=lambda kv: (kv[1]["ev"].get("total") is not None, kv[0][2]))
            out(f"{what(o['ev'])}{count(o['ev'])}: {secs(now - o['t0'])} elapsed{left(o, now)}")
            o["shown"] = last = now
else:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text
    class Eta(ProgressColumn):
        def render(self, task):
            o = task.fields.get("o")
            s = left(o, time.time()) if o else ""
            return Text(s.lstrip(", "), style="cyan")
    console = Console(stderr=True)
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), Eta(),
                   console=console, transient=True)
    tasks = {}
    with bar:
        while True:
            m = q.get()
            if m is None:
                break
            if m["kind"] == "print":
                bar.console.print(m["text"], highlight=False)
                continue
            k = (m["stage"], m["step"], m["depth"])
            if m["status"] == "start":
                o = {"t0": m["time"] - m["elapsed"], "ev": m, "at": time.time()}
                tasks[k] = bar.add_task(what(m), total=m.get("total"), completed=m.get("done") or 0, o=o)
            elif m["status"] in ("done", "failed"):
                if k in tasks:
                    bar.remove_task(tasks.pop(k))
            elif k in tasks:
                o = bar.tasks[[t.id for t in bar.tasks].index(tasks[k])].fields["o"]
                o.update(ev=m, at=time.time())
                bar.update(tasks[k], total=m.get("total"), completed=m.get("done") or 0)
            else:  # a one-off report (a cached result, why this size)
                bar.console.print(f"  {what(m)}{count(m)}", style="dim", highlight=False)
"""


class _Display:
    """Sends progress events to the display process (started on the first event); in-process lines when this
    stderr is not a real file (then nothing ticks between events)."""

    def __init__(self) -> None:
        self.proc: Any = None
        self.broken = False
        try:
            self.interval = max(float(os.environ.get("ZKML_PROGRESS_INTERVAL", "10")), 0.01)
        except ValueError:
            self.interval = 10.0

    def __call__(self, event) -> None:
        self._send({"kind": "event", **event.to_json()})

    def print(self, text: str) -> None:
        self._send({"kind": "print", "text": text})

    def _send(self, msg: dict) -> None:
        if self.broken:
            return
        if self.proc is None:
            self._start()
        if self.proc is None:  # no child: plain lines here, at the events only, for the slow steps
            if msg["kind"] == "print":
                click.echo(time.strftime("%Y-%m-%d %H:%M:%S ") + msg["text"], err=True)
                return
            slow = (
                msg["status"] == "start"
                and (msg.get("eta") or 0) >= self.interval
                or msg["status"] in ("done", "failed")
                and msg["elapsed"] >= self.interval
            )
            if slow:
                from ..support.progress import Event

                ev = Event(**{k: v for k, v in msg.items() if k != "kind"})
                click.echo(time.strftime("%Y-%m-%d %H:%M:%S ") + ev.line(), err=True)
            return
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.broken = True  # the display died: the work goes on without it

    def _start(self) -> None:
        import subprocess

        try:
            fd = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if fd < 0:
            return
        mode = "rich" if sys.stderr.isatty() else "plain"
        sys.stderr.flush()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _VIEW, mode, str(self.interval)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=fd,
                text=True,
            )
        except OSError:
            self.proc = None

    def close(self) -> None:
        proc, self.proc, self.broken = self.proc, None, True
        if proc is None:
            return
        import subprocess

        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _State:
    """One command's run: stage timings, and (unless ``--quiet``) the progress display for every library event."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.display: _Display | None = None
        if not quiet:
            from ..support.progress import install

            self.display = _Display()
            token = install(self.display)
            ctx = click.get_current_context(silent=True)
            if ctx is not None:
                ctx.call_on_close(lambda: self.close(token))

    def close(self, token=None) -> None:
        if self.display is not None:
            self.display.close()
        if token is not None:
            from ..support.progress import uninstall

            with contextlib.suppress(ValueError):  # reset in another context (a test runner's thread)
                uninstall(token)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and show it (with its steps) as progress: elapsed time, and the time left where the cost
        model predicts it (a rich display on a terminal, timestamped lines on stderr otherwise)."""
        from ..support.progress import step

        t0 = time.perf_counter()
        try:
            with step(name):
                yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 4)
            if self.display is not None and sys.stderr.isatty():
                self.display.print(f"  {name:<10} {self.timings[name]:.2f}s")


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
    return (
        [
            click.style(
                "WARNING: made with an INSECURE dev SRS (generated locally). Pass --srs FILE (or ZKML_SRS) "
                "with a ceremony SRS for production.",
                fg="yellow",
            )
        ]
        if dev
        else []
    )


_json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _load_input(path: str):
    from ..model.inputs import load_input_file

    return load_input_file(path)
