"""`codefill bench`: speed of a completion server under completion-shaped load.

Requests are FIM completions cut from real Python code (the standard library's
source; see codefill.jobs.bench.workload): prompts of about 512, 2048 and 8192 tokens
(`--prompt-tokens`), single-line (16 or 32 new tokens, `stop: ["\\n"]`) and
multi-line (64 or 128 new tokens), mixed uniformly, all streamed and greedy.
At each concurrency level (`--concurrency`, default 1,4,16,64) the server gets
`--requests` requests (at least as many as the level) with that many in flight
at once. Reported per level: time to first token and total latency
p50/p95/p99, requests/s and generated tokens/s over the time the server was busy,
and for a server that drafts speculatively, the share of its draft tokens it
accepted (vLLM's counters on /metrics, read round by round: codefill.jobs.bench.drafts).

With `--compare URL2`, both servers run in one run, interleaved: each round of
requests (by default as many as the concurrency) goes to one server and then
to the other, the first one alternating round by round, so they never compete
for the machine and meet the same requests; the report adds the ratios
URL/URL2 of every figure, and the median of the per-request latency ratios.

With `--chat-load N`, N streamed chat requests stay in flight at each server
the whole time (codefill.jobs.bench.chat_load), so the figures are FIM under chat load;
`--compare` the same URL with `--compare-extra-body '{"priority": 10}'` to
measure FIM at its own priority against FIM at chat's (arrival order) in one run.

A server without `suffix` support (e.g. vLLM's own OpenAI server) is driven
with a FIM prompt built here: `--raw-fim-template NAME` for URL,
`--compare-raw-fim-template NAME` for URL2. Outputs: JSON (`--out`, default
bench-<date>.json in the current directory), Markdown and a PNG plot of
latency, TTFT and throughput against concurrency beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from codefill.commands import options as cli_options
from codefill.jobs.bench.workload import DEFAULT_KINDS, DEFAULT_PROMPT_TOKENS, KINDS

DEFAULT_LEVELS = (1, 4, 16, 64)
DEFAULT_REQUESTS = 32


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _kinds(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(f"kinds are {', '.join(KINDS)}; got {text!r}")
    return kinds


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure latency and throughput of a server (optionally against another)",
                       description=__doc__.split("\n\n", 1)[1] + _REPLAY_NOTE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    # Not required=True: `codefill bench replay --url ...` must parse without a --url for bench itself;
    # bench_command asks for it with argparse's own words instead.
    p.add_argument("--url", default=None, help="the server, e.g. http://127.0.0.1:8000 (required)")
    p.add_argument("--model", default=None, help="model at --url (default: first of GET /v1/models)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="drive --url with a client-built FIM prompt (no `suffix`)")
    p.add_argument("--extra-body", type=cli_options.json_object, default={}, metavar="JSON",
                   help="merged into every request to --url")
    p.add_argument("--name", default=None, help="name of --url in the report (default: its model name)")
    p.add_argument("--compare", default=None, metavar="URL2", help="a second server, run interleaved")
    p.add_argument("--compare-model", default=None)
    p.add_argument("--compare-api-key", default=None)
    p.add_argument("--compare-raw-fim-template", default=None, metavar="NAME")
    p.add_argument("--compare-extra-body", type=cli_options.json_object, default={}, metavar="JSON")
    p.add_argument("--compare-name", default=None)
    p.add_argument("--concurrency", type=_int_list, default=list(DEFAULT_LEVELS),
                   help="levels (default 1,4,16,64)")
    p.add_argument("--requests", type=int, default=DEFAULT_REQUESTS,
                   help=f"requests per level and server, at least the level (default {DEFAULT_REQUESTS})")
    p.add_argument("--rounds", type=int, default=0,
                   help="interleaving rounds per level; default 0: as many as the requests allow, each round "
                        "holding as many requests as the concurrency (the finest interleaving, so a burst "
                        "of machine noise lands on both servers)")
    p.add_argument("--prompt-tokens", type=_int_list, default=list(DEFAULT_PROMPT_TOKENS),
                   help="prompt sizes in tokens, drawn uniformly (default 512,2048,8192)")
    p.add_argument("--kinds", type=_kinds, default=list(DEFAULT_KINDS),
                   help="of single-line, multi-line, typing (a line typed through: a request at each pause, "
                        "codefill.jobs.bench.workload); default single-line,multi-line")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer.json (or folder) to size prompts; default: the embedded model's if "
                        "cached, else an estimate from characters")
    p.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured requests per server first (default 2)")
    p.add_argument("--request-timeout", type=float, default=900.0, help="seconds per request (default 900)")
    p.add_argument("--chat-load", type=int, default=0, metavar="N",
                   help="keep N streamed chat requests in flight at each server while FIM is measured "
                        "(default 0: none)")
    p.add_argument("--chat-max-tokens", type=int, default=256, metavar="M",
                   help="new tokens each background chat request asks for (default 256)")
    p.add_argument("--chat-extra-body", type=cli_options.json_object, default={}, metavar="JSON",
                   help="merged into every background chat request, e.g. '{\"priority\": 20}'")
    p.add_argument("--out", default=None, help="JSON report; .md and .png go beside it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=bench_command, bench_parser=p)
    modes = p.add_subparsers(dest="bench_mode", metavar="{replay}", title="other benchmarks")
    from codefill.commands.bench_replay import add_replay_parser

    add_replay_parser(modes)


_REPLAY_NOTE = """
`codefill bench replay --url URL` instead types real edits key by key through
codefill lsp and plain clients (see `codefill bench replay --help`).
"""


def default_out(today: _dt.date | None = None) -> Path:
    return cli_options.default_out("bench", today)


async def _target(name: str | None, url: str, model: str | None, key: str | None, template: str | None,
                  extra: dict[str, Any], client: Any) -> Any:
    from codefill.client.completions import first_model
    from codefill.model.templates.fim import get_fim_template
    from codefill.jobs.bench.runner import Target

    tmpl = get_fim_template(template) if template else None  # an unknown name fails before any request
    try:
        model = model or await first_model(url, key, client=client)
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a connection traceback
        raise RuntimeError(f"cannot reach {url}: {exc}") from exc
    return Target(name=name or model, url=url, model=model, api_key=key, raw_fim_template=tmpl, extra=extra)


async def run_bench(args: argparse.Namespace, command: str) -> dict[str, Any]:
    import httpx
    from tqdm import tqdm

    from codefill.jobs.bench.runner import warm_up
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
    from codefill.jobs.bench.runner import run_level

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


def bench_command(args: argparse.Namespace) -> int:
    from codefill.jobs.bench.plot import plot_levels
    from codefill.jobs.bench.report import markdown_report, summary_text

    if args.url is None:
        args.bench_parser.error("the following arguments are required: --url")

    argv = getattr(args, "argv", None)
    command = shlex.join(["codefill", *argv]) if argv is not None else "codefill bench"
    report = asyncio.run(run_bench(args, command))
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    md = out.with_suffix(".md") if out.suffix != ".md" else out.with_name(out.name + ".md")
    names = report["server_names"]
    title = " vs ".join(names) + f" — {report['date']} — {report['machine']['cpus']} CPUs"
    plot_levels(report["levels"], names, png, title)
    report["plot"] = png.name
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown_report(report, png.name), encoding="utf-8")
    print(summary_text(report))
    print(f"\nwrote {out}\nwrote {md}\nwrote {png}")
    ok = any(lv[n]["errors"] < lv[n]["requests"] for lv in report["levels"] for n in names)
    if not ok:
        print("codefill: error: every request failed", file=sys.stderr)
        return 1
    return 0
