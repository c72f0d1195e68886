"""Next-edit (or FIM) latency of two servers side by side: the same held-out cases, interleaved.

Two codefill servers on the same model and machine, differing in one setting (speculation on or
off, its sizes), get each case of a repository's history (as `codefill eval next-edit` builds
them) one after the other, the order alternating case by case, so both see the same machine load.
Per server: latency p50/p95, the speculative draft acceptance and the tokens each forward pass
gives (completion tokens over the passes they took: a figure the CPU's speed does not change), and how
many answers the two servers gave alike (greedy speculation must not change them). `--kind fim`
sends plain FIM at the same cursors instead (as `codefill eval next-edit --fim` does), for a
setting that must not cost completions what it gains next edits.

    codefill serve --port 8000 &  codefill serve --port 8001 --prompt-lookup-max 16 &
    python benchmarks/next_edit_speed.py --url http://127.0.0.1:8000 --url http://127.0.0.1:8001 \\
        --repo REPO --holdout 1 --limit 30 --out speed.json
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from codefill.jobs.bench.drafts import DRAFT_COUNTERS as COUNTERS
from codefill.jobs.evaluation.next_edit import nearest_rank
from codefill.jobs.evaluation.reports import command_block, fmt, write_reports


def figures(rows: list[dict[str, Any]], moved: dict[str, float], completion_tokens: int) -> dict[str, Any]:
    """One server's figures; `moved`: how far its draft counters went (empty: it has none)."""
    lat = [r["latency_s"] for r in rows if r["error"] is None]
    drafted, accepted = moved.get("draft_tokens"), moved.get("accepted_draft_tokens")
    # Each forward pass gives one token of its own and the drafts it accepts: a figure of the
    # drafting alone, which the machine's speed does not change.
    passes = completion_tokens - accepted if accepted is not None else None
    return {"cases": len(rows), "errors": len(rows) - len(lat),
            "latency_p50_s": statistics.median(lat) if lat else None, "latency_p95_s": nearest_rank(lat, 0.95),
            "latency_mean_s": statistics.fmean(lat) if lat else None,
            "completion_tokens": completion_tokens,
            "draft_acceptance": accepted / drafted if drafted else None,
            "tokens_per_pass": completion_tokens / passes if passes else None}


async def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from codefill.client.completions import first_model
    from codefill.jobs.bench.scrape import scrape
    from codefill.jobs.evaluation.next_edit import ask_fim, ask_next_edit, load_cases
    from tqdm import tqdm

    cases, collected = load_cases(args)
    urls = args.url
    async with httpx.AsyncClient(timeout=args.request_timeout) as http:
        model = args.model or await first_model(urls[0], args.api_key, client=http)
        before = [await scrape(http, u, args.api_key, COUNTERS) for u in urls]
        moved: list[dict[str, float]] = [{} for _ in urls]  # with --warm, the timed requests' alone

        async def ask(url: str, case: Any) -> tuple[dict[str, Any], int]:
            if args.kind == "fim":
                o = await ask_fim(http, url, case, model, api_key=args.api_key, max_tokens=args.max_tokens or 128)
            else:
                o = await ask_next_edit(http, url, case, model, api_key=args.api_key, max_tokens=args.max_tokens)
            return {"key": case.key, "latency_s": o.latency_s, "error": o.error, "window": o.window}, \
                o.completion_tokens

        rows: list[list[dict[str, Any]]] = [[] for _ in urls]
        tokens = [0 for _ in urls]
        t0 = time.time()
        for i, case in enumerate(tqdm(cases, desc="cases", unit="case", disable=args.quiet)):
            for k in (range(len(urls)) if i % 2 == 0 else reversed(range(len(urls)))):
                if args.warm:  # once untimed: the prompt is then in the prefix cache, the timed one decodes
                    await ask(urls[k], case)
                    before[k] = await scrape(http, urls[k], args.api_key, COUNTERS)
                row, used = await ask(urls[k], case)
                after_k = await scrape(http, urls[k], args.api_key, COUNTERS) if args.warm else None
                if before[k] and after_k:
                    moved[k] = {n: moved[k].get(n, 0.0) + after_k[n] - before[k].get(n, 0.0) for n in after_k}
                rows[k].append(row)
                tokens[k] += used
        if not args.warm:
            after = [await scrape(http, u, args.api_key, COUNTERS) for u in urls]
            moved = [{n: a[n] - b.get(n, 0.0) for n in a} if a and b else {} for a, b in zip(after, before)]
    same = sum(1 for a, b in zip(rows[0], rows[-1]) if a["window"] is not None and a["window"] == b["window"])
    servers = [{"url": u, **figures(rows[k], moved[k], tokens[k])} for k, u in enumerate(urls)]
    return {"command": command, "kind": args.kind, "warm": args.warm, "repo": str(args.repo), "seed": args.seed,
            "holdout": args.holdout, "model": model,
            "collected": collected, "wall_s": time.time() - t0, "servers": servers, "same_answers": same,
            "cases": [{"key": c.key, "kind": c.kind, **{f"server{k}": rows[k][i] for k in range(len(urls))}}
                      for i, c in enumerate(cases)]}


def markdown(out: dict[str, Any]) -> str:
    def f(v: float | None) -> str:
        return fmt(v, ".2f")
    kind = "FIM" if out["kind"] == "fim" else "Next-edit"
    lines = [f"# {kind} latency side by side: {out['repo']}", "", *command_block(out["command"]), "",
             f"- {len(out['cases'])} cases, model `{out['model']}`, interleaved (order alternating by case); "
             f"wall time {out['wall_s']:.0f} s",
             f"- answers alike on both servers: {out['same_answers']} of {len(out['cases'])}"
             + ("; timed with the prompt already in the prefix cache (--warm)" if out.get("warm") else ""), "",
             "| server | p50 (s) | p95 (s) | mean (s) | completion tokens | draft acceptance | tokens per pass "
             "| errors |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for s in out["servers"]:
        lines.append(f"| {s['url']} | {f(s['latency_p50_s'])} | {f(s['latency_p95_s'])} | {f(s['latency_mean_s'])} "
                     f"| {s['completion_tokens']} | {f(s['draft_acceptance'])} | {f(s['tokens_per_pass'])} "
                     f"| {s['errors']} |")
    a, b = out["servers"][0], out["servers"][-1]
    if len(out["servers"]) > 1 and a["latency_p50_s"] and b["latency_p50_s"]:
        lines += ["", f"- p50 ratio (last / first): {b['latency_p50_s'] / a['latency_p50_s']:.2f}; "
                      f"mean ratio: {b['latency_mean_s'] / a['latency_mean_s']:.2f}"]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from codefill.jobs.next_edit_data.collect import (
        DEFAULT_HOLDOUT,
        DEFAULT_MAX_COMMITS,
    )

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", action="append", required=True,
                   help="a codefill server (repeat: the first is the baseline, the ratios are the last's over it)")
    p.add_argument("--kind", choices=("next-edit", "fim"), default="next-edit",
                   help="next-edit requests (default), or plain FIM at the same cursors")
    p.add_argument("--warm", action="store_true",
                   help="send each request once untimed first, so the timed one finds its prompt in the prefix "
                        "cache: decoding alone")
    p.add_argument("--repo", required=True, type=Path, help="the git repository whose history gives the cases")
    p.add_argument("--model", default=None, help="model name (default: the first server's first)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--limit", type=int, default=30, help="cases (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT,
                   help="share of commits held out (1: every commit, for a repository no adapter saw)")
    p.add_argument("--max-commits", type=int, default=DEFAULT_MAX_COMMITS)
    p.add_argument("--no-edit-share", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--request-timeout", type=float, default=300.0)
    p.add_argument("--out", required=True, help="JSON report; the Markdown goes beside it with .md")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = "python benchmarks/next_edit_speed.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    out = asyncio.run(run(args, command))
    if not out["cases"]:
        print(f"error: {args.repo} gave no next-edit cases", file=sys.stderr)
        return 1
    md = markdown(out)
    write_reports(out, Path(args.out), md)
    print(md)
    return 0


__all__ = ["figures", "main", "markdown", "run"]
