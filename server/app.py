"""The FastAPI application: thin routes over one service class per endpoint."""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from server.cancellation import with_cancellation
from server.errors import APIError, error_body, install_error_handlers
from server.protocol import ChatCompletionRequest, CompletionRequest, ModelCard, ModelList
from server.serving_chat import ChatService
from server.serving_completions import CompletionsService
from server.state import ServingState

_OPEN_PATHS = {"/health"}
_ENDPOINT_LABELS = {
    "/v1/completions": "completions",
    "/v1/chat/completions": "chat_completions",
    "/v1/models": "models",
    "/health": "health",
    "/metrics": "metrics",
}


def _authorized(header: str | None, keys: tuple[str, ...]) -> bool:
    if not header or not header.lower().startswith("bearer "):
        return False
    given = header[7:].strip().encode()
    # Compare against every key, always, so timing says nothing about which one matched.
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(given, key.encode())
    return ok


def build_app(state: ServingState, *, start_engine: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start_engine:
            # Load in the background so /health answers 503 "loading" instead of refusing connections.
            state.start_in_background()
        yield
        await state.shutdown()

    app = FastAPI(title="codefill", version="0.1.0", lifespan=lifespan)
    app.state.serving = state
    install_error_handlers(app)
    completions = CompletionsService(state)
    chat = ChatService(state)
    metrics = state.metrics

    @app.post("/v1/completions", response_model=None)
    @with_cancellation
    async def create_completion(body: CompletionRequest, raw_request: Request) -> Any:
        return await completions.create(body)

    @app.post("/v1/chat/completions", response_model=None)
    @with_cancellation
    async def create_chat_completion(body: ChatCompletionRequest, raw_request: Request) -> Any:
        return await chat.create(body)

    @app.get("/v1/models")
    async def list_models() -> ModelList:
        max_len = state.engine.info.max_model_len if state.ready else None
        created = int(time.time())
        return ModelList(data=[model_card(name, created, max_len) for name in state.model_names])

    @app.get("/v1/models/{model_id:path}")
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

    @app.get("/health")
    async def health() -> JSONResponse:
        if state.load_error is not None:
            return JSONResponse({"status": "failed", "error": str(state.load_error)}, status_code=503)
        if not state.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        if not state.engine.is_healthy():
            return JSONResponse({"status": "unhealthy", "error": "engine has failed"}, status_code=503)
        return JSONResponse({"status": "ok", "model": state.config.served_model_name,
                             "engine": state.engine.name})

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(AccessAndMetrics, state=state)
    return app


class AccessAndMetrics:
    """API keys and request counting, as plain ASGI: nothing wraps the response stream."""

    def __init__(self, app: Any, state: ServingState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        label = _ENDPOINT_LABELS.get(path, "other")
        metrics = self.state.metrics
        keys = self.state.config.api_keys
        if keys and path not in _OPEN_PATHS:
            headers = dict(scope.get("headers") or [])
            auth = headers.get(b"authorization", b"").decode("latin-1")
            if not _authorized(auth, keys):
                metrics.requests.labels(label, "401").inc()
                response = JSONResponse(
                    error_body(401, "missing or invalid API key: send `Authorization: Bearer <key>`",
                               "invalid_api_key"),
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        status = {"code": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        metrics.http_in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.http_in_flight.dec()
            metrics.requests.labels(label, str(status["code"])).inc()


__all__ = ["APIError", "build_app"]
