"""Abort the work of a non-streaming request when its client disconnects.

Streaming responses notice a disconnect on their own (the send fails and the
stream's generator is cancelled). A plain JSON request would otherwise keep
the engine busy until the full completion is done, for nobody: editors
abandon most completion requests a few keystrokes later.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response

T = TypeVar("T")


async def _wait_for_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def with_cancellation(handler: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T | Response]]:
    """Run the handler, cancelling it (and so its engine requests) on disconnect.

    The wrapped route must take the starlette `Request` as `raw_request`.
    """

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> T | Response:
        request: Request = kwargs["raw_request"]
        work = asyncio.ensure_future(handler(*args, **kwargs))
        watcher = asyncio.ensure_future(_wait_for_disconnect(request))
        done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            watcher.cancel()
            return work.result()
        work.cancel()
        try:
            await work
        except asyncio.CancelledError:
            pass
        # Nobody reads this; 499 is the de-facto "client closed request" status for logs.
        return Response(status_code=499)

    return wrapper
