"""RFC 9457 problem details from zkml's errors: the same wording as the library, never a traceback.

A problem carries, beside ``type``, ``title``, ``status`` and ``detail``, the error's class name and its
``stage``, ``where`` and ``hint``, so the client raises the same ``ZKMLError`` subclass the library would.
A ZKMLError's text is already free of private values; any other exception is scrubbed of every number.
"""

from __future__ import annotations

from http import HTTPStatus

from ..errors import (
    ArtifactError,
    AuthError,
    InputError,
    ProveError,
    ServiceError,
    VerifyError,
    VisibilityError,
    ZKMLError,
)
from ..support.scrub import scrub

TYPE_BASE = "https://zkml.dev/problems/"
MEDIA_TYPE = "application/problem+json"


def status_of(err: BaseException) -> int:
    if isinstance(err, AuthError):
        return 401
    if isinstance(err, (InputError, ArtifactError, VerifyError, VisibilityError)):
        return 422
    if isinstance(err, ServiceError):
        return err.status or 503
    return 500


def kind_of(err: BaseException) -> str:
    """A failure's kind for the metrics: a short fixed word, never the message."""
    if isinstance(err, InputError):
        return "input"
    if isinstance(err, ProveError):
        return "prove"
    if isinstance(err, ZKMLError):
        return type(err).__name__
    return "internal"


def problem(status: int, detail: str, *, error: str | None = None, title: str | None = None, **extra) -> dict:
    name = error or HTTPStatus(status).phrase.replace(" ", "")
    body = {"type": TYPE_BASE + name, "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}
    if error:
        body["error"] = error
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def from_error(err: BaseException, status: int | None = None) -> dict:
    if isinstance(err, ZKMLError):
        return problem(
            status or status_of(err),
            str(err),
            error=type(err).__name__,
            message=err.message,
            stage=err.stage,
            where=err.where,
            hint=err.hint,
        )
    return problem(status or 500, f"{type(err).__name__}: {scrub(str(err))}", error="InternalError")
