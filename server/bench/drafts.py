"""Draft acceptance in `codefill bench`: how many speculative draft tokens each server proposed
and how many it accepted while its rounds ran.

Both codefill and vLLM's own server expose vLLM's counters on `/metrics`
(`vllm:spec_decode_num_draft_tokens_total`, `..._accepted_tokens_total`); the bench reads
them before and after each round of a server (the servers' rounds never overlap) and adds up
the differences. A server without speculation, or without those counters, reports none.
With `--chat-load`, the background chat drafts too: the figures are the server's, not FIM's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from model.openai_http import auth_headers

DRAFT_TOKENS = "vllm:spec_decode_num_draft_tokens_total"
ACCEPTED_TOKENS = "vllm:spec_decode_num_accepted_tokens_total"


@dataclass
class DraftCounts:
    draft: float = 0.0
    accepted: float = 0.0

    def __sub__(self, other: DraftCounts) -> DraftCounts:
        return DraftCounts(self.draft - other.draft, self.accepted - other.accepted)

    def __add__(self, other: DraftCounts) -> DraftCounts:
        return DraftCounts(self.draft + other.draft, self.accepted + other.accepted)


def parse_draft_counts(text: str) -> DraftCounts | None:
    """The two counters in a Prometheus text page, summed over their label sets (one per engine);
    None when the page has neither."""
    totals = {DRAFT_TOKENS: 0.0, ACCEPTED_TOKENS: 0.0}
    seen = False
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in totals:
            continue
        rest = line[line.rfind("}") + 1:] if "{" in line else line[len(name):]
        try:
            totals[name] += float(rest.split()[0])  # a timestamp may follow the value
        except (IndexError, ValueError):
            continue
        seen = True
    return DraftCounts(totals[DRAFT_TOKENS], totals[ACCEPTED_TOKENS]) if seen else None


async def read_draft_counts(url: str, api_key: str | None, client: httpx.AsyncClient) -> DraftCounts | None:
    """The server's counters now; None when it has no /metrics or no such counters."""
    base = url.rstrip("/").removesuffix("/v1")
    try:
        resp = await client.get(f"{base}/metrics", headers=auth_headers(api_key), timeout=30)
    except httpx.HTTPError:
        return None
    return parse_draft_counts(resp.text) if resp.status_code == 200 else None


def draft_figures(total: DraftCounts | None) -> dict[str, float | None]:
    """The level's figures: tokens proposed, accepted, and the share accepted."""
    if total is None:
        return {"draft_tokens": None, "accepted_draft_tokens": None, "draft_acceptance": None}
    rate = total.accepted / total.draft if total.draft > 0 else None
    return {"draft_tokens": total.draft, "accepted_draft_tokens": total.accepted, "draft_acceptance": rate}
