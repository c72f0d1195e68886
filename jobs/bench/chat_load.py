"""Background chat load for `codefill bench --chat-load N`: FIM latency while chat keeps the engine busy.

N workers each keep one streamed `/v1/chat/completions` request in flight at the server under
test from before the first measured level to after the last one (closed loop: the next one
starts as the last one ends). Each asks to explain 30-60 lines of standard-library code
(cut with the bench's seed) in up to `--chat-max-tokens` tokens, greedy. The requests carry no
`priority` (the server's default for chat) unless `--chat-extra-body` sets one.

What it shows: with `codefill serve --max-running S` below N, chat fills the engine's slots
and the rest of it waits; an editor's FIM request then waits for a slot too, behind the waiting
chat (arrival order) or ahead of it (priorities). `--compare` the same URL with
`--compare-extra-body '{"priority": 10}'` (chat's own priority, so FIM queues in arrival order
among the chat) measures both in one run, interleaved, under the same load.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

import httpx

from codefill.client.openai_http import StreamError, api_root, auth_headers, error_message, sse_chunks
from codefill.jobs.bench.stats import percentile
from codefill.jobs.bench.workload import SourceFile

PROMPT_LINES = (30, 60)
READY_TIMEOUT_S = 600.0


@dataclass
class ChatSample:
    latency_s: float | None = None
    ttft_s: float | None = None
    completion_tokens: int = 0
    error: str | None = None


def chat_prompts(sources: Sequence[SourceFile], n: int, seed: int) -> list[str]:
    """`n` chat questions about real code, the same for a seed."""
    rng = random.Random(f"codefill-bench-chat/{seed}")
    out = []
    for _ in range(n):
        src = rng.choice(list(sources))
        size = rng.randint(*PROMPT_LINES)
        start = rng.randrange(0, max(1, len(src.lines) - size))
        code = "".join(src.lines[start:start + size])
        out.append(f"Explain what this Python code from `{src.name}` does, step by step:\n\n```python\n{code}```")
    return out


class ChatLoad:
    """`streams` chat requests kept in flight at `url` while the block runs."""

    def __init__(self, url: str, model: str, *, api_key: str | None, streams: int, max_tokens: int,
                 prompts: Sequence[str], client: httpx.AsyncClient, timeout: float,
                 extra: dict[str, Any] | None = None) -> None:
        self.url, self.model, self.api_key = url, model, api_key
        self.streams, self.max_tokens = streams, max_tokens
        self.prompts = list(prompts) or ["Explain recursion."]
        self.client, self.timeout, self.extra = client, timeout, dict(extra or {})
        self.samples: list[ChatSample] = []
        self._tasks: list[asyncio.Task] = []
        self._first_token = asyncio.Event()
        self._next = 0
        self._t0 = self._t1 = 0.0

    async def __aenter__(self) -> "ChatLoad":
        self._t0 = time.perf_counter()
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.streams)]
        # Measure only once the server is busy with chat: a first chat token has come back.
        deadline = time.perf_counter() + READY_TIMEOUT_S
        while not self._first_token.is_set():
            errors = [x.error for x in self.samples if x.error]
            if len(errors) >= self.streams or time.perf_counter() > deadline:
                await self._stop()
                why = errors[0] if errors else f"no chat token in {READY_TIMEOUT_S:.0f} s"
                raise RuntimeError(f"the background chat load at {self.url} did not start: {why}")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stop()

    async def _stop(self) -> None:
        self._t1 = time.perf_counter()
        for t in self._tasks:
            t.cancel()  # closing a stream aborts its request at the server
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            prompt = self.prompts[self._next % len(self.prompts)]
            self._next += 1
            sample = await self._one(prompt)
            self.samples.append(sample)
            if sample.error is not None:
                await asyncio.sleep(1.0)  # a failing server is not hammered

    async def _one(self, prompt: str) -> ChatSample:
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                                "max_tokens": self.max_tokens, "temperature": 0, "stream": True,
                                "stream_options": {"include_usage": True}, **self.extra}
        s = ChatSample()
        start = time.perf_counter()
        try:
            async with self.client.stream("POST", f"{api_root(self.url)}/chat/completions", json=body,
                                          headers=auth_headers(self.api_key), timeout=self.timeout) as resp:
                if resp.status_code != 200:
                    text = (await resp.aread()).decode("utf-8", errors="replace")
                    s.error = f"HTTP {resp.status_code}: {error_message(text)}"[:300]
                    return s
                async for chunk in sse_chunks(resp.aiter_lines()):
                    for choice in chunk.get("choices") or []:
                        if (choice.get("delta") or {}).get("content") and s.ttft_s is None:
                            s.ttft_s = time.perf_counter() - start
                            self._first_token.set()
                    if chunk.get("usage"):
                        s.completion_tokens = int(chunk["usage"].get("completion_tokens") or 0)
            s.latency_s = time.perf_counter() - start
        except (httpx.HTTPError, StreamError) as exc:
            s.error = f"{type(exc).__name__}: {exc}"[:300]
        return s

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.samples if s.error is None and s.latency_s is not None]
        wall = (self._t1 or time.perf_counter()) - self._t0
        return {
            "url": self.url, "model": self.model, "streams": self.streams, "max_tokens": self.max_tokens,
            "extra": self.extra, "completed": len(ok), "errors": len(self.samples) - len(ok),
            "latency_p50_s": percentile([s.latency_s for s in ok], 50),
            "ttft_p50_s": percentile([s.ttft_s for s in ok if s.ttft_s is not None], 50),
            "tokens_per_s": sum(s.completion_tokens for s in ok) / wall if wall > 0 else None,
            "wall_s": round(wall, 1),
        }
