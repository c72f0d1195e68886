"""The FastAPI application: thin routes over one service class per endpoint."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from codefill.server.auth import OPEN_PATHS, match_key
from codefill.server.cancellation import with_cancellation
from codefill.server.engine_supervisor import EngineSupervisor
from codefill.server.errors import CONNECTION_ERRORS, APIError, error_response, error_responses, install_error_handlers
from codefill.server.limits import ClientGone, InFlight, read_body, replay
from codefill.server.openapi_schema import install_openapi
from codefill.server.priorities import PRIORITY_HEADER, header_priority
from codefill.server.protocol import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from codefill.server.protocol_next_edit import NextEditRequest, NextEditResponse
from codefill.server.serving_chat import ChatService
from codefill.server.serving_completions import CompletionsService
from codefill.server.serving_next_edit import NextEditService
from codefill.server.state import ServingState
from codefill.server.validation import check_request_text

_ENDPOINT_LABELS = {
    "/v1/completions": "completions",
    "/v1/chat/completions": "chat_completions",
    "/v1/next_edit": "next_edit",
    "/v1/models": "models",
    "/health": "health",
    "/metrics": "metrics",
}
# The endpoints that occupy the engine: only these count against --max-concurrent-per-key,
# so an editor listing models while its completions run is never refused.
_GENERATION_PATHS = frozenset({"/v1/completions", "/v1/chat/completions", "/v1/next_edit"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# What each route may answer besides success, for /openapi.json (401 only matters with keys set;
# 408 and 429 come from the connection limits, for any route).
_GENERATION_ERRORS = error_responses(400, 401, 404, 408, 413, 429, 503)


def _priority(asked: int | None, raw_request: Request) -> int | None:
    """The body's `priority` wins; without one, the priority header's (batch clients send it there)."""
    return asked if asked is not None else header_priority(raw_request.headers.get(PRIORITY_HEADER))


def build_app(state: ServingState, *, start_engine: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        supervisor = None
        if start_engine:
            # Load in the background so /health answers 503 "loading" instead of refusing connections.
            state.start_in_background()
            if state.config.restart_on_failure and state.engine_factory is not None:
                supervisor = EngineSupervisor(state)
                supervisor.start()
        yield
        if supervisor is not None:
            await supervisor.stop()
        await state.shutdown()

    app = FastAPI(title="codefill", version="0.1.0", lifespan=lifespan)
    app.state.serving = state
    install_error_handlers(app)
    install_openapi(app, state.config.limits, vocab_size=lambda: len(state.engine.tokenizer) if state.ready else None)
    completions = CompletionsService(state)
    chat = ChatService(state)
    next_edit = NextEditService(state)
    metrics = state.metrics

    @app.post("/v1/completions", response_model=None, responses=_GENERATION_ERRORS)
    @with_cancellation
    async def create_completion(body: CompletionRequest, raw_request: Request) -> Any:
        check_request_text(body, state.config.limits)  # unencodable text (400), too much of it (413)
        body.priority = _priority(body.priority, raw_request)
        return await completions.create(body)

    @app.post("/v1/chat/completions", response_model=None, responses=_GENERATION_ERRORS)
    @with_cancellation
    async def create_chat_completion(body: ChatCompletionRequest, raw_request: Request) -> Any:
        check_request_text(body, state.config.limits)
        body.priority = _priority(body.priority, raw_request)
        return await chat.create(body)

    @app.post("/v1/next_edit", response_model=NextEditResponse, responses=_GENERATION_ERRORS)
    @with_cancellation
    async def create_next_edit(body: NextEditRequest, raw_request: Request) -> Any:
        check_request_text(body, state.config.limits)
        body.priority = _priority(body.priority, raw_request)
        return await next_edit.create(body)

    @app.get("/v1/models", responses=error_responses(401, *CONNECTION_ERRORS))
    async def list_models() -> ModelList:
        max_len = state.engine.info.max_model_len if state.ready else None
        created = int(time.time())
        return ModelList(data=[model_card(name, created, max_len) for name in state.model_names])

    @app.get("/v1/models/{model_id:path}", responses=error_responses(401, 404, *CONNECTION_ERRORS))
    async def get_model(model_id: str) -> ModelCard:
        state.check_model(model_id)
        max_len = state.engine.info.max_model_len if state.ready else None
        return model_card(model_id, int(time.time()), max_len)

    def model_card(name: str, created: int, max_len: int | None) -> ModelCard:
        adapter_path = state.config.loras.get(name)
        if adapter_path is not None:
            return ModelCard(id=name, created=created, root=adapter_path, parent=state.config.served_model_name,
                             max_model_len=max_len)
        return ModelCard(id=name, created=created, root=state.config.model_path, max_model_len=max_len)

    @app.get("/health", responses={**error_responses(*CONNECTION_ERRORS),
                                   503: {"description": "loading, failed, restarting or unhealthy"}})
    async def health() -> JSONResponse:
        status, body = state.health()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", responses=error_responses(401, *CONNECTION_ERRORS))
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(AccessAndMetrics, state=state)
    return app


class AccessAndMetrics:
    """What every request passes before a route sees it, as plain ASGI (nothing wraps the
    response stream): the API key (401), the body size (413), the per-key cap on requests in
    flight (429), and request counting for /metrics."""

    def __init__(self, app: Any, state: ServingState) -> None:
        self.app = app
        self.state = state
        self.in_flight = InFlight(state.config.limits.max_concurrent_per_key)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = _ENDPOINT_LABELS.get(path, "other")
        metrics = self.state.metrics
        limits = self.state.config.limits
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        async def refuse(err: APIError) -> None:
            await error_response(err)(scope, receive, send_wrapper)

        metrics.http_in_flight.inc()
        try:
            client = self._client(scope, path)
            if client is None:
                await refuse(APIError(401, "missing or invalid API key: send `Authorization: Bearer <key>`",
                                      code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}))
                return
            who, description = client
            if scope.get("method") in _BODY_METHODS:
                try:
                    body, size = await read_body(scope, receive, limits.max_body_bytes)
                except ClientGone:
                    status["code"] = 499  # nobody to answer; counted like an abandoned request
                    return
                if body is None:
                    err = limits.body_too_large(size)
                    # The rest of the body is never read, so the connection cannot be reused.
                    err.headers = {"Connection": "close"}
                    await refuse(err)
                    return
                receive = replay(body, receive)
            if path not in _GENERATION_PATHS:
                await self.app(scope, receive, send_wrapper)
                return
            if not self.in_flight.try_enter(who):
                await refuse(limits.too_many_in_flight(description))
                return
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                self.in_flight.leave(who)
        finally:
            metrics.http_in_flight.dec()
            metrics.requests.labels(label, str(status["code"])).inc()

    def _client(self, scope: dict, path: str) -> tuple[str, str] | None:
        """Who sends this request, for the concurrency cap: (counter key, words for messages).
        None when API keys are set and the request carries none of them."""
        keys = self.state.config.api_keys
        if keys and path not in OPEN_PATHS:
            header = None
            for name, value in scope.get("headers") or ():
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            index = match_key(header, keys)
            if index is None:
                return None
            # The key itself never leaves this function: it is counted and named by position.
            return f"key:{index}", "this API key"
        host = (scope.get("client") or ("unknown", 0))[0]
        return f"addr:{host}", f"the client {host}"


__all__ = ["APIError", "build_app"]
