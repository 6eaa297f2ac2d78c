"""The HTTP face of the service (FastAPI): routes, bearer auth, the body-size limit and problem details."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ZKMLError
from .auth import token_ok
from .problems import MEDIA_TYPE, from_error, problem
from .service import Busy, Service

log = logging.getLogger("zkml.serve")
OPEN_PATHS = frozenset({"/healthz"})
MAX_WAIT_S = 600.0

_PROVE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["input"],
                "properties": {
                    "input": {
                        "description": "one sample in any form the library takes: a nested list of numbers of "
                        "the model's input shape (or flat), or {input name: nested list}"
                    }
                },
            }
        }
    },
}
_VERIFY_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "description": 'a proof as Proof.to_json() writes it, or {"proof": that object}',
            }
        }
    },
}
_PROBLEM = {
    "content": {
        MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "error": {"type": "string"},
                    "stage": {"type": "string"},
                    "hint": {"type": "string"},
                },
            }
        }
    }
}


class Problem(Exception):
    def __init__(self, body: dict, headers: dict | None = None):
        self.body, self.headers = body, headers or {}


def problem_response(body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], headers=headers, media_type=MEDIA_TYPE)


class Guard:
    """Outermost ASGI layer of the app: the token check, the body-size limit, and no traceback ever reaching a client."""

    def __init__(self, app, tokens: list[str], max_body: int):
        self.app, self.tokens, self.max_body = app, tokens, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            return await refusal(scope, receive, send)
        if scope["method"] in ("POST", "PUT", "PATCH"):
            replay, too_big = await self._read_body(receive, headers)
            if too_big is not None:
                return await too_big(scope, receive, send)
            if replay is None:  # the client went away
                return
            receive = replay
        await self._run(scope, receive, send)

    def _refusal(self, scope, headers: dict) -> JSONResponse | None:
        """The answer to a request refused before its body is read: a token in the URL, or no valid token."""
        # a credential in the URL ends up in logs and histories: refused (and the access log redacts every query)
        if scope.get("query_string") and _query_has_token(scope["query_string"], self.tokens):
            body = problem(
                400,
                "a token was sent in the query string: tokens go in the Authorization header only",
                error="TokenInQuery",
                stage="serve",
                hint="send 'Authorization: Bearer <token>' and consider the token in that URL exposed",
            )
            return problem_response(body)
        # auth (before the body is read)
        if self.tokens and scope["path"] not in OPEN_PATHS and not token_ok(headers.get("authorization"), self.tokens):
            why = "no bearer token was sent" if "authorization" not in headers else "the bearer token is not accepted"
            body = problem(
                401,
                why,
                error="AuthError",
                stage="serve",
                hint="send 'Authorization: Bearer <token>' with a token from the server's ZKML_SERVE_TOKEN "
                "or token file",
            )
            return problem_response(body, {"WWW-Authenticate": 'Bearer realm="zkml"'})
        return None

    async def _read_body(self, receive, headers: dict):
        """``(replay, None)``: a receive that hands the app the whole body, read within the limit; ``(None, 413
        response)`` for a body over it (the declared length, then what actually arrives); ``(None, None)`` when the
        client disconnected."""
        too_big = problem(
            413,
            f"the request body is larger than this server's limit of {self.max_body} bytes",
            error="PayloadTooLarge",
            hint="send a smaller input, or start the server with a larger --max-body",
        )
        try:
            declared = int(headers.get("content-length", "0") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_body:
            await _drain(receive, DRAIN_FACTOR * self.max_body)
            return None, problem_response(too_big, {"Connection": "close"})
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None, None
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                if msg.get("more_body", False):
                    await _drain(receive, DRAIN_FACTOR * self.max_body)
                return None, problem_response(too_big, {"Connection": "close"})
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body_bytes, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body_bytes, "more_body": False}
            return await receive()

        return replay, None

    async def _run(self, scope, receive, send) -> None:
        """The app itself; a bug becomes one scrubbed line in the log and a problem to the client, no traceback."""
        started = False

        async def watch(msg):
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, receive, watch)
        except Exception as err:
            body = from_error(err)
            path = scope["path"]
            for t in self.tokens:  # a token pasted into a path never reaches the log
                path = path.replace(t, "[redacted]")
            log.error("internal error on %s %s: %s", scope["method"], path, body["detail"])
            if not started:
                await problem_response(body)(scope, receive, send)


MAX_JSON_DEPTH = 32  # a sample is a nested list of its shape's rank, a proof 4 levels: far more is an attack
MAX_JSON_TOKEN = 4096  # the longest number or string accepted (a proof's hex is sent as a byte list or hex string)


_JSON_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # a whole string (skipped), or a bracket


DRAIN_FACTOR = 16  # a body over the limit is read and dropped up to this many limits before the 413 is sent


async def _drain(receive, budget: int) -> None:
    """Read and drop what the client is still sending (up to ``budget`` bytes), so that the 413 reaches it: a
    connection closed with unread data is reset, and the client then sees no answer at all."""
    while budget > 0:
        msg = await receive()
        if msg["type"] == "http.disconnect" or not msg.get("more_body", False):
            return
        budget -= len(msg.get("body", b""))


def json_depth_over(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit`` (brackets inside strings do not count); only the
    structure is scanned (C-speed counting first), so a 1 MiB sample costs milliseconds on the event loop."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for m in _JSON_STRUCTURE.finditer(raw):
        c = m.group()[0]
        if c == 0x22:  # a string: its brackets are text
            continue
        if c in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_json_body(raw: bytes) -> Any:
    """The request's JSON, or a 400 problem that names the rule broken and a position, never the content."""
    if json_depth_over(raw, MAX_JSON_DEPTH):
        raise Problem(
            problem(
                400,
                f"the body nests JSON arrays or objects more than {MAX_JSON_DEPTH} levels deep",
                error="MalformedJSON",
                hint="send the sample as a nested list of its shape, or flat",
            )
        )
    try:
        value = json.loads(raw, parse_int=_bounded_int)
    except json.JSONDecodeError as err:  # its message names a position, never the content
        raise Problem(
            problem(
                400,
                f"the body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})",
                error="MalformedJSON",
            )
        ) from None
    except UnicodeDecodeError:
        raise Problem(problem(400, "the body is not UTF-8 JSON", error="MalformedJSON")) from None
    except (ValueError, RecursionError):  # a number too long to read: never its digits
        raise Problem(
            problem(400, f"the body holds a number longer than {MAX_JSON_TOKEN} characters", error="MalformedJSON")
        ) from None
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_JSON_TOKEN:
        raise ValueError("number too long")
    return int(text)


TOKEN_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "key", "auth", "authorization", "bearer"})


def _query_has_token(query: bytes, tokens: list[str]) -> bool:
    """Whether the query string carries a credential: a parameter named like one, or any served token at all."""
    from urllib.parse import parse_qsl

    text = query.decode("latin-1")
    pairs = parse_qsl(text, keep_blank_values=True)
    if any(k.strip().lower() in TOKEN_PARAMS for k, _ in pairs):
        return True
    parts = {p.strip() for kv in pairs for p in kv} | {text}
    parts |= {p[7:].strip() for p in parts if p[:7].lower() == "bearer "}
    found = False
    for p in parts:  # every comparison made, each in constant time: no oracle beyond the header's own
        for t in tokens:
            found |= hmac.compare_digest(p.encode(), t.encode())
    return found


def create_app(service: Service, *, tokens: list[str], max_body: int = 1 << 20) -> FastAPI:
    """The service's app: its routes in groups (health, models, proofs and jobs, verify, metrics), error handlers
    that answer problem details, and the Guard (tokens, body size) outside everything."""
    app = FastAPI(
        title="zkml proving service",
        version="1",
        lifespan=_lifespan(service),
        description="Zero-knowledge proofs of ML inference with keys kept loaded: submit an input, get a proof "
        "that verifies against the model's verifying key. Errors are RFC 9457 problem details.",
    )
    _add_error_handlers(app)
    _add_health_route(app, service)
    _add_model_routes(app, service)
    _add_prove_route(app, service)
    _add_job_route(app, service)
    _add_verify_route(app, service)
    _add_metrics_route(app, service)
    app.add_middleware(Guard, tokens=list(tokens), max_body=max_body)
    return app


def _lifespan(service: Service):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        import asyncio

        service.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            service.stop()

    return lifespan


# errors: problem details, never a traceback
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(exc.body, exc.headers)

    @app.exception_handler(ZKMLError)
    async def _zkml(request: Request, exc: ZKMLError):
        headers = {"Retry-After": str(int(exc.retry_after))} if getattr(exc, "retry_after", None) else None
        return problem_response(from_error(exc), headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem_response(problem(exc.status_code, str(exc.detail)), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # pydantic's errors quote the offending value: name the field and the rule only
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors())
        return problem_response(problem(422, f"invalid request ({where})", error="RequestValidationError"))


def _served(service: Service, model_id: str):
    try:
        return service.model(model_id)
    except KeyError:
        raise Problem(
            problem(
                404,
                "no model with this id is served here",
                error="UnknownModel",
                hint="GET /v1/models lists the served models' ids",
            )
        ) from None


async def _json_body(request: Request) -> Any:
    return parse_json_body(await request.body())


# the service: liveness and metrics
def _add_health_route(app: FastAPI, service: Service) -> None:
    @app.get("/healthz", tags=["service"], summary="Liveness (open without a token)")
    async def healthz():
        return {
            "status": "ok",
            "workers": service.n_workers if service.provers else 0,
            "workers_ready": service.workers_ready,
            "models": len(service.models),
        }


def _add_metrics_route(app: FastAPI, service: Service) -> None:
    @app.get("/metrics", tags=["service"], summary="Prometheus metrics")
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)


# models
def _add_model_routes(app: FastAPI, service: Service) -> None:
    @app.get("/v1/models", tags=["models"], summary="The served models")
    async def models():
        return {"models": [m.to_json() for m in service.models.values()]}

    @app.get("/v1/models/{model_id}", tags=["models"], summary="One served model", responses={404: _PROBLEM})
    async def model(model_id: str):
        return _served(service, model_id).to_json()


# proofs: submit, then the job
def _add_prove_route(app: FastAPI, service: Service) -> None:
    @app.post(
        "/v1/models/{model_id}/prove",
        tags=["proofs"],
        status_code=202,
        summary="Submit an input: 202 with a job id, or 200 with the proof when it is ready within ?wait",
        openapi_extra={"requestBody": _PROVE_BODY},
        responses={
            200: {"description": "the finished job (as GET /v1/jobs/{job_id})"},
            400: _PROBLEM,
            404: _PROBLEM,
            409: _PROBLEM,
            413: _PROBLEM,
            422: _PROBLEM,
            429: _PROBLEM,
        },
    )
    async def prove(
        model_id: str,
        request: Request,
        wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_S, description="seconds to wait for the proof"),
    ):
        return await _submit(service, model_id, request, wait)


async def _submit(service: Service, model_id: str, request: Request, wait: float) -> JSONResponse:
    m = _served(service, model_id)
    body = await _json_body(request)
    if not isinstance(body, dict) or "input" not in body:
        raise Problem(
            problem(
                422,
                'the body must be a JSON object {"input": ...}',
                error="InputShapeError",
                hint="put the sample under the key 'input'",
            )
        )
    try:
        job_id = await run_in_threadpool(service.submit, m.id, body["input"])
    except Busy as err:
        raise Problem(from_error(err), {"Retry-After": str(int(err.retry_after or 1))}) from None
    del body
    if wait > 0:
        await service.wait(job_id, wait)
        job = await run_in_threadpool(service.job_json, job_id)
        if job["status"] == "done":
            return JSONResponse(job, status_code=200)
        if job["status"] == "failed":
            raise Problem({**job["error"], "job_id": job_id})
    return JSONResponse(
        {"job_id": job_id, "status": "queued", "location": f"/v1/jobs/{job_id}"},
        status_code=202,
        headers={"Location": f"/v1/jobs/{job_id}"},
    )


def _add_job_route(app: FastAPI, service: Service) -> None:
    @app.get(
        "/v1/jobs/{job_id}",
        tags=["proofs"],
        summary="A job's status and progress (its place in the queue, or what its worker is doing); when done, "
        "its proof and decoded outputs",
        responses={404: _PROBLEM},
    )
    async def job(
        job_id: str, wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_S, description="seconds to wait for the job to end")
    ):
        if wait > 0:
            await service.wait(job_id, wait)
        body = await run_in_threadpool(service.job_json, job_id)  # may verify the proof (after a restart)
        if body is None:
            raise Problem(problem(404, "no job with this id", error="UnknownJob"))
        return body


# verify
def _add_verify_route(app: FastAPI, service: Service) -> None:
    @app.post(
        "/v1/models/{model_id}/verify",
        tags=["proofs"],
        summary="Verify a proof against the model's key",
        openapi_extra={"requestBody": _VERIFY_BODY},
        responses={400: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM},
    )
    async def verify(model_id: str, request: Request):
        return await _verify(service, model_id, request)


async def _verify(service: Service, model_id: str, request: Request) -> dict:
    from ..proof.proof import Proof
    from ..verifier.verification import verify as zkml_verify

    m = _served(service, model_id)
    body = await _json_body(request)
    pin = None
    if isinstance(body, dict) and isinstance(body.get("proof"), dict):
        pin = body.get("weights_commitment")
        if pin is not None and not isinstance(pin, str):
            raise Problem(
                problem(
                    422,
                    "weights_commitment must be a hex string",
                    error="VerifyError",
                    hint="pass the fingerprint printed by zkml.commit / prove-model commit",
                )
            )
        body = body["proof"]
    proof = Proof.from_json(body, where="request body", vk=m.vk)
    v = await run_in_threadpool(zkml_verify, proof, m.vk, weights_commitment=pin)
    return _verdict_json(v, m)


def _verdict_json(v, m) -> dict:
    """A verdict as the verify route answers it: the outcome, the statement it was checked against, the SRS."""
    return {
        "ok": bool(v),
        "reason": v.reason,
        "model_id": v.model_id,
        "key_id": v.key_id,
        "weights_commitment": v.weights_commitment,
        "weights_checked": v.weights_checked,
        "weights_note": v.weights_note,
        "statement": m.statement(),
        "dev_srs": v.dev_srs,
        "srs_status": getattr(v, "srs_status", "unknown"),
        "srs_name": getattr(v, "srs_name", None),
        "srs_message": getattr(v, "srs_message", None),
        "outputs": [o.tolist() for o in v.outputs],
        "hashes": v.hashes,
    }
