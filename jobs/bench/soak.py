"""Soak with abandonment: many streaming clients for minutes, half of them hanging up mid-stream.

What an editor does to a completion server all day: it opens a stream for every
pause in typing and drops most of them a few tokens in, because the user typed
on. A server that leaks anything per abandoned stream (an engine request that is
never aborted, a task, a buffer) fails here long before it fails in production.

The run:
1. start `codefill serve` on the tiny random model (or target `--url`);
2. warm-up: the same load for `--warmup` seconds (allocators, caches and compiled
   kernels reach their steady size), then let the server settle;
3. baseline: resident memory (RSS) of the server and all its children (the vLLM
   engine core runs in a child process);
4. soak: `--clients` closed-loop clients for `--duration` seconds, each sending
   streaming requests (FIM with `suffix`, plain completions, chat) with seeded random
   prompts and `max_tokens`; `--abandon` of them (default half) close the connection
   after a random number of chunks, the rest read to the end;
5. afterwards: the server settles, then the criteria.

Criteria (exit status 1 when one fails):
- `/metrics` shows no request in flight: `codefill_engine_requests_in_flight` 0 and
  `codefill_http_requests_in_flight` at most 1 (the scrape itself counts);
- every stream that was not abandoned ended with `data: [DONE]` and carried no error
  event; no request failed (a 429 from a server with request limits counts as
  "rejected", reported, not a failure);
- RSS after the soak grew less than `--max-rss-growth` (10 %) over the baseline;
- the run exercised both paths: some streams completed and some were abandoned.

Results: a summary on stdout, and `benchmarks/results/DATE-soak-NAME.json` + `.md`.

    python benchmarks/soak.py                       # 200 clients, 300 s, tiny model, vLLM if installed
    python benchmarks/soak.py --engine hf --clients 50 --duration 30 --warmup 10
    python benchmarks/soak.py --url http://127.0.0.1:8000 --pid 1234
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from codefill.jobs.bench.soak_load import Load, Tally, run_load
from codefill.jobs.bench.soak_server import (
    Server, dropped_connections, in_flight, is_idle, listening_pid, settle, tree_rss,
)

# The checkout this package is installed from (editable): results go to its benchmarks/results.
REPO = Path(__file__).resolve().parents[2]

RESULTS_DIR = REPO / "benchmarks" / "results"


# --- one soak: warm-up, baseline, load, criteria --------------------------------------------


@dataclass
class Memory:
    """Resident memory in MB: the server process itself, and with its children."""

    server_mb: float
    total_mb: float

    @classmethod
    def of(cls, pid: int) -> Memory:
        own, total = tree_rss(pid)
        return cls(_mb(own), _mb(total))


@dataclass
class SoakResult:
    load: dict[str, Any]
    warmup: dict[str, Any]
    soak: dict[str, Any]
    in_flight_at_end: tuple[float, float]  # (engine, http) as the last client finished
    engine_in_flight: float  # after settling
    http_in_flight: float
    settle_s: float
    rss_baseline: Memory | None
    rss_after: Memory | None
    rss_samples: list[tuple[float, float, float]]  # (seconds into the soak, server MB, total MB)
    rss_scope: str  # what the memory criterion covers: "tree" (with children) or "server"
    warmup_s: float  # how long the warm-up ran
    failures: list[str]
    # Connections the server closed itself during the soak, by reason (server/connections.py):
    # a well-behaved load never trips these limits, so any is a finding.
    dropped: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def growth_of(self, scope: str) -> float | None:
        """Relative growth over the warm baseline: "server" (the process alone) or "tree"."""
        if self.rss_baseline is None or self.rss_after is None:
            return None
        if scope == "server":
            return round(_growth(self.rss_baseline.server_mb, self.rss_after.server_mb), 4)
        return round(_growth(self.rss_baseline.total_mb, self.rss_after.total_mb), 4)

    @property
    def rss_growth(self) -> float | None:
        """The growth the memory criterion is about."""
        return self.growth_of(self.rss_scope)


def _growth(before: float, after: float) -> float:
    return (after - before) / before if before else 0.0


def criteria(tally: Tally, engine: float, http: float, rss_growth: float | None, max_rss_growth: float,
             dropped: dict[str, float] | None = None) -> list[str]:
    failures = []
    if dropped:
        failures.append("the server closed connections of a well-behaved load: "
                        + ", ".join(f"{reason} {n:g}" for reason, n in sorted(dropped.items())))
    if not is_idle(engine, http):
        failures.append(f"requests still in flight after the soak: engine {engine:g}, http {http:g} (1 = the scrape)")
    if tally.errors:
        failures.append(f"{tally.errors} requests failed or streams ended without [DONE]: "
                        + "; ".join(tally.error_samples[:3]))
    if tally.completed == 0:
        failures.append("no stream completed")
    if tally.abandoned == 0:
        failures.append("no stream was abandoned: the run did not exercise disconnects")
    if rss_growth is not None and rss_growth >= max_rss_growth:
        failures.append(f"resident memory grew {rss_growth:.1%} (limit {max_rss_growth:.0%})")
    return failures


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


async def warm_up(
    url: str, load: Load, *, pid: int | None, min_s: float, max_s: float, window_s: float = 10.0,
    stable: float = 0.01, on_progress: Callable[[Tally, float], None] | None = None, progress_s: float = 10.0,
    log: Callable[[str], None] = print,
) -> Tally:
    """The soak's own load until memory is warm: at least `min_s`, then until the server's
    memory (with its children) grew less than `stable` in each of two windows of `window_s`,
    at most `max_s`. What a steady load allocates once (vLLM's worker takes about a minute
    of this load on a 2-core CPU to reach its plateau, with or without abandoned streams)
    then belongs to the baseline, and growth after it is what the soak itself leaks."""
    stop = asyncio.Event()

    async def monitor() -> None:
        started = time.monotonic()
        last = Memory.of(pid).total_mb if pid else 0.0
        calm = 0
        while not stop.is_set():
            await asyncio.sleep(window_s)
            elapsed = time.monotonic() - started
            if pid:
                now = Memory.of(pid).total_mb
                calm = calm + 1 if _growth(last, now) < stable else 0
                last = now
            if elapsed >= max_s or (elapsed >= min_s and (not pid or calm >= 2)):
                if elapsed >= max_s and max_s > min_s and pid and calm < 2:
                    log(f"warm-up: memory still growing after {elapsed:.0f} s; taking the baseline anyway")
                stop.set()

    watcher = asyncio.create_task(monitor())
    try:
        warm = Load(**{**asdict(load), "duration_s": max(min_s, max_s)})
        return await run_load(url, warm, phase="warmup", on_progress=on_progress, progress_s=progress_s, stop=stop)
    finally:
        watcher.cancel()


async def soak(
    url: str, load: Load, *, pid: int | None, warmup_s: float, warmup_max_s: float | None = None,
    settle_timeout_s: float = 30.0, max_rss_growth: float = 0.10, rss_scope: str = "tree",
    progress_s: float = 10.0, log: Callable[[str], None] = print,
) -> SoakResult:
    """Warm-up (`warmup_s`, extended up to `warmup_max_s` while memory grows), baseline, soak,
    criteria. `rss_scope`: the memory criterion covers the server process with its children
    ("tree") or the server process alone ("server"); both are reported."""
    samples: list[tuple[float, float, float]] = []

    def progress(phase: str) -> Callable[[Tally, float], None]:
        def report(t: Tally, elapsed: float) -> None:
            rss = ""
            if pid:
                mem = Memory.of(pid)
                rss = f", rss {mem.server_mb:.0f} MB server / {mem.total_mb:.0f} MB total"
                if phase == "soak":
                    samples.append((round(elapsed, 1), mem.server_mb, mem.total_mb))
            log(f"[{phase} {elapsed:5.0f}s] requests {t.requests}, completed {t.completed}, abandoned {t.abandoned}, "
                f"rejected {t.rejected}, errors {t.errors}, chunks {t.chunks}{rss}")
        return report

    warmup_max_s = warmup_s if warmup_max_s is None else max(warmup_s, warmup_max_s)
    log(f"warm-up: {load.clients} clients for {warmup_s:.0f} s"
        + (f", up to {warmup_max_s:.0f} s while memory grows" if warmup_max_s > warmup_s else ""))
    started = time.monotonic()
    warm_tally = await warm_up(url, load, pid=pid, min_s=warmup_s, max_s=warmup_max_s, log=log,
                               on_progress=progress("warmup"), progress_s=progress_s)
    warmed_s = round(time.monotonic() - started, 1)
    await settle(url, settle_timeout_s)
    baseline = Memory.of(pid) if pid else None
    log(f"warm baseline rss: {baseline or 'not measured'}")

    log(f"soak: {load.clients} clients for {load.duration_s:.0f} s, abandoning {load.abandon_share:.0%}")
    dropped_before = await dropped_connections(url)
    tally = await run_load(url, load, phase="soak", on_progress=progress("soak"), progress_s=progress_s)
    at_end = await in_flight(url)
    dropped = {reason: n - dropped_before.get(reason, 0.0)
               for reason, n in (await dropped_connections(url)).items() if n > dropped_before.get(reason, 0.0)}
    engine, http, waited = await settle(url, settle_timeout_s)
    after = Memory.of(pid) if pid else None
    log(f"in flight as the load ended: engine {at_end[0]:g}, http {at_end[1]:g}; "
        f"after {waited} s: engine {engine:g}, http {http:g}; rss after: {after or 'not measured'}")
    result = SoakResult(
        load=asdict(load), warmup=warm_tally.summary(), soak=tally.summary(), in_flight_at_end=at_end,
        engine_in_flight=engine, http_in_flight=http, settle_s=waited, rss_baseline=baseline, rss_after=after,
        rss_samples=samples, rss_scope=rss_scope, warmup_s=warmed_s, failures=[], dropped=dropped,
    )
    result.failures = criteria(tally, engine, http, result.growth_of(rss_scope), max_rss_growth, dropped)
    return result


# --- reports ----------------------------------------------------------------------------------


def markdown(result: SoakResult, meta: dict[str, Any]) -> str:
    s, load = result.soak, result.load

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    rss = "not measured"
    if result.rss_baseline is not None and result.rss_after is not None:
        b, a = result.rss_baseline, result.rss_after
        rss = (f"server {b.server_mb} -> {a.server_mb} MB ({_growth(b.server_mb, a.server_mb):+.1%}); "
               f"with children {b.total_mb} -> {a.total_mb} MB ({_growth(b.total_mb, a.total_mb):+.1%})")
    lines = [
        f"# Soak with abandonment: {meta['date']}",
        "",
        f"`{meta['command']}`",
        "",
        f"Server: {meta['url']} (engine {meta.get('engine') or '?'}, model {meta.get('model') or '?'}); "
        f"{load['clients']} clients, {load['duration_s']:.0f} s after a {result.warmup_s:.0f} s warm-up; "
        f"{load['abandon_share']:.0%} of requests planned to hang up mid-stream (asking for "
        f"{load['abandoned_max_tokens'] or 'the same'} tokens); max_tokens of the rest "
        f"{load['min_tokens']}..{load['max_tokens']}; seed {load['seed']}.",
        "",
        "| | |",
        "|---|---|",
        f"| requests | {s['requests']} ({', '.join(f'{k} {v}' for k, v in s['by_kind'].items())}) |",
        f"| completed with [DONE] | {s['completed']} |",
        f"| abandoned mid-stream | {s['abandoned']} (planned {s['planned_abandon']}; the rest ended first) |",
        f"| rejected (429) | {s['rejected']} |",
        f"| errors | {s['errors']} |",
        f"| chunks received | {s['chunks']} |",
        f"| connections the server closed (limits) | "
        f"{', '.join(f'{r} {n:g}' for r, n in sorted(result.dropped.items())) or 'none'} |",
        f"| latency p50 / p95 (completed) | {sec(s['latency_p50_s'])} / {sec(s['latency_p95_s'])} |",
        f"| first chunk p50 / p95 | {sec(s['ttft_p50_s'])} / {sec(s['ttft_p95_s'])} |",
        f"| in flight as the load ended (engine / http) | {result.in_flight_at_end[0]:g} / "
        f"{result.in_flight_at_end[1]:g} |",
        f"| in flight afterwards (engine / http) | {result.engine_in_flight:g} / {result.http_in_flight:g} "
        f"(http counts the scrape; after {result.settle_s} s) |",
        f"| resident memory, warm baseline -> after | {rss}; the criterion covers "
        f"{'the server with its children' if result.rss_scope == 'tree' else 'the server process'} |",
        "",
        "Result: " + ("**pass**" if result.passed else "**FAIL**: " + "; ".join(result.failures)),
        "",
    ]
    return "\n".join(lines)


def write_results(result: SoakResult, meta: dict[str, Any], name: str, out_dir: Path = RESULTS_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{meta['date']}-soak-{name}"
    record = {**meta, **asdict(result), "rss_growth": result.rss_growth, "passed": result.passed}
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(result, meta))
    return stem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=None, help="soak this server instead of starting one on the tiny model")
    p.add_argument("--pid", type=int, default=None,
                   help="with --url: the server's process id, for its memory (default: whoever listens on the port)")
    p.add_argument("--engine", choices=("auto", "vllm", "hf"), default="auto",
                   help="engine of the server started here (auto: vLLM where installed)")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=300.0, help="seconds of soak (default 300)")
    p.add_argument("--warmup", type=float, default=30.0, help="seconds of the same load before the baseline")
    p.add_argument("--warmup-max", type=float, default=300.0,
                   help="go on warming up while memory still grows (>1%% per 10 s), up to this many seconds")
    p.add_argument("--rss-scope", choices=("tree", "server"), default="tree",
                   help="the memory criterion covers the server with its children (default) or the server alone")
    p.add_argument("--abandon", type=float, default=0.5, help="share of requests that hang up mid-stream")
    p.add_argument("--min-tokens", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--abandoned-max-tokens", type=int, default=1024,
                   help="what abandoned requests ask for (0: the same range as the rest)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rss-growth", type=float, default=0.10)
    p.add_argument("--settle-timeout", type=float, default=30.0,
                   help="seconds to wait for the in-flight gauges to reach 0 afterwards")
    p.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    p.add_argument("--name", default=None, help="results file name part (default: the engine)")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = p.parse_args(argv)

    engine = args.engine
    if engine == "auto":
        from codefill.model.engines import vllm_available

        engine = "vllm" if vllm_available() else "hf"
    server = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid or listening_pid(args.url)
        engine = None
    else:
        print(f"starting codefill serve (tiny model, engine {engine}) ...", flush=True)
        server = Server(engine)
        url, pid = server.url, server.pid
    load = Load(clients=args.clients, duration_s=args.duration, abandon_share=args.abandon, seed=args.seed,
                min_tokens=args.min_tokens, max_tokens=args.max_tokens,
                abandoned_max_tokens=args.abandoned_max_tokens)
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        result = asyncio.run(soak(url, load, pid=pid, warmup_s=args.warmup, warmup_max_s=args.warmup_max,
                                  settle_timeout_s=args.settle_timeout, max_rss_growth=args.max_rss_growth,
                                  rss_scope=args.rss_scope, progress_s=args.progress,
                                  log=lambda m: print(m, flush=True)))
    finally:
        if server is not None:
            server.stop()
    meta = {
        "date": _dt.date.today().isoformat(), "command": shlex.join([sys.argv[0], *(argv or sys.argv[1:])]),
        "url": url, "engine": health.get("engine") or engine, "model": health.get("model"),
        "pid_measured": pid,
    }
    stem = write_results(result, meta, args.name or str(meta["engine"] or "server"), args.out_dir)
    print()
    print(markdown(result, meta))
    print(f"wrote {stem}.json and {stem}.md")
    return 0 if result.passed else 1
