"""The client side of an OpenAI-compatible HTTP API, shared by every codefill client.

The language server, `codefill eval` and `codefill bench` all talk to a
completion server over HTTP; what they agree on lives here: where the API
root is, how the key is sent, how an error body reads, and how a stream of
server-sent events becomes JSON chunks. Pure Python and httpx-free, so the
language server can import it without pulling in anything heavy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

DONE = "[DONE]"

# Request priorities (the `priority` field), vLLM's convention: lower is served earlier, 0 is
# vLLM's default. codefill serve gives requests that set none PRIORITY_FIM (`/v1/completions` with
# a `suffix`: what editors and codefill lsp send) or PRIORITY_CHAT (chat, plain completions);
# batch clients (`codefill eval`, `codefill data instruct`) send PRIORITY_BATCH, so an editor's
# completion is never queued behind them (server/priorities.py).
PRIORITY_FIM = 0
PRIORITY_CHAT = 10
PRIORITY_BATCH = 20
# Batch clients send their priority in this header, not the body: codefill takes it when the body
# has no `priority`, and every other server (raw vLLM without priority scheduling, which refuses a
# body priority other than 0; an older codefill, which refuses unknown fields) ignores it.
PRIORITY_HEADER = "X-Codefill-Priority"


class StreamError(Exception):
    """A stream that broke its contract: an event that is not JSON, or an error event."""


def api_root(url: str) -> str:
    """`http://h:p`, `http://h:p/` and `http://h:p/v1` all give `http://h:p/v1`."""
    root = url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


def auth_headers(api_key: str | None, priority: int | None = None) -> dict[str, str]:
    """Authorization, and the priority header when one is given."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if priority is not None:
        headers[PRIORITY_HEADER] = str(priority)
    return headers


def error_message(text: str) -> str:
    """The `error.message` of an OpenAI-shaped error body, or the start of whatever came instead."""
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (ValueError, AttributeError):
        pass
    return text[:500]


async def sse_chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON chunks of an SSE stream's `data:` lines, up to `[DONE]` (not read past it).

    Raises StreamError for an event that is not a JSON object and for an error event
    (a server that fails mid-stream has already sent its 200).
    """
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:"):].strip()
        if data == DONE:
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise StreamError(f"a malformed event: {data[:200]!r}") from exc
        if not isinstance(chunk, dict):
            raise StreamError(f"a malformed event: {data[:200]!r}")
        if chunk.get("error"):
            raise StreamError(f"failed mid-stream: {error_message(data)}")
        yield chunk
