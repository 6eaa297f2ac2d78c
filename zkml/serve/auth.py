"""Bearer tokens: from ``ZKML_SERVE_TOKEN`` (comma-separated) or a token file, never a command-line argument.

Tokens are compared in constant time (``hmac.compare_digest``) and never logged or echoed.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket
from pathlib import Path

from ..errors import ServiceError

ENV = "ZKML_SERVE_TOKEN"


def load_tokens(token_file: str | os.PathLike | None = None, env: str | None = None) -> list[str]:
    """Every allowed token: the env variable's comma-separated list plus the file's lines (``#`` comments skipped)."""
    raw = os.environ.get(ENV, "") if env is None else env
    tokens = [t.strip() for t in raw.split(",") if t.strip()]
    if token_file is not None:
        p = Path(token_file)
        try:
            lines = p.read_text().splitlines()
        except OSError as err:
            raise ServiceError(
                f"cannot read the token file ({err.strerror})",
                where=p,
                hint="pass a readable file with one token per line",
            ) from None
        tokens += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        if not tokens:
            raise ServiceError("the token file holds no token", where=p, hint="write one token per line")
    return tokens


def token_ok(header: str | None, tokens: list[str]) -> bool:
    """Whether an ``Authorization`` header carries one of ``tokens`` (every token compared: constant time)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    given_b = given.strip().encode()
    ok = False
    for t in tokens:
        ok |= hmac.compare_digest(given_b, t.encode())
    return ok


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:  # a name: loopback only if every address it resolves to is
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def check_exposure(host: str, tokens: list[str]) -> None:
    if not tokens and not is_loopback(host):
        raise ServiceError(
            f"refusing to serve on {host} without a token: anyone who can reach it could prove and read results",
            where="--host",
            hint=f"set {ENV} (comma-separated tokens) or pass --token-file FILE, or bind 127.0.0.1",
        )
