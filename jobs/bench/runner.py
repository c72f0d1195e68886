"""Closed-loop load at each concurrency level; two servers interleaved round by round.

At level C, each round's requests go to one server with C of them in flight at
any time (a new one starts as soon as one ends), then the same requests go to
the other server; the server that goes first alternates from round to round
(A B, B A, ...). So the two servers never compete for the machine, meet the
same requests at the same load, and slow drift of the machine (thermal,
neighbours) hits both alike. Each level draws its own requests (a fresh
seed), so a server's prefix cache holds nothing from an earlier level.

`run_bench` is the whole of `codefill bench` (`codefill.commands.bench`): workload, warm-up, chat
load, every level, and the JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import os
import platform
import sys
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


# --- the whole run ----------------------------------------------------------------------


async def _target(name: str | None, url: str, model: str | None, key: str | None, template: str | None,
                  extra: dict[str, Any], client: Any) -> Target:
    from codefill.client.completions import first_model
    from codefill.model.templates.fim import get_fim_template

    tmpl = get_fim_template(template) if template else None  # an unknown name fails before any request
    try:
        model = model or await first_model(url, key, client=client)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a connection traceback
        raise RuntimeError(f"cannot reach {url}: {exc}") from exc
    return Target(name=name or model, url=url, model=model, api_key=key, raw_fim_template=tmpl, extra=extra)


async def run_bench(args: argparse.Namespace, command: str) -> dict[str, Any]:
    import httpx
    from tqdm import tqdm

    from codefill.jobs.bench.workload import build_workload, default_counter, load_sources, python_version, \
        tokenizer_counter

    if args.requests < 1 or args.rounds < 0 or args.warmup < 0 or args.chat_load < 0 or args.chat_max_tokens < 1:
        raise ValueError("--requests and --chat-max-tokens must be positive, --rounds, --warmup and --chat-load "
                         "not negative")
    count, counter_name = ((tokenizer_counter(args.tokenizer), f"tokenizer {args.tokenizer}")
                           if args.tokenizer else default_counter())
    sources = load_sources()
    levels_n = {c: max(args.requests, c) for c in args.concurrency}
    workloads = {
        c: build_workload(n, prompt_tokens=args.prompt_tokens, kinds=args.kinds, seed=args.seed * 1000 + c,
                          count=count, sources=sources, id_prefix=f"c{c}-")
        for c, n in levels_n.items()
    }
    warm = build_workload(max(args.warmup, 0), prompt_tokens=[min(args.prompt_tokens)], kinds=args.kinds,
                          seed=args.seed * 1000 - 1, count=count, sources=sources, id_prefix="warm-")

    connections = 2 * max(args.concurrency) + 2 * args.chat_load + 8
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        targets = [await _target(args.name, args.url, args.model, args.api_key, args.raw_fim_template,
                                 args.extra_body, client)]
        if args.compare:
            targets.append(await _target(args.compare_name, args.compare, args.compare_model, args.compare_api_key,
                                         args.compare_raw_fim_template, args.compare_extra_body, client))
            if targets[0].name == targets[1].name:
                targets[0].name, targets[1].name = f"{targets[0].name} (A)", f"{targets[1].name} (B)"
        await warm_up(targets, warm, client, args.request_timeout)

        chat_loads = []
        if args.chat_load:
            from codefill.jobs.bench.chat_load import ChatLoad, chat_prompts

            prompts = chat_prompts(sources, 64, args.seed)
            for t in {t.url: t for t in targets}.values():  # one load per server, also when compared with itself
                chat_loads.append(ChatLoad(t.url, t.model, api_key=t.api_key, streams=args.chat_load,
                                           max_tokens=args.chat_max_tokens, prompts=prompts, client=client,
                                           timeout=args.request_timeout, extra=args.chat_extra_body))
        total = sum(levels_n.values()) * len(targets)
        bar = tqdm(total=total, desc="bench", unit="req", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        levels, samples = [], []
        try:
            async with contextlib.AsyncExitStack() as stack:
                for load in chat_loads:
                    await stack.enter_async_context(load)
                await _run_levels(args, targets, workloads, client, bar, levels, samples)
        finally:
            bar.close()
        wall = time.monotonic() - t0

    report: dict[str, Any] = {
        "benchmark": "codefill-bench",
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": python_version()},
        "server_names": [t.name for t in targets],
        "servers": [{"name": t.name, "url": t.url, "model": t.model, "how": t.how, "extra": t.extra}
                    for t in targets],
        "settings": {
            "concurrency": args.concurrency, "requests": args.requests,
            "rounds": args.rounds or "auto (requests / concurrency)",
            "prompt_tokens": args.prompt_tokens, "kinds": args.kinds, "seed": args.seed, "warmup": args.warmup,
            "temperature": 0.0, "stream": True,
            "chat_load": args.chat_load, "chat_max_tokens": args.chat_max_tokens if args.chat_load else None,
        },
        "workload": {
            "description": "FIM requests cut from the Python standard library's source (codefill.jobs.bench.workload)",
            "counter": counter_name,
            "requests": [{"id": r.request_id, "kind": r.kind, "target_tokens": r.target_tokens, "source": r.source,
                          "cursor_line": r.cursor_line, "max_tokens": r.max_tokens}
                         for c in args.concurrency for r in workloads[c]],
        },
        "wall_time_s": round(wall, 1),
        "levels": levels,
        "samples": [s.__dict__ for s in samples],
    }
    if chat_loads:
        report["chat_load"] = [load.summary() for load in chat_loads]
    if len(targets) == 2:
        a, b = (t.name for t in targets)
        pairs: dict[str, dict[str, Any]] = {}
        for s in samples:
            if s.ok:
                pairs.setdefault(s.request_id, {})[s.server] = s.text
        both = [v for v in pairs.values() if a in v and b in v]
        report["compared_outputs"] = len(both)
        report["identical_outputs"] = sum(v[a] == v[b] for v in both)
    return report


async def _run_levels(args: argparse.Namespace, targets: list, workloads: dict, client: Any, bar: Any,
                      levels: list, samples: list) -> None:
    for c in args.concurrency:
        bar.set_postfix_str(f"concurrency {c}", refresh=True)
        rounds = args.rounds or len(workloads[c]) // c
        entry, got = await run_level(targets, workloads[c], c, rounds, client, args.request_timeout,
                                     on_done=lambda s: bar.update(1))
        levels.append(entry)
        samples.extend(got)
        bar.write(_level_line(entry, [t.name for t in targets]))


def _level_line(entry: dict[str, Any], names: list[str]) -> str:
    parts = [f"concurrency {entry['concurrency']}:"]
    for n in names:
        s = entry[n]
        lat = "-" if s["latency_p50_s"] is None else f"{s['latency_p50_s']:.2f}"
        tps = "-" if s["tokens_per_s"] is None else f"{s['tokens_per_s']:.1f}"
        drafts = "" if s.get("draft_acceptance") is None else f", drafts {s['draft_acceptance']:.0%} accepted"
        parts.append(f"{n} p50 {lat} s, {tps} tok/s{drafts}, {s['errors']} errors;")
    if "ratio" in entry and entry["ratio"]["latency_p50_s"] is not None:
        r = entry["ratio"]
        tps = "-" if r["tokens_per_s"] is None else f"{r['tokens_per_s']:.3f}"
        parts.append(f"ratio p50 {r['latency_p50_s']:.3f}, tokens/s {tps}")
    return " ".join(parts)
