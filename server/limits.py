"""Limits on what one request, and one client, may ask of the server.

Every editor keystroke can be a request, so one misbehaving client (a plugin
bug, a runaway script) could otherwise fill the engine for everybody. Each limit
has a `codefill serve` flag, and each refusal says the limit and that flag:

| limit | flag | refusal |
|---|---|---|
| request body size | --max-body-bytes | 413 |
| characters of text (prompt, suffix, files, messages, ...) | --max-request-chars | 413, before any tokenizing |
| prompt tokens | --max-prompt-tokens | 400 (FIM prompts are trimmed to it instead) |
| max_tokens | --max-tokens-limit | 400 |
| n, times the number of prompts | --max-n | 400 |
| requests in flight per API key (or client address) | --max-concurrent-per-key | 429 + Retry-After |
| prompts waiting for a prompt thread, per lane (server/state.py) | --max-queued-prompts | 503 + Retry-After |

0 turns a limit off. The connection limits (header and body read timeouts, keep-alive,
open connections per client) are in server/connections.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from codefill.server.errors import APIError

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
# Tokenizing costs about 1 s per million characters on one core (the Qwen tokenizer), and a
# million characters of code is ~250k tokens, far past any context window; FIM prompts are
# trimmed to the window, so editors that send whole files stay well within it.
DEFAULT_MAX_REQUEST_CHARS = 1_000_000
DEFAULT_MAX_PROMPT_TOKENS = 0  # 0: only the model's context window bounds the prompt
DEFAULT_MAX_TOKENS_LIMIT = 4096
DEFAULT_MAX_N = 16
# Editors keep one or two completions in flight per user; `codefill bench` drives up to 64 at
# once from one address, and a finished request frees its slot a moment after the client has
# its answer, so the default leaves room above that.
DEFAULT_MAX_CONCURRENT_PER_KEY = 128
# Prompt building (tokenizing, fitting) waits for one of a few threads, in two lanes (requests
# up to 100k characters, and larger ones: about 1 s each at the default --max-request-chars).
# 64 waiting is a minute of work in the large lane, and more than `codefill bench`'s 64
# concurrent everyday requests could ever queue in the small one.
DEFAULT_MAX_QUEUED_PROMPTS = 64
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_request_chars: int = DEFAULT_MAX_REQUEST_CHARS
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    max_tokens: int = DEFAULT_MAX_TOKENS_LIMIT
    max_n: int = DEFAULT_MAX_N
    max_concurrent_per_key: int = DEFAULT_MAX_CONCURRENT_PER_KEY
    max_queued_prompts: int = DEFAULT_MAX_QUEUED_PROMPTS  # per lane

    # --- per request, once the body is parsed ------------------------------

    def check_max_tokens(self, max_tokens: int | None, param: str = "max_tokens") -> None:
        if max_tokens is not None and self.max_tokens and max_tokens > self.max_tokens:
            raise APIError(
                400,
                f"{param} is {max_tokens}, more than this server allows ({self.max_tokens}); ask for "
                "fewer tokens, or start the server with a higher --max-tokens-limit",
                code="max_tokens_exceeded",
                param=param,
            )

    def clamp_max_tokens(self, default: int) -> int:
        """A default length for requests that ask for none, within the limit."""
        return min(default, self.max_tokens) if self.max_tokens else default

    def check_n(self, n: int, prompts: int = 1) -> None:
        """n counts completions per prompt; a list of prompts multiplies them, and the limit is
        on the completions one request makes the engine run."""
        if self.max_n and n * prompts > self.max_n:
            asked = f"n is {n}"
            if prompts > 1:
                asked = f"{prompts} prompts with n={n} ask for {n * prompts} completions"
            raise APIError(
                400,
                f"{asked}, more than this server allows ({self.max_n}); ask for fewer, or start the server "
                "with a higher --max-n",
                code="n_exceeded",
                param="n" if prompts == 1 else "prompt",
            )

    def check_request_chars(self, chars: int, param: str | None = None) -> None:
        """Checked on the parsed body, before any tokenizing or prompt fitting."""
        if self.max_request_chars and chars > self.max_request_chars:
            raise APIError(
                413,
                f"the request has {chars} characters of text (prompt, suffix, files and messages together), "
                f"more than this server allows ({self.max_request_chars}); send less context, or start the "
                "server with a higher --max-request-chars",
                code="request_too_large",
                param=param,
            )

    def check_prompt_tokens(self, prompt_tokens: int, param: str = "prompt") -> None:
        if self.max_prompt_tokens and prompt_tokens > self.max_prompt_tokens:
            raise APIError(
                400,
                f"the prompt has {prompt_tokens} tokens, more than this server allows "
                f"({self.max_prompt_tokens}); shorten it, or start the server with a higher "
                "--max-prompt-tokens",
                code="prompt_too_long",
                param=param,
            )

    def prompt_window(self, max_model_len: int, max_tokens: int) -> int:
        """The context a FIM prompt is fitted into: trimming keeps it within --max-prompt-tokens."""
        if not self.max_prompt_tokens:
            return max_model_len
        return min(max_model_len, self.max_prompt_tokens + max_tokens)

    # --- before the body is parsed ----------------------------------------

    def body_too_large(self, size: int | None = None) -> APIError:
        got = f" ({size} bytes)" if size is not None else ""
        return APIError(
            413,
            f"the request body{got} is larger than this server allows ({self.max_body_bytes} bytes); "
            "send less context, or start the server with a higher --max-body-bytes",
            code="request_too_large",
        )

    def too_many_in_flight(self, who: str) -> APIError:
        return APIError(
            429,
            f"{who} already has {self.max_concurrent_per_key} requests in flight, the most this "
            "server allows at once; wait for one to finish (or cancel abandoned ones), or start the "
            "server with a higher --max-concurrent-per-key",
            code="too_many_concurrent_requests",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    def prompt_queue_full(self, lane: str, small_chars: int) -> APIError:
        """A prompt lane (server/state.py) has --max-queued-prompts jobs waiting already."""
        which = (f"requests over {small_chars} characters" if lane == "large"
                 else f"requests up to {small_chars} characters")
        return APIError(
            503,
            f"the server is busy: its queue of prompts to tokenize for {which} is full "
            f"({self.max_queued_prompts} waiting, the most it queues); retry shortly, or start the server "
            "with a higher --max-queued-prompts",
            code="prompt_queue_full",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


Receive = Callable[[], Awaitable[dict[str, Any]]]


class ClientGone(Exception):
    """The client disconnected while sending its body."""


async def read_body(scope: dict, receive: Receive, limit: int) -> tuple[bytes | None, int | None]:
    """The whole request body, or (None, size) once it is over `limit` bytes.

    Content-Length is checked first, so a declared huge body is refused before a
    byte of it is read; the bytes are counted as well, since a chunked body has
    no Content-Length and nothing else stops it. The size reported is what was
    declared or what had arrived when reading stopped.
    """
    declared = None
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
            break
    if limit and declared is not None and declared > limit:
        return None, declared
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit and size > limit:
            return None, size
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), size


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's later messages
    (the disconnect that cancels an abandoned request)."""
    sent = False

    async def wrapped() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped


class InFlight:
    """Requests in flight per client (an API key's position, or an address).

    Runs on the event loop only, so plain counters suffice.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, int] = {}

    def try_enter(self, who: str) -> bool:
        if not self.limit:
            return True
        n = self._counts.get(who, 0)
        if n >= self.limit:
            return False
        self._counts[who] = n + 1
        return True

    def leave(self, who: str) -> None:
        if not self.limit:
            return
        n = self._counts.get(who, 0) - 1
        if n > 0:
            self._counts[who] = n
        else:
            self._counts.pop(who, None)

    def count(self, who: str) -> int:
        return self._counts.get(who, 0)


__all__ = ["ClientGone", "InFlight", "Limits", "read_body", "replay"]
