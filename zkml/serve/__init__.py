"""``prove-model serve``: a proving service with keys kept loaded, a crash-safe job journal, auth and metrics.

    service = Service([load_served("keys/")], Journal(path), workers=2)
    app = create_app(service, tokens=load_tokens())      # FastAPI; run it with uvicorn (see run_server)

Layers: ``journal`` (SQLite), ``workers`` (spawn processes / Ray actors), ``service`` (admission, dispatch,
metrics), ``app`` (HTTP: routes, auth, limits, problem details), ``server`` (uvicorn on a bound socket).
FastAPI, uvicorn and prometheus-client are the ``serve`` extra: ``pip install 'zkml-prover[serve]'``.
"""

from __future__ import annotations

from .auth import check_exposure, load_tokens
from .journal import Journal
from .server import default_journal, run_server
from .service import Served, Service, load_served

__all__ = [
    "Journal",
    "Served",
    "Service",
    "check_exposure",
    "default_journal",
    "load_served",
    "load_tokens",
    "run_server",
]
