"""A typed client for ``prove-model serve``: the library's own ``Proof`` objects and ``ZKMLError`` subclasses.

    with zkml.Client("http://127.0.0.1:8000") as c:        # token from ZKML_SERVE_TOKEN, or token=...
        model_id = c.models()[0]
        proof = c.prove(model_id, x)                         # a zkml.Proof
        assert zkml.verify(proof, vk)                        # check it against a key you trust, locally

A problem-details answer becomes the error the library would have raised (``InputShapeError``,
``InputRangeError``...); 401/403 are ``AuthError``; a full queue (429), an unreachable server or a job that
does not end in time are ``ServiceError`` (``.status``, ``.retry_after``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from . import errors as _errors
from .errors import AuthError, InputError, ServiceError, ZKMLError
from .proof.proof import Proof
from .support.deps import need

TOKEN_ENV = "ZKML_SERVE_TOKEN"
LONG_POLL_S = 30.0  # one ?wait request; result() repeats it until its own timeout


@dataclass(frozen=True)
class RemoteVerification:
    """The service's verdict on a proof (truthy iff it verified); ``outputs`` decoded with the server's key."""

    ok: bool
    reason: str | None = None
    model_id: str = ""  # the statement the proof proves (the key and, committed weights, the proof's fingerprint)
    dev_srs: bool = True
    outputs: list = field(default_factory=list, repr=False)
    hashes: dict = field(default_factory=dict, repr=False)
    key_id: str = ""  # the verifying key's (or split chain's) own id
    weights_commitment: str | None = None  # read from the proof bytes by the server (committed weights)
    weights_checked: bool = False  # compared with a fingerprint the server's model (or this request) pins
    weights_note: str | None = None  # in words, what the verdict says of the weights
    statement: dict = field(default_factory=dict, repr=False)  # what the server checked against: model id, key id, pin
    srs_status: str = "unknown"  # the server's view of the SRS: ceremony / pinned / unknown
    srs_message: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def _jsonable(x: Any) -> Any:
    """numpy arrays, torch tensors, dicts and lists of them, as JSON values."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _error_from(resp) -> ZKMLError:
    """The ZKMLError a problem-details response stands for."""
    try:
        body = resp.json()
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        body = {"detail": resp.text[:300] or resp.reason_phrase}
    status = resp.status_code
    msg = body.get("message") or body.get("detail") or f"HTTP {status}"
    kw = {"where": body.get("where"), "hint": body.get("hint")}
    if status in (401, 403):
        return AuthError(
            msg,
            hint=kw["hint"] or f"pass token=... or set {TOKEN_ENV} to a token the server accepts",
            where=kw["where"],
        )
    cls = getattr(_errors, str(body.get("error")), None)
    if isinstance(cls, type) and issubclass(cls, ZKMLError) and cls is not ZKMLError:
        err = cls(msg, stage=body.get("stage"), **kw)
    elif 400 <= status < 500 and status not in (404, 408, 409, 429):
        err = InputError(msg, stage=body.get("stage") or "serve", **kw)
    else:
        err = ServiceError(msg, **kw)
    if isinstance(err, ServiceError):
        err.status = status
        retry = resp.headers.get("retry-after")
        if retry:
            try:
                err.retry_after = float(retry)
            except ValueError:
                pass  # an HTTP date instead of seconds: keep the status, no number to give
    return err


class Client:
    """``Client(url, token=None)``: the token defaults to the first of ``ZKML_SERVE_TOKEN``'s comma-separated ones."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0, transport: Any = None):
        httpx = need("httpx")
        if token is None:
            token = next((t.strip() for t in os.environ.get(TOKEN_ENV, "").split(",") if t.strip()), None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._httpx = httpx
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # never the token
        return f"Client({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # HTTP
    def _request(self, method: str, path: str, *, read_timeout: float | None = None, **kw):
        if read_timeout is not None:
            kw["timeout"] = self._httpx.Timeout(
                self._http.timeout.connect,
                read=read_timeout,
                write=self._http.timeout.write,
                pool=self._http.timeout.pool,
            )
        try:
            resp = self._http.request(method, path, **kw)
        except self._httpx.ConnectError as err:
            raise ServiceError(
                f"cannot connect to the proving service at {self.url} ({type(err).__name__})",
                hint="is `prove-model serve` running there? check the URL and port",
            ) from None
        except self._httpx.TimeoutException as err:
            raise ServiceError(
                f"the proving service at {self.url} did not answer in time ({type(err).__name__})",
                hint="retry, or pass a larger timeout",
            ) from None
        except self._httpx.HTTPError as err:
            raise ServiceError(
                f"HTTP error talking to {self.url}: {type(err).__name__}", hint="check the URL and the network"
            ) from None
        if resp.status_code >= 400:
            raise _error_from(resp)
        return resp

    # the API
    def health(self) -> dict:
        return self._request("GET", "/healthz").json()

    def models(self) -> list[str]:
        """The served models' ids (each a statement's hash: the key, and the weights fingerprint it pins)."""
        return [m["id"] for m in self._request("GET", "/v1/models").json()["models"]]

    def model(self, model_id: str) -> dict:
        """A served model: input and output shapes, visibility, dev_srs, whether it can prove here."""
        return self._request("GET", f"/v1/models/{model_id}").json()

    def submit(self, model_id: str, x: Any) -> str:
        """Queue a proof of ``x``; returns the job id (the job is journaled by then)."""
        return self._request("POST", f"/v1/models/{model_id}/prove", json={"input": _jsonable(x)}).json()["job_id"]

    def job(self, job_id: str, wait: float = 0.0) -> dict:
        """The job's status (queued, running, done, failed); when done, its proof JSON and decoded outputs."""
        params = {"wait": wait} if wait > 0 else None
        return self._request("GET", f"/v1/jobs/{job_id}", params=params, read_timeout=wait + 30.0).json()

    def result(self, job_id: str, timeout: float = 600.0) -> Proof:
        """Wait (long-polling, at most ``timeout`` seconds) for the job's proof; a failed job raises its error."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            body = self.job(job_id, wait=max(0.0, min(LONG_POLL_S, left)))
            if body["status"] == "done":
                return Proof.from_json(body["proof"], where=f"job {job_id}")
            if body["status"] == "failed":
                raise self._job_error(body)
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"job {job_id} did not end within {timeout:g} s (it is {body['status']})",
                    hint=f"call result('{job_id}') again later; the job keeps running on the server",
                )

    def prove(self, model_id: str, x: Any, timeout: float = 600.0) -> Proof:
        """Prove ``x`` on the service and return the ``Proof`` (submit, then wait at most ``timeout`` seconds)."""
        t0 = time.monotonic()
        wait = max(0.0, min(LONG_POLL_S, timeout))
        resp = self._request(
            "POST",
            f"/v1/models/{model_id}/prove",
            params={"wait": wait} if wait else None,
            json={"input": _jsonable(x)},
            read_timeout=wait + 30.0,
        )
        body = resp.json()
        if resp.status_code == 200 and body.get("status") == "done":
            return Proof.from_json(body["proof"], where=f"job {body['job_id']}")
        return self.result(body["job_id"], timeout=max(0.0, timeout - (time.monotonic() - t0)))

    def verify(
        self, model_id: str, proof: Proof | dict, *, weights_commitment: str | None = None
    ) -> RemoteVerification:
        """Have the service verify ``proof`` against the statement it serves as ``model_id`` (its key(s) and, for
        committed weights, the fingerprint it pins); ``weights_commitment`` pins one more. To trust nobody, use
        zkml.verify locally."""
        raw = proof.to_json() if isinstance(proof, Proof) else proof
        if weights_commitment is not None:
            raw = {"proof": raw, "weights_commitment": weights_commitment}
        body = self._request("POST", f"/v1/models/{model_id}/verify", json=raw, read_timeout=120.0).json()
        np = need("numpy")
        return RemoteVerification(
            bool(body["ok"]),
            body.get("reason"),
            body.get("model_id", ""),
            bool(body.get("dev_srs", True)),
            [np.asarray(o) for o in body.get("outputs", [])],
            dict(body.get("hashes") or {}),
            body.get("key_id", ""),
            body.get("weights_commitment"),
            bool(body.get("weights_checked", False)),
            body.get("weights_note"),
            dict(body.get("statement") or {}),
            str(body.get("srs_status") or "unknown"),
            body.get("srs_message"),
        )

    @staticmethod
    def _job_error(body: dict) -> ZKMLError:
        problem = body.get("error") or {}
        cls = getattr(_errors, str(problem.get("error")), None)
        if not (isinstance(cls, type) and issubclass(cls, ZKMLError)):
            cls = ServiceError
        err = cls(
            problem.get("message") or problem.get("detail") or "the job failed",
            stage=problem.get("stage"),
            where=problem.get("where") or f"job {body.get('job_id')}",
            hint=problem.get("hint"),
        )
        if isinstance(err, ServiceError):
            err.status = problem.get("status")
        return err
