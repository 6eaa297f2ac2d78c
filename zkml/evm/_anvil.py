"""Start the npm anvil binary on 127.0.0.1 at a free port, poll until it answers, stop it by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import ChainError, DependencyError
from ._solc import node_modules


def anvil_binary() -> Path:
    try:
        nm = node_modules()
    except DependencyError:
        nm = None
    env = os.environ.get("ZKML_ANVIL")
    for p in ([Path(env)] if env else []) + (
        [nm / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil", nm / ".bin" / "anvil"] if nm else []
    ):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    raise DependencyError(
        "the anvil binary (npm @foundry-rs/anvil-linux-amd64) is not installed",
        stage="chain",
        hint="run `npm ci` in the zkml checkout, or set ZKML_ANVIL to an anvil binary",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc_request(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        out = json.loads(resp.read())
    if "error" in out:
        raise ChainError(f"{method} failed: {out['error']}", where=url, hint="check the node")
    return out["result"]


@dataclass
class AnvilNode:
    url: str
    port: int
    process: subprocess.Popen
    log: Any = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()


@contextlib.contextmanager
def anvil(*, hardfork: str = "cancun", timeout: float = 30.0, chain_id: int = 31337) -> Iterator[AnvilNode]:
    """A real local node for the duration of the block: ``with zkml.evm.anvil() as node: node.url``."""
    node = start_anvil(hardfork=hardfork, timeout=timeout, chain_id=chain_id)
    try:
        yield node
    finally:
        node.stop()


def start_anvil(*, hardfork: str = "cancun", timeout: float = 30.0, chain_id: int = 31337) -> AnvilNode:
    binary = anvil_binary()
    last = None
    for _ in range(3):  # a port can be taken between choosing and binding: try another
        port = _free_port()
        log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty node can never block on it
        proc = subprocess.Popen(
            [
                str(binary),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--hardfork",
                hardfork,
                "--chain-id",
                str(chain_id),
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                last = log.read().decode(errors="replace")[-300:]
                log.close()
                break
            try:
                rpc_request(url, "eth_chainId", timeout=1.0)
                return AnvilNode(url, port, proc, log)
            except (OSError, ValueError):
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            log.close()
            raise ChainError(
                f"anvil did not answer within {timeout:.0f}s", where=url, hint="check that anvil runs on this machine"
            )
    raise ChainError(f"anvil exited at start: {last}", stage="chain", hint="check the anvil binary (npm ci)")
