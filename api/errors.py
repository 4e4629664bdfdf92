"""One JSON error shape for every 4xx/5xx, and the one place qa.errors become status codes.

The body follows OpenAI's ``{"error": {"message", "type", "code"}}`` so that OpenAI clients
show the message too; ``details`` lists field problems of a request that failed validation.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from qa.errors import BadInputError, QAError

log = logging.getLogger(__name__)

_TYPES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    422: "bad_input",
    500: "internal_error",
    503: "index_unavailable",
}


class UnsupportedMediaError(BadInputError):
    """An upload of a kind the readers cannot parse."""

    http_status = 415


def error_type(status: int) -> str:
    return _TYPES.get(status, "error")


def error_body(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    kind: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": kind or error_type(status), "code": status}
    if param is not None:
        err["param"] = param  # the request field at fault, as OpenAI names it
    if details:
        err["details"] = details
    return {"error": err}


def error_response(
    status: int,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status_code=status, headers=headers)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        details.append({"loc": loc, "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))})
    if any(d["type"] == "json_invalid" for d in details):
        bad = next(d for d in details if d["type"] == "json_invalid")
        return f"the request body is not valid JSON ({bad['msg']})", details
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(p for p in first["loc"] if p != "body") or "request"
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return f"{where}: {first['msg']}{more}", details


_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def _allowed_methods(request: Request) -> list[str]:
    """Methods some route answers on this path, by asking each route (routers nest)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        probe = {**request.scope, "method": method}
        if any(r.matches(probe)[0] == Match.FULL for r in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_error_handlers(app: FastAPI) -> None:
    async def qa_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QAError)
        status = int(exc.http_status)  # each QAError class carries its status
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        param = getattr(exc, "param", None)
        return JSONResponse(
            error_body(status, str(exc), param=param if isinstance(param, str) else None),
            status_code=status,
        )

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, details = _validation_message(list(exc.errors()))
        return error_response(422, message, details)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and detail == _FASTAPI_BODY_ERROR:
            # FastAPI's answer for a JSON body it could not decode at all (bad UTF-8, nesting
            # too deep for the parser): answer it like any other malformed JSON.
            return error_response(
                422,
                "the request body is not valid JSON (it could not be "
                "decoded: bad UTF-8 or nested too deeply)",
            )
        if exc.status_code == 405:
            # Starlette's Allow names only the first route on the path; one path has several
            # routes here (GET and POST /articles), so list the methods of all of them.
            headers["Allow"] = ", ".join(_allowed_methods(_request))
        return error_response(exc.status_code, detail, headers=headers)

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Never leak a traceback to a client; the log has it.
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal error; the server log has the details")

    app.add_exception_handler(QAError, qa_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
