"""Counters from a server's /metrics: vLLM's own (codefill serve passes them through,
raw vLLM has them natively) and codefill's, read before and after each client's turn
(`codefill bench replay`) or each server's round (`codefill bench`).

Turns and rounds never overlap, so what the counters moved during one is its doing.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

COUNTERS = {
    "prefix_cache_queries": "vllm:prefix_cache_queries",
    "prefix_cache_hits": "vllm:prefix_cache_hits",
    "prompt_tokens": "vllm:prompt_tokens",
    "prompt_tokens_cached": "vllm:prompt_tokens_cached",
    "engine_requests": "vllm:request_success",  # every finish reason, aborts included
    "codefill_prompt_tokens": "codefill_prompt_tokens",
    "codefill_prompt_tokens_cached": "codefill_prompt_tokens_cached",
}


def parse(text: str, counters: Mapping[str, str] = COUNTERS) -> dict[str, float]:
    """The `counters` (key: metric name) present in a Prometheus text exposition, summed over labels."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {name: key for key, name in counters.items()}
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        key = wanted.get(family.name) or wanted.get(family.name.removesuffix("_total"))
        if key is None:
            continue
        total = sum(s.value for s in family.samples if s.name.endswith("_total") or s.name == family.name)
        out[key] = out.get(key, 0.0) + total
    return out


async def scrape(client: httpx.AsyncClient, url: str, api_key: str | None = None,
                 counters: Mapping[str, str] = COUNTERS) -> dict[str, float] | None:
    """None when the server has no /metrics to read (the figures are then left out)."""
    from codefill.client.openai_http import auth_headers

    try:
        resp = await client.get(f"{url.rstrip('/').removesuffix('/v1')}/metrics", headers=auth_headers(api_key),
                                timeout=10)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return parse(resp.text, counters)


def delta(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> dict[str, float] | None:
    if before is None or after is None:
        return None
    return {k: after[k] - before.get(k, 0.0) for k in after}
