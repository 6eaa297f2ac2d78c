"""Several JSON-RPC endpoints of one chain: failover (the first that answers serves; an unreachable one is
dropped and the call retried on the next) and quorum (ask every endpoint; enough must answer, and all alike).

Only a connection failure moves to another endpoint: a revert or any other answer is the chain's answer.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import ChainError
from ..support.deps import need

_CONNECTION_ERRORS = {
    "ConnectionError",
    "Timeout",
    "ReadTimeout",
    "ConnectTimeout",
    "ConnectionRefusedError",
    "NewConnectionError",
    "MaxRetryError",
    "ProtocolError",
    "RemoteDisconnected",
    "ChunkedEncodingError",
}


def is_connection_error(err: Exception) -> bool:
    return bool({c.__name__ for c in type(err).__mro__} & _CONNECTION_ERRORS)


def parse_urls(url: str | Sequence[str] | None) -> list[str]:
    """The endpoints of ``url``: one URL, a comma-separated list, or a sequence of either."""
    return [
        u.strip()
        for part in ([url] if isinstance(url, str) else list(url or []))
        for u in str(part).split(",")
        if u.strip()
    ]


class Endpoints:
    """One web3 connection per URL; ``url`` / ``w3``: the endpoint in use, the first that answered."""

    def __init__(self, urls: list[str], *, timeout: float = 30.0):
        web3 = need("web3")
        self.urls = urls
        self.w3s = {u: web3.Web3(web3.HTTPProvider(u, request_kwargs={"timeout": timeout})) for u in urls}
        self.dead: set[str] = set()
        self.url = self.first_alive()

    @property
    def w3(self):
        return self.w3s[self.url]

    def first_alive(self) -> str:
        """The first endpoint not known dead that answers (raises once every endpoint is down)."""
        errors = []
        for u in self.urls:
            if u in self.dead:
                continue
            try:
                _ = self.w3s[u].eth.chain_id  # a node that answers
                return u
            except Exception as err:
                self.dead.add(u)
                errors.append(f"{u}: {type(err).__name__}")
        raise ChainError(
            f"cannot reach the node{'s' if len(self.urls) > 1 else ''}: {'; '.join(errors)}",
            stage="chain",
            where=", ".join(self.urls),
            hint="check the URLs and that the nodes are running",
        )

    def failover(self, op: Callable[[], Any]) -> Any:
        """Run ``op()`` on the current endpoint; when it is unreachable, move to the next one and retry."""
        while True:
            try:
                return op()
            except Exception as err:
                if not is_connection_error(err):
                    raise
                self.dead.add(self.url)
                self.url = self.first_alive()

    def each(self, op: Callable[[Any], Any]) -> dict[str, Any]:
        """``op(w3)`` on every endpoint: the answers of those that could be reached, by URL."""
        answers = {}
        for u in self.urls:
            try:
                answers[u] = op(self.w3s[u])
            except Exception as err:
                if not is_connection_error(err):
                    raise
        return answers

    def agreed(self, answers: dict[str, Any], quorum: int, describe: Callable[[Any], str], key=lambda a: a) -> Any:
        """The one answer at least ``quorum`` endpoints gave, every one alike; otherwise a ChainError."""
        if len(answers) < quorum:
            raise ChainError(
                f"only {len(answers)} of {len(self.urls)} endpoints answered; quorum is {quorum}",
                stage="verify",
                where=", ".join(self.urls),
                hint="bring more endpoints up or lower the quorum",
            )
        if len({key(a) for a in answers.values()}) > 1:
            said = "; ".join(f"{u}: {describe(a)}" for u, a in answers.items())
            raise ChainError(
                f"endpoints disagree about the verification: {said}",
                stage="verify",
                where=", ".join(answers),
                hint="one endpoint holds other code or state at this address, or lies; do not trust its answer",
            )
        return next(iter(answers.values()))
