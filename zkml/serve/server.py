"""Run the service: check exposure and tokens, load the models, lock the journal, bind, serve with uvicorn."""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from pathlib import Path
from typing import Callable

from ..errors import DependencyError, ServiceError
from ..support.store import zkml_home
from .auth import check_exposure

SERVE_PACKAGES = ("fastapi", "uvicorn", "prometheus_client")


def default_journal() -> Path:
    return zkml_home() / "serve" / "journal.sqlite3"


def _need_serve_extra() -> None:
    missing = [m for m in SERVE_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise DependencyError(
            f"the proving service needs {', '.join(missing)}, which is not installed",
            hint="run: pip install 'zkml-prover[serve]'",
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise ServiceError(
            f"cannot listen on {host}:{port} ({err.strerror})",
            where="--host/--port",
            hint="pick a free port (--port 0 picks one) or stop the process that holds it",
        ) from None
    sock.set_inheritable(True)
    return sock


class RedactQuery(logging.Filter):
    """uvicorn's access log without query strings (a URL may carry a token or a value nobody should log), and
    without any served token pasted into a path."""

    def __init__(self, tokens: list[str] = ()):
        super().__init__()
        self.tokens = [t for t in tokens if t]

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if "?" in path:
                path = path.split("?", 1)[0] + "?[redacted]"
            for t in self.tokens:
                path = path.replace(t, "[redacted]")
            record.args = (*args[:2], path, *args[3:])
        return True


def run_server(
    paths: list[str | os.PathLike],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    cluster: str | None = None,
    queue_size: int = 16,
    max_body: int = 1 << 20,
    job_timeout: float | None = 600.0,
    tokens: list[str] = (),
    journal: str | os.PathLike | None = None,
    on_listen: Callable[[str], None] | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted. ``on_listen(url)`` is called once the socket is bound (with the real port)."""
    _need_serve_extra()
    check_exposure(host, list(tokens))
    from filelock import FileLock, Timeout

    from .app import create_app
    from .journal import Journal
    from .service import Service, load_served

    models = [load_served(p) for p in paths]  # every file authenticated once, before the port opens
    jpath = Path(journal) if journal is not None else default_journal()
    jpath.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = FileLock(str(jpath) + ".lock", mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ServiceError(
            "another prove-model serve is using this journal",
            where=jpath,
            hint="stop it, or give this server its own ZKML_HOME or --journal",
        ) from None
    try:
        jr = Journal(jpath)
        service = Service(models, jr, workers=workers, cluster=cluster, queue_size=queue_size, job_timeout=job_timeout)
        app = create_app(service, tokens=list(tokens), max_body=max_body)
        sock = _bind(host, port)
        import uvicorn

        logging.getLogger("zkml.serve").setLevel(log_level.upper())
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(levelname)s:     %(name)s: %(message)s")
        real_port = sock.getsockname()[1]
        shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
        if on_listen is not None:
            on_listen(f"http://{shown}:{real_port}")
        config = uvicorn.Config(
            app, log_level=log_level, access_log=True, lifespan="on", timeout_graceful_shutdown=5, server_header=False
        )
        access = logging.getLogger("uvicorn.access")  # configured by Config(): filter what it writes from now on
        for f in [f for f in access.filters if isinstance(f, RedactQuery)]:
            access.removeFilter(f)
        access.addFilter(RedactQuery(list(tokens)))
        uvicorn.Server(config).run(sockets=[sock])
        jr.close()
    finally:
        lock.release()
