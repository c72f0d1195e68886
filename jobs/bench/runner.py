"""Closed-loop load at each concurrency level; two servers interleaved round by round.

At level C, each round's requests go to one server with C of them in flight at
any time (a new one starts as soon as one ends), then the same requests go to
the other server; the server that goes first alternates from round to round
(A B, B A, ...). So the two servers never compete for the machine, meet the
same requests at the same load, and slow drift of the machine (thermal,
neighbours) hits both alike. Each level draws its own requests (a fresh
seed), so a server's prefix cache holds nothing from an earlier level.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

import httpx

from codefill.client.completions import CompletionResult, complete_fim, complete_raw_fim
from codefill.jobs.bench.drafts import add_round, draft_figures, read_draft_counts
from codefill.jobs.bench.stats import Sample, level_stats, paired_ratios, ratios
from codefill.jobs.bench.workload import BenchRequest
from codefill.client.raw_fim import cut_at_markers


@dataclass
class Target:
    """A server under test and how it is asked for FIM."""

    name: str
    url: str
    model: str
    api_key: str | None = None
    raw_fim_template: Any | None = None  # a codefill.model.templates.fim template: prompt built here, no `suffix`
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def how(self) -> str:
        if self.raw_fim_template is None:
            return "prompt + suffix"
        return f"raw FIM prompt ({self.raw_fim_template.name})"

    async def send(self, r: BenchRequest, client: httpx.AsyncClient, timeout: float) -> CompletionResult:
        stop = None if r.multiline else ["\n"]
        if self.raw_fim_template is None:
            # codefill's own options from --extra-body (e.g. {"postprocess": false}) join the
            # request's multiline flag instead of replacing it, or being replaced by it
            extra = dict(self.extra)
            codefill = {"multiline": r.multiline, **(extra.pop("codefill", None) or {})}
            return await complete_fim(self.url, self.model, r.prefix, r.suffix, r.max_tokens, stop=stop,
                                      api_key=self.api_key, stream=True, codefill=codefill,
                                      extra=extra or None, client=client, timeout=timeout,
                                      priority=None)  # the server's own for FIM, or --extra-body's
        t = self.raw_fim_template
        res = await complete_raw_fim(self.url, self.model, t.build(r.prefix, r.suffix).text, r.max_tokens,
                                     stop=stop, api_key=self.api_key, stream=True, extra=self.extra or None,
                                     client=client, timeout=timeout)
        res.text = cut_at_markers(res.text, tuple(t.stop_tokens) + tuple(t.required_tokens))
        return res


async def run_round(target: Target, requests: Sequence[BenchRequest], concurrency: int, level: int, rnd: int,
                    client: httpx.AsyncClient, timeout: float,
                    on_done: Callable[[Sample], None] | None = None) -> tuple[list[Sample], float]:
    """Send `requests` with `concurrency` in flight; return the samples and the busy time."""
    sem = asyncio.Semaphore(concurrency)

    async def one(r: BenchRequest) -> Sample:
        async with sem:
            s = Sample(target.name, level, rnd, r.request_id, r.kind, r.target_tokens)
            try:
                res = await target.send(r, client, timeout)
            except Exception as exc:  # noqa: BLE001 - a failed request is counted, not fatal
                s.error = f"{type(exc).__name__}: {exc}"[:500]
            else:
                s.latency_s, s.ttft_s = res.latency_s, res.ttft_s
                s.prompt_tokens, s.completion_tokens = res.prompt_tokens, res.completion_tokens
                s.finish_reason, s.text = res.finish_reason, res.text
            if on_done is not None:
                on_done(s)
            return s

    t0 = time.perf_counter()
    samples = await asyncio.gather(*(one(r) for r in requests))
    return list(samples), time.perf_counter() - t0


def split_rounds(requests: Sequence[BenchRequest], rounds: int, concurrency: int) -> list[list[BenchRequest]]:
    """`rounds` parts of about equal size, none smaller than the concurrency (so the level is reached)."""
    size = max(concurrency, -(-len(requests) // max(1, rounds)))
    return [list(requests[i:i + size]) for i in range(0, len(requests), size)]


async def run_level(
    targets: Sequence[Target], requests: Sequence[BenchRequest], concurrency: int, rounds: int,
    client: httpx.AsyncClient, timeout: float, on_done: Callable[[Sample], None] | None = None,
) -> tuple[dict[str, Any], list[Sample]]:
    samples: dict[str, list[Sample]] = {t.name: [] for t in targets}
    busy = dict.fromkeys(samples, 0.0)
    drafts: dict[str, dict[str, float] | None] = dict.fromkeys(samples)
    parts = split_rounds(requests, rounds, concurrency)
    for k, part in enumerate(parts):
        order = list(targets) if k % 2 == 0 else list(targets)[::-1]
        for t in order:
            before = await read_draft_counts(t.url, t.api_key, client)
            got, took = await run_round(t, part, concurrency, concurrency, k, client, timeout, on_done)
            after = await read_draft_counts(t.url, t.api_key, client)
            samples[t.name].extend(got)
            busy[t.name] += took
            drafts[t.name] = add_round(drafts[t.name], before, after)
    entry: dict[str, Any] = {"concurrency": concurrency, "rounds": len(parts), "requests": len(requests)}
    for t in targets:
        entry[t.name] = {**level_stats(samples[t.name], busy[t.name]), **draft_figures(drafts[t.name])}
    if len(targets) == 2:
        a, b = targets
        entry["ratio"] = ratios(entry[a.name], entry[b.name])
        entry["paired"] = paired_ratios(samples[a.name], samples[b.name])
    return entry, [s for t in targets for s in samples[t.name]]


async def warm_up(targets: Sequence[Target], requests: Sequence[BenchRequest], client: httpx.AsyncClient,
                  timeout: float, send: Callable[..., Awaitable[CompletionResult]] | None = None) -> None:
    """Unmeasured requests first (engine warm-up, connection setup); a server that fails them is not benched."""
    for t in targets:
        for r in requests:
            try:
                await t.send(r, client, timeout)
            except Exception as exc:  # noqa: BLE001
                raise RuntimeError(f"warm-up request to {t.name} ({t.url}) failed: {exc}") from exc
