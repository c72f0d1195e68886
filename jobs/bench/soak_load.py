"""The soak's clients (`codefill.jobs.bench.soak`): closed-loop streaming requests of seeded random
shapes, some of them hung up on mid-stream, tallied by how they ended."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

MAX_ERROR_SAMPLES = 20
REJECTED_BACKOFF_S = 1.0

# Prompt material: real-looking code so the tokenizer sees ordinary token mixes; the
# tiny model's answers are gibberish either way.
_SNIPPETS = (
    "def add(a, b):\n    ",
    "import os\nimport sys\n\n\ndef main(argv):\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        ",
    "function sum(xs) {\n  let total = 0;\n  for (const x of xs) {\n    ",
    "fn parse(s: &str) -> Option<u32> {\n    ",
    "SELECT name, count(*) FROM users WHERE ",
    "for i in range(10):\n    if i % 2 == 0:\n        ",
    "# é 😀 unicode in comments\nvalue = compute(",
)
_SUFFIXES = ("", "\n\nprint(add(1, 2))\n", "\n    return result\n", "\n}\n", ")\n",
             "\n\nif __name__ == '__main__':\n    main(sys.argv)\n")
_WORDS = ("alpha", "beta", "gamma", "delta", "x", "y", "count", "items", "result", "total", "name", "key")
_QUESTIONS = ("Reverse a string in Python", "Write a function that sums a list", "Explain this code",
              "Sort a dict by value", "Parse an integer safely in Rust")


# --- the load ----------------------------------------------------------------------------


@dataclass
class Load:
    """What each client sends; every choice comes from a per-client seeded RNG."""

    clients: int = 200
    duration_s: float = 300.0
    abandon_share: float = 0.5
    seed: int = 0
    min_tokens: int = 4
    max_tokens: int = 32
    # Abandoned requests ask for this many tokens (0: the same range as the rest), as an
    # editor's request that asked for a whole block and was dropped after a few tokens does.
    # It also makes a leak visible: an engine request nobody aborted runs for this many tokens
    # after its client is gone, far past the settle timeout, instead of ending on its own.
    abandoned_max_tokens: int = 1024
    chat_share: float = 0.3
    plain_share: float = 0.2  # completions without suffix; the rest are FIM
    request_timeout_s: float = 300.0
    model: str | None = None  # None: the first model the server lists


@dataclass
class Planned:
    endpoint: str  # "completions" | "chat/completions"
    kind: str  # "fim" | "plain" | "chat"
    body: dict[str, Any]
    abandon_after: int | None  # chunks to read before hanging up; None: read to the end


def _random_code(rng: random.Random) -> str:
    parts = [rng.choice(_SNIPPETS)]
    for _ in range(rng.randint(0, 6)):
        parts.append(f"{rng.choice(_WORDS)}_{rng.randint(0, 999)} = {rng.choice(_WORDS)}({rng.randint(0, 99)})\n")
    rng.shuffle(parts)
    return "".join(parts)


def plan_request(rng: random.Random, load: Load, model: str) -> Planned:
    max_tokens = rng.randint(load.min_tokens, load.max_tokens)
    abandon_after = rng.randint(0, max(1, max_tokens // 2)) if rng.random() < load.abandon_share else None
    if abandon_after is not None and load.abandoned_max_tokens:
        max_tokens = load.abandoned_max_tokens
    roll = rng.random()
    if roll < load.chat_share:
        body: dict[str, Any] = {
            "model": model, "max_tokens": max_tokens, "stream": True,
            "messages": [{"role": "user", "content": f"{rng.choice(_QUESTIONS)}:\n{_random_code(rng)}"}],
        }
        return Planned("chat/completions", "chat", body, abandon_after)
    body = {"model": model, "prompt": _random_code(rng), "max_tokens": max_tokens, "stream": True}
    if rng.random() < 0.3:
        body["stream_options"] = {"include_usage": True}
    if roll < load.chat_share + load.plain_share:
        return Planned("completions", "plain", body, abandon_after)
    body["suffix"] = rng.choice(_SUFFIXES)
    # Post-processing may end a stream early (an engine abort of its own); both paths run.
    body["codefill"] = {"postprocess": rng.random() < 0.5, "multiline": rng.choice([True, False, None])}
    return Planned("completions", "fim", body, abandon_after)


@dataclass
class Outcome:
    kind: str
    result: str  # "completed" | "abandoned" | "rejected" | "error"
    chunks: int
    latency_s: float
    ttft_s: float | None = None
    error: str | None = None


async def run_one(http: httpx.AsyncClient, url: str, planned: Planned) -> Outcome:
    """Send one streaming request; hang up after `abandon_after` chunks if planned."""
    started = time.perf_counter()
    chunks = 0
    ttft: float | None = None

    def outcome(result: str, error: str | None = None) -> Outcome:
        return Outcome(planned.kind, result, chunks, time.perf_counter() - started, ttft, error)

    try:
        async with http.stream("POST", f"{url}/v1/{planned.endpoint}", json=planned.body) as resp:
            if resp.status_code == 429:
                return outcome("rejected")
            if resp.status_code != 200:
                body = (await resp.aread()).decode("utf-8", "replace")
                return outcome("error", f"HTTP {resp.status_code}: {body[:200]}")
            if planned.abandon_after == 0:
                return outcome("abandoned")  # hang up before the first chunk
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return outcome("completed")
                chunks += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
                if '"error"' in data and json.loads(data).get("error"):
                    return outcome("error", f"error event: {data[:200]}")
                if planned.abandon_after is not None and chunks >= planned.abandon_after:
                    # Leaving the `async with` closes the connection mid-stream: the server
                    # sees a disconnect, exactly what an editor's cancelled request does.
                    return outcome("abandoned")
            return outcome("error", f"stream ended after {chunks} chunks without [DONE]")
    except (httpx.HTTPError, ValueError) as exc:
        # httpx's ReadError often says nothing itself; the socket error under it tells a reset
        # connection from a closed one, and how far the stream got tells when.
        return outcome("error", f"{type(exc).__name__}: {_root_cause(exc)} (after {chunks} chunks)")


def _root_cause(exc: BaseException) -> str:
    """The innermost error under httpx's (httpx -> httpcore -> anyio -> OSError), which is
    often the only one that says anything."""
    seen = {id(exc)}
    while True:
        cause = exc.__cause__ or exc.__context__
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        exc = cause
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Tally:
    requests: int = 0
    completed: int = 0
    abandoned: int = 0
    rejected: int = 0
    errors: int = 0
    chunks: int = 0
    planned_abandon: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)  # completed streams, request to [DONE]
    ttfts_s: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def add(self, planned: Planned, out: Outcome) -> None:
        self.requests += 1
        self.chunks += out.chunks
        self.planned_abandon += planned.abandon_after is not None
        self.by_kind[out.kind] = self.by_kind.get(out.kind, 0) + 1
        if out.result == "completed":
            self.completed += 1
            self.latencies_s.append(out.latency_s)
        elif out.result == "abandoned":
            self.abandoned += 1
        elif out.result == "rejected":
            self.rejected += 1
        else:
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(out.error or "?")
        if out.ttft_s is not None:
            self.ttfts_s.append(out.ttft_s)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "completed": self.completed, "abandoned": self.abandoned,
            "rejected": self.rejected, "errors": self.errors, "chunks": self.chunks,
            "planned_abandon": self.planned_abandon, "by_kind": dict(sorted(self.by_kind.items())),
            "latency_p50_s": percentile(self.latencies_s, 50), "latency_p95_s": percentile(self.latencies_s, 95),
            "ttft_p50_s": percentile(self.ttfts_s, 50), "ttft_p95_s": percentile(self.ttfts_s, 95),
            "error_samples": self.error_samples,
        }


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[k], 4)


async def first_model(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(f"{url}/v1/models")
        resp.raise_for_status()
        return str(resp.json()["data"][0]["id"])


async def run_load(
    url: str, load: Load, *, phase: str = "soak", on_progress: Callable[[Tally, float], None] | None = None,
    progress_s: float = 10.0, stop: asyncio.Event | None = None,
) -> Tally:
    """`load.clients` closed-loop clients for `load.duration_s` (or until `stop` is set); each
    finishes the request it is in when time is up (a request is never cut short by the clock,
    only by its plan)."""
    model = load.model or await first_model(url)
    tally = Tally()
    deadline = time.monotonic() + load.duration_s
    limits = httpx.Limits(max_connections=load.clients + 8, max_keepalive_connections=load.clients + 8)
    timeout = httpx.Timeout(load.request_timeout_s, connect=30.0)

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as http:
        async def client(n: int) -> None:
            rng = random.Random(f"{load.seed}:{phase}:{n}")
            while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                planned = plan_request(rng, load, model)
                out = await run_one(http, url, planned)
                tally.add(planned, out)
                if out.result == "rejected":
                    await asyncio.sleep(REJECTED_BACKOFF_S)  # as a client honouring Retry-After would

        async def progress() -> None:
            started = time.monotonic()
            while True:
                await asyncio.sleep(progress_s)
                if on_progress is not None:
                    on_progress(tally, time.monotonic() - started)

        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(client(n) for n in range(load.clients)))
        finally:
            reporter.cancel()
    return tally
