"""/metrics carries vLLM's own prefix-cache counters: the same prompt twice is a cache hit."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.vllm

# Long enough to fill several KV-cache blocks: only whole blocks are cached.
PREFIX = "".join(f"def function_{i}(value):\n    return value * {i} + {i % 7}\n\n" for i in range(40))


def _complete(server) -> None:
    r = httpx.post(f"{server.url}/v1/completions", timeout=120, json={
        "model": "tiny", "prompt": PREFIX + "def last(value):\n    return ", "suffix": "\n", "max_tokens": 4,
        "temperature": 0})
    assert r.status_code == 200, r.text


def _wait_for(server, name: str, above: float, timeout: float = 10.0) -> float:
    """vLLM records its stats just after it hands out the outputs: a moment after the answer."""
    deadline = time.monotonic() + timeout
    while (value := server.metric(name)) <= above and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def test_prefix_cache_counters_grow_when_a_prompt_repeats(tiny_vllm_server):
    server = tiny_vllm_server
    queries, hits = server.metric("vllm:prefix_cache_queries_total"), server.metric("vllm:prefix_cache_hits_total")
    cached = server.metric("codefill_prompt_tokens_cached_total")
    _complete(server)
    first_queries = _wait_for(server, "vllm:prefix_cache_queries_total", queries)
    assert first_queries > queries
    _complete(server)
    assert _wait_for(server, "vllm:prefix_cache_queries_total", first_queries) > first_queries
    new_hits = _wait_for(server, "vllm:prefix_cache_hits_total", hits) - hits
    assert new_hits >= 256, f"the repeated prompt should come from the cache, got {new_hits} hit tokens"
    assert server.metric("vllm:prompt_tokens_total") > 0
    assert server.metric("codefill_prompt_tokens_cached_total") - cached >= new_hits
