"""Connecting to a Ray cluster (batch proving, split inferences, the service's workers)."""

from __future__ import annotations

from ..errors import ProveError
from .deps import need
from .scrub import scrub


def connect(cluster: str):
    """Connect to the Ray cluster at ``cluster`` (once per process)."""
    ray = need("ray")
    if not ray.is_initialized():
        try:
            ray.init(address=cluster, logging_level="ERROR", log_to_driver=False)
        except Exception as err:
            text = str(err)
            if "auth" in text.lower() and "token" in text.lower():
                raise ProveError(
                    f"the Ray cluster at {cluster} refused this process's auth token ({type(err).__name__})",
                    where="cluster",
                    hint="a token left by another cluster (~/.ray/auth_token, $RAY_AUTH_TOKEN) "
                    "does not match this one: remove it, or use the token of the cluster you connect to",
                ) from err
            raise ProveError(
                f"cannot connect to the Ray cluster at {cluster}: {scrub(text)}",
                where="cluster",
                hint="start one with `ray start --head`, or pass its address (host:port)",
            ) from err
    return ray
