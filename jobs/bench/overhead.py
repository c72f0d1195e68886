"""Latency overhead of codefill over raw vLLM: same model, same prompts, same machine.

Prompts: FIM prompts from HumanEval single-line infilling cases (the first
`--prompts` cases, 40 by default, or a `--seed`ed sample). codefill gets
`prompt` = prefix + `suffix`; raw vLLM gets the hand-written Qwen2.5-Coder
prompt `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>` (the same
tokens codefill's template produces) with `stop_token_ids` = the end tokens
codefill's Qwen template stops on and `repetition_penalty` 1.0. Greedy, `--max-tokens` (32) at most,
streamed (SSE, with usage) unless `--no-stream`.

Token counts: codefill does not take `ignore_eos`, and its post-processing
may end a completion early (single-line scope, suffix repetition), so the two
servers need not generate the same number of tokens. Hence the report has raw
latency AND latency normalized per generated token (`usage.completion_tokens`
of each response), and `--no-postprocess` sends `"codefill": {"postprocess":
false}` so that both servers decode the same tokens and raw latencies compare
directly (the JSON says how many outputs were identical).

Interleaving (chosen so that machine noise hits both servers alike, without
the two servers ever competing for the machine): for each concurrency level C,
the prompt list is cut into batches of C prompts; each batch is sent to one
server as C concurrent requests, waited for, then sent to the other server;
the server that goes first alternates batch by batch (A B, B A, A B, ...). So
each server sees exactly C requests in flight at the start of each batch, only
one server is busy at a time, and the two measurements of a batch are seconds
apart. Warm-up requests (`--warmup`, per server) are not measured.

Reported per level and server: latency p50/p95, TTFT p50/p95 (time to the first
chunk with text; streaming only), ms per generated token p50 (latency /
completion tokens), time per output token after the first p50 ((latency -
TTFT) / (tokens - 1)), tokens/s (all generated tokens / time the server was
busy with its batches), and the ratio codefill/raw of each (latency ratios > 1
mean codefill is slower; a tokens/s ratio < 1 means codefill is slower).

    python benchmarks/overhead.py --codefill-url http://127.0.0.1:8000 \
        --raw-url http://127.0.0.1:8001 [--concurrency 1,4] [--no-postprocess]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from codefill.client.completions import (
    RAW_NEUTRAL_SAMPLING,
    add_server_pair_args,
    parse_stop_ids,
    QWEN_FIM_STOP_TOKEN_IDS,
    CompletionResult,
    complete_fim,
    complete_raw_fim,
    first_model,
    list_models,
    qwen_fim_prompt,
)
from codefill.jobs.evaluation.infill_cases import InfillCase, build_cases, select_cases

# The checkout this package is installed from (editable): results go to its benchmarks/results.
REPO = Path(__file__).resolve().parents[2]
SCRIPT = "benchmarks/overhead.py"  # the recorded command is the one typed from the root

SYSTEMS = ("codefill", "raw")



def parse_levels(text: str) -> list[int]:
    levels = [int(x) for x in text.split(",") if x.strip()]
    if not levels or any(c < 1 for c in levels):
        raise argparse.ArgumentTypeError("concurrency levels are positive integers, e.g. 1,4")
    return levels



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_pair_args(p)
    p.add_argument("--prompts", type=int, default=40, help="number of FIM prompts (default 40)")
    p.add_argument("--seed", type=int, default=None,
                   help="sample the prompts with this seed (default: the first N infill cases)")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--concurrency", type=parse_levels, default=[1, 4], help="levels, e.g. 1,4 (default)")
    p.add_argument("--repeats", type=int, default=1, help="passes over the prompt set per level")
    p.add_argument("--warmup", type=int, default=2, help="unmeasured requests per server first")
    p.add_argument("--no-postprocess", action="store_true",
                   help='send "codefill": {"postprocess": false} so both servers decode the same tokens')
    p.add_argument("--no-stream", action="store_true", help="non-streaming requests (no TTFT)")
    p.add_argument("--raw-stop-token-ids", default=",".join(map(str, QWEN_FIM_STOP_TOKEN_IDS)),
                   help="vLLM `stop_token_ids` for the raw server, or 'none'")
    p.add_argument("--request-timeout", type=float, default=300.0)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/DATE-overhead.json)")
    p.add_argument("--quiet", action="store_true")
    return p


@dataclass
class Sample:
    system: str
    concurrency: int
    batch: int
    case_id: str
    result: CompletionResult | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "system": self.system, "concurrency": self.concurrency, "batch": self.batch,
            "case_id": self.case_id, "error": self.error,
            "latency_s": None if r is None else round(r.latency_s, 5),
            "ttft_s": None if r is None or r.ttft_s is None else round(r.ttft_s, 5),
            "completion_tokens": None if r is None else r.completion_tokens,
            "prompt_tokens": None if r is None else r.prompt_tokens,
            "finish_reason": None if r is None else r.finish_reason,
            "text": None if r is None else r.text,
        }


def pct(values: list[float], q: float) -> float | None:
    """q-th percentile, linear interpolation between closest ranks."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def stats(samples: list[Sample], busy_s: float) -> dict[str, Any]:
    ok = [s.result for s in samples if s.result is not None]
    lat = [r.latency_s for r in ok]
    ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
    with_tokens = [r for r in ok if r.completion_tokens]
    per_token = [r.latency_s / r.completion_tokens for r in with_tokens]
    tpot = [(r.latency_s - r.ttft_s) / (r.completion_tokens - 1)
            for r in with_tokens if r.ttft_s is not None and r.completion_tokens > 1]
    tokens = sum(r.completion_tokens or 0 for r in ok)
    return {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "latency_p50_s": pct(lat, 50),
        "latency_p95_s": pct(lat, 95),
        "ttft_p50_s": pct(ttft, 50),
        "ttft_p95_s": pct(ttft, 95),
        "ms_per_token_p50": None if not per_token else 1000 * pct(per_token, 50),
        "tpot_p50_ms": None if not tpot else 1000 * pct(tpot, 50),
        "mean_completion_tokens": tokens / len(ok) if ok else None,
        "completion_tokens": tokens,
        "busy_s": busy_s,
        "tokens_per_s": tokens / busy_s if busy_s > 0 else None,
        "requests_per_s": len(ok) / busy_s if busy_s > 0 else None,
    }


RATIO_KEYS = ("latency_p50_s", "latency_p95_s", "ttft_p50_s", "ms_per_token_p50", "tpot_p50_ms", "tokens_per_s")


def ratios(cf: dict[str, Any], raw: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k in RATIO_KEYS:
        a, b = cf.get(k), raw.get(k)
        out[k] = a / b if a is not None and b else None
    return out


def _f(x: float | None, scale: float = 1.0, spec: str = ".1f") -> str:
    return "-" if x is None else format(x * scale, spec)


def markdown_table(result: dict[str, Any]) -> str:
    lines = [
        "| concurrency | server | latency p50 (ms) | latency p95 (ms) | TTFT p50 (ms) | ms/token p50 "
        "| TPOT p50 (ms) | tokens/s | mean tokens | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in result["levels"]:
        c = level["concurrency"]
        for name in SYSTEMS:
            s = level[name]
            lines.append(
                f"| {c} | {name} | {_f(s['latency_p50_s'], 1000)} | {_f(s['latency_p95_s'], 1000)} "
                f"| {_f(s['ttft_p50_s'], 1000)} | {_f(s['ms_per_token_p50'])} | {_f(s['tpot_p50_ms'])} "
                f"| {_f(s['tokens_per_s'])} | {_f(s['mean_completion_tokens'])} | {s['errors']} |"
            )
        r = level["ratio_codefill_over_raw"]
        lines.append(
            f"| {c} | **codefill/raw** | {_f(r['latency_p50_s'], 1, '.3f')} | {_f(r['latency_p95_s'], 1, '.3f')} "
            f"| {_f(r['ttft_p50_s'], 1, '.3f')} | {_f(r['ms_per_token_p50'], 1, '.3f')} "
            f"| {_f(r['tpot_p50_ms'], 1, '.3f')} | {_f(r['tokens_per_s'], 1, '.3f')} | | |"
        )
    lines.append("")
    lines.append(
        f"prompts: {result['settings']['prompts']}  ·  max_tokens: {result['settings']['max_tokens']}  ·  "
        f"postprocess: {'off' if result['settings']['no_postprocess'] else 'on'}  ·  "
        f"stream: {'no' if result['settings']['no_stream'] else 'yes'}  ·  "
        f"identical outputs: {result['identical_outputs']}/{result['compared_outputs']}  ·  "
        f"wall time: {result['wall_time_s']:.1f} s"
    )
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", SCRIPT, *argv])


def select_prompts(n: int, seed: int | None) -> list[InfillCase]:
    cases = build_cases()
    return cases[:n] if seed is None else select_cases(cases, n, seed)


async def run(args: argparse.Namespace, argv: list[str], log=print) -> dict[str, Any]:
    prompts = select_prompts(args.prompts, args.seed)
    stop_ids = parse_stop_ids(args.raw_stop_token_ids)
    stream = not args.no_stream
    cf_options = {"postprocess": False} if args.no_postprocess else None
    limits = httpx.Limits(max_connections=max(8, 2 * max(args.concurrency)))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        cf_model = args.codefill_model or await first_model(args.codefill_url, args.codefill_api_key, client=client)
        raw_model = args.raw_model or await first_model(args.raw_url, args.raw_api_key, client=client)
        cards = {}
        for name, url, key in (("codefill", args.codefill_url, args.codefill_api_key),
                               ("raw", args.raw_url, args.raw_api_key)):
            try:
                cards[name] = await list_models(url, key, client=client)
            except Exception as exc:  # noqa: BLE001 - informational only
                cards[name] = [{"error": str(exc)}]

        async def send(system: str, case: InfillCase) -> CompletionResult:
            if system == "codefill":
                return await complete_fim(args.codefill_url, cf_model, case.prefix, case.suffix, args.max_tokens,
                                          api_key=args.codefill_api_key, stream=stream, codefill=cf_options,
                                          client=client, timeout=args.request_timeout)
            return await complete_raw_fim(args.raw_url, raw_model, qwen_fim_prompt(case.prefix, case.suffix),
                                          args.max_tokens, api_key=args.raw_api_key, stream=stream,
                                          stop_token_ids=stop_ids, extra=RAW_NEUTRAL_SAMPLING,
                                          client=client, timeout=args.request_timeout)

        async def one(system: str, level: int, batch: int, case: InfillCase) -> Sample:
            try:
                return Sample(system, level, batch, case.case_id, await send(system, case))
            except Exception as exc:  # noqa: BLE001 - a failed request is counted, not fatal
                return Sample(system, level, batch, case.case_id, None, f"{type(exc).__name__}: {exc}")

        for i in range(args.warmup):
            for system in SYSTEMS:
                s = await one(system, 0, -1, prompts[i % len(prompts)])
                if s.error:
                    raise RuntimeError(f"warm-up request to {system} failed: {s.error}")

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        levels: list[dict[str, Any]] = []
        all_samples: list[Sample] = []
        work = prompts * max(1, args.repeats)
        for level in args.concurrency:
            samples: dict[str, list[Sample]] = {n: [] for n in SYSTEMS}
            busy = dict.fromkeys(SYSTEMS, 0.0)
            batches = [work[i:i + level] for i in range(0, len(work), level)]
            for b, batch in enumerate(batches):
                order = SYSTEMS if b % 2 == 0 else SYSTEMS[::-1]
                for system in order:
                    tb = time.perf_counter()
                    got = await asyncio.gather(*(one(system, level, b, case) for case in batch))
                    busy[system] += time.perf_counter() - tb
                    samples[system].extend(got)
            entry: dict[str, Any] = {"concurrency": level, "batches": len(batches)}
            for system in SYSTEMS:
                entry[system] = stats(samples[system], busy[system])
            entry["ratio_codefill_over_raw"] = ratios(entry["codefill"], entry["raw"])
            levels.append(entry)
            for system in SYSTEMS:
                all_samples.extend(samples[system])
            if not args.quiet:
                r = entry["ratio_codefill_over_raw"]
                log(f"concurrency {level}: latency p50 codefill {_f(entry['codefill']['latency_p50_s'], 1000)} ms, "
                    f"raw {_f(entry['raw']['latency_p50_s'], 1000)} ms (ratio {_f(r['latency_p50_s'], 1, '.3f')}); "
                    f"ms/token ratio {_f(r['ms_per_token_p50'], 1, '.3f')}")
        wall = time.monotonic() - t0

    # Same prompt, same level, both servers: did they produce the same text?
    by_key: dict[tuple, dict[str, Sample]] = {}
    for s in all_samples:
        by_key.setdefault((s.concurrency, s.batch, s.case_id), {})[s.system] = s
    pairs = [v for v in by_key.values() if all(v.get(n) and v[n].result for n in SYSTEMS)]
    identical = sum(v["codefill"].result.text == v["raw"].result.text for v in pairs)
    same_tokens = sum(v["codefill"].result.completion_tokens == v["raw"].result.completion_tokens for v in pairs)

    result: dict[str, Any] = {
        "benchmark": "codefill-overhead",
        "date": started.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "argv": argv,
        "servers": {
            "codefill": {"url": args.codefill_url, "model": cf_model, "models": cards["codefill"],
                         "codefill_field": cf_options},
            "raw": {"url": args.raw_url, "model": raw_model, "models": cards["raw"], "stop_token_ids": stop_ids,
                    **RAW_NEUTRAL_SAMPLING},
        },
        "settings": {
            "prompts": len(prompts), "seed": args.seed, "max_tokens": args.max_tokens,
            "concurrency": args.concurrency, "repeats": args.repeats, "warmup": args.warmup,
            "no_postprocess": args.no_postprocess, "no_stream": args.no_stream, "temperature": 0.0,
            "interleaving": "per batch of C concurrent requests, server order alternating A B / B A",
        },
        "prompt_case_ids": [c.case_id for c in prompts],
        "wall_time_s": round(wall, 2),
        "levels": levels,
        "compared_outputs": len(pairs),
        "identical_outputs": identical,
        "same_token_counts": same_tokens,
        "samples": [s.to_dict() for s in all_samples],
    }
    result["table_markdown"] = markdown_table(result)
    return result


def default_out(no_postprocess: bool) -> Path:
    tag = "-no-postprocess" if no_postprocess else ""
    return REPO / "benchmarks" / "results" / f"{_dt.date.today().isoformat()}-overhead{tag}.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(args, argv, log=lambda s: print(s, flush=True)))
    out = Path(args.out) if args.out else default_out(args.no_postprocess)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(result["table_markdown"])
    print(f"\nwrote {out}")
    return 0
