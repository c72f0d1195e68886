"""Server-sent events in the shape OpenAI's clients parse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from codefill.server.errors import APIError, error_body

T = TypeVar("T")

DONE = "data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def sse_error(err: APIError) -> str:
    """A failure after the 200 went out: the error object as an event, then [DONE]."""
    return sse(error_body(err.status, err.message, err.code, err.param))


async def stream_with_first(first: T | None, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    if first is None:
        return
    yield first
    async for item in rest:
        yield item
