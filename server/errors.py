"""OpenAI's error shape, and the handlers that put every failure into it.

Whatever goes wrong in one request, the client gets
`{"error": {"message", "type", "param", "code"}}` with a meaningful status,
and the process goes on serving the next request.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("codefill.server")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape, as the OpenAPI schema documents it."""

    error: ErrorObject


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}

# The error statuses the API answers with, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed body, unsupported field, text that is not valid "
          "Unicode (a lone surrogate), or over a limit"},
    401: {"model": ErrorResponse, "description": "missing or invalid API key (when keys are set)"},
    404: {"model": ErrorResponse, "description": "unknown model"},
    408: {"model": ErrorResponse, "description": "the request head did not arrive within --header-timeout, or its "
          "body within --body-timeout; the connection is closed"},
    413: {"model": ErrorResponse, "description": "request body over --max-body-bytes, or its text over "
          "--max-request-chars"},
    429: {"model": ErrorResponse, "headers": _RETRY_AFTER,
          "description": "too many requests in flight for this key or client (--max-concurrent-per-key, "
          "completion endpoints only), or too many connections open from this client address "
          "(--max-connections-per-client; the connection is closed)"},
    503: {"model": ErrorResponse, "headers": _RETRY_AFTER,
          "description": "the engine is loading, restarting or has failed, or the server is busy: too many "
          "prompts waiting to be tokenized (--max-queued-prompts)"},
}
# What any request may meet before a route sees it (server/connections.py): a head or body
# too slow to arrive (408), or one connection too many from its address (429).
CONNECTION_ERRORS = (408, 429)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route that may fail with these statuses."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": encodable(message),
            "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
            "param": None if param is None else encodable(param),
            "code": None if code is None else encodable(code),
        }
    }


def encodable(text: str) -> str:
    """The text, with anything UTF-8 cannot encode (lone surrogates from a client's JSON,
    echoed in a message: a model name, a field name) written as a `\\udXXX` escape, so
    building the error can never fail on what the client sent."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def error_response(err: APIError) -> JSONResponse:
    return JSONResponse(
        error_body(err.status, err.message, err.code, err.param),
        status_code=err.status,
        headers=err.headers,
    )


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    extras: list[str] = []
    problems: list[str] = []
    first_param: str | None = None
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        if not loc and e.get("type") in _NOT_AN_OBJECT:
            # The body as a whole is no JSON object (an array, a string, nothing, or not read as JSON).
            problems.append(NOT_A_JSON_OBJECT)
            continue
        if e.get("type") == "extra_forbidden":
            extras.append(where)
            continue
        if e.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({e.get('msg')})")
            continue
        first_param = first_param or where
        problems.append(f"{where}: {e.get('msg')}")
    parts = []
    if extras:
        extras.sort()
        parts.append("unsupported field(s): " + ", ".join(extras))
        first_param = first_param or extras[0]
    if problems:
        # Unions report one error per branch; keep the message short.
        seen: list[str] = []
        for p in problems:
            if p not in seen:
                seen.append(p)
        parts.append("; ".join(seen[:6]))
    return ("; ".join(parts) or "invalid request", first_param)


_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "missing", "model_type"}
NOT_A_JSON_OBJECT = "the body must be a JSON object"
_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's words for a body it could not decode


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        given = request.headers.get("content-type") or ""
        if NOT_A_JSON_OBJECT in message and "json" not in given.lower():
            # FastAPI reads a body as JSON only with a JSON Content-Type (no CSRF through simple
            # browser requests); `curl -d` without -H sends a form type, so say what came.
            message = message.replace(NOT_A_JSON_OBJECT, NOT_A_JSON_OBJECT + ", sent with `Content-Type: "
                                      f"application/json` (this request's Content-Type: {given or 'none'})")
        return JSONResponse(error_body(400, message, "invalid_request", param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        code = None
        if exc.status_code == 404:
            message = "no such endpoint; see /docs for the API"
        elif exc.status_code == 400 and message == _UNPARSABLE_BODY:
            message = "the body could not be decoded: send a UTF-8 JSON object"
            code = "invalid_request"
        return JSONResponse(
            error_body(exc.status_code, message, code), status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}"), status_code=500)
