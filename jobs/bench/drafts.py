"""Draft acceptance in `codefill bench`: how many speculative draft tokens each server proposed
and how many it accepted while its rounds ran.

Both codefill and vLLM's own server expose vLLM's counters on `/metrics`
(`vllm:spec_decode_num_draft_tokens`, `..._accepted_tokens`); the bench reads them
(codefill.jobs.bench.scrape) before and after each round of a server and adds up the differences. A
server without speculation, or without those counters, reports none. With `--chat-load`, the
background chat drafts too: the figures are the server's, not FIM's alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from codefill.jobs.bench.scrape import delta, scrape

DRAFT_COUNTERS = {"draft_tokens": "vllm:spec_decode_num_draft_tokens",
                  "accepted_draft_tokens": "vllm:spec_decode_num_accepted_tokens"}


async def read_draft_counts(url: str, api_key: str | None, client: httpx.AsyncClient) -> dict[str, float] | None:
    """The server's counters now; None when it has no /metrics or no such counters."""
    return await scrape(client, url, api_key, DRAFT_COUNTERS) or None


def add_round(total: dict[str, float] | None, before: Mapping[str, float] | None,
              after: Mapping[str, float] | None) -> dict[str, float] | None:
    """`total` plus what the counters moved in one round (unchanged when either reading failed)."""
    moved = delta(before, after)
    if moved is None:
        return total
    return {k: (total or {}).get(k, 0.0) + v for k, v in moved.items()}


def draft_figures(total: Mapping[str, float] | None) -> dict[str, float | None]:
    """The level's figures: tokens proposed, accepted, and the share accepted."""
    if not total:
        return {"draft_tokens": None, "accepted_draft_tokens": None, "draft_acceptance": None}
    draft, accepted = total.get("draft_tokens", 0.0), total.get("accepted_draft_tokens", 0.0)
    return {"draft_tokens": draft, "accepted_draft_tokens": accepted,
            "draft_acceptance": accepted / draft if draft > 0 else None}
