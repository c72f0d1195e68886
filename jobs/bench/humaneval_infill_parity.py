"""Quality parity: HumanEval single-line infilling, codefill vs raw vLLM, same model.

Both servers get the same cases in the same order, interleaved (each case is
sent to both servers back to back; which one goes first alternates from case
to case), greedy (temperature 0), `--max-tokens` tokens at most.

* codefill: `/v1/completions` with `prompt` = prefix and `suffix` = suffix, plus
  `"codefill": {"multiline": false}` (the middle is one line); codefill builds
  the FIM prompt, stops on the template's end tokens and post-processes. Its
  text is used as it comes.
* raw vLLM: `/v1/completions` with the hand-written Qwen2.5-Coder prompt
  `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>` and no suffix,
  with `stop_token_ids` = the same end tokens codefill's Qwen template stops
  on (`--raw-stop-token-ids none` to send none) and `repetition_penalty` 1.0
  (vLLM would otherwise take the model's generation_config defaults). A
  client driving raw vLLM does the minimal single-line post-processing
  itself: the completion is cut at its first newline (nothing else: no
  stripping, no skipping of a leading blank line). The cut is asked of the
  server as `stop: ["\n"]`, which yields exactly the text before the first
  newline without decoding tokens nobody uses; `first_line` is still applied
  client-side so the result does not depend on it.

Each filled-in program runs with the problem's tests (pass@1 with one greedy
sample); exact match compares stripped lines. See jobs/evaluation/infill.py for
how cases are built (1033 of them over the 164 problems).

    python benchmarks/humaneval_infill_parity.py --codefill-url http://127.0.0.1:8000 \
        --raw-url http://127.0.0.1:8001 [--limit 200 --seed 0] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from codefill.client.completions import (
    RAW_NEUTRAL_SAMPLING,
    add_server_pair_args,
    parse_stop_ids,
    QWEN_FIM_STOP_TOKEN_IDS,
    complete_fim,
    complete_raw_fim,
    first_model,
    list_models,
    qwen_fim_prompt,
)
from codefill.jobs.evaluation.infill import CaseRecord, Fill, Progress, evaluate_infill, first_line, summarize
from codefill.jobs.evaluation.infill_cases import InfillCase, build_cases, select_cases

# The checkout this package is installed from (editable): results go to its benchmarks/results.
REPO = Path(__file__).resolve().parents[2]
SCRIPT = "benchmarks/humaneval_infill_parity.py"  # the recorded command is the one typed from the root

SYSTEMS = ("codefill", "raw")




def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_pair_args(p)
    p.add_argument("--limit", type=int, default=None, help="evaluate a deterministic sample of N cases")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--concurrency", type=int, default=1, help="cases in flight at once (default 1)")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--raw-stop-token-ids", default=",".join(map(str, QWEN_FIM_STOP_TOKEN_IDS)),
                   help="vLLM `stop_token_ids` for the raw server, comma-separated, or 'none' "
                        "(default: Qwen2.5-Coder's FIM end tokens, as codefill's template)")
    p.add_argument("--exec-timeout", type=float, default=10.0, help="seconds per test program")
    p.add_argument("--exec-workers", type=int, default=2, help="test programs run at once")
    p.add_argument("--request-timeout", type=float, default=300.0)
    p.add_argument("--out", default=None,
                   help="JSON file (default benchmarks/results/DATE-humaneval-infill-parity.json)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def markdown_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    lines = [
        "| system | model | pass@1 | exact match | passed | errors | timeouts | latency p50 (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in SYSTEMS:
        m = s[name]
        lines.append(
            f"| {name} | {result['servers'][name]['model']} | {m['pass_at_1']:.3f} | {m['exact_match']:.3f} "
            f"| {m['passed']}/{m['cases']} | {m['errors']} | {m['timeouts']} | {_fmt(m['latency_p50_s'])} |"
        )
    lines.append("")
    lines.append(f"cases: {result['cases']} of {result['cases_total']}  ·  "
                 f"pass@1 codefill − raw: {result['delta_pass_at_1']:+.3f}  ·  "
                 f"wall time: {result['wall_time_s']:.1f} s")
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    """The command as it would be typed from the repository root."""
    return shlex.join(["python", SCRIPT, *argv])


async def run(args: argparse.Namespace, argv: list[str], log=print) -> dict[str, Any]:
    all_cases = build_cases()
    cases = select_cases(all_cases, args.limit, args.seed)
    stop_ids = parse_stop_ids(args.raw_stop_token_ids)
    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
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
        lens = {n: next((c.get("max_model_len") for c in cards[n] if c.get("max_model_len")), None) for n in cards}
        if lens["codefill"] and lens["raw"] and lens["codefill"] != lens["raw"]:
            log(f"warning: max_model_len differs: codefill {lens['codefill']}, raw {lens['raw']}")

        async def codefill(case: InfillCase) -> Fill:
            r = await complete_fim(args.codefill_url, cf_model, case.prefix, case.suffix, args.max_tokens,
                                   api_key=args.codefill_api_key, codefill={"multiline": False},
                                   client=client, timeout=args.request_timeout)
            return Fill(text=r.text, raw_text=r.text, latency_s=r.latency_s,
                        completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        async def raw(case: InfillCase) -> Fill:
            r = await complete_raw_fim(args.raw_url, raw_model, qwen_fim_prompt(case.prefix, case.suffix),
                                       args.max_tokens, stop=["\n"], api_key=args.raw_api_key,
                                       stop_token_ids=stop_ids,
                                       extra=RAW_NEUTRAL_SAMPLING, client=client,
                                       timeout=args.request_timeout)
            return Fill(text=first_line(r.text), raw_text=r.text, latency_s=r.latency_s,
                        completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        def on_progress(p: Progress, record: CaseRecord) -> None:
            if args.quiet:
                return
            cols = "  |  ".join(
                f"{n} pass@1 {p.pass_at_1(n):.3f} EM {p.exact_match_rate(n):.3f}"
                + (f" err {p.errors[n]}" if p.errors[n] else "")
                for n in SYSTEMS
            )
            log(f"[{p.done:>{len(str(p.total))}}/{p.total}] {cols}  |  {p.elapsed_s:.0f} s  ({record.case.case_id})")

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        records = await evaluate_infill(
            cases, {"codefill": codefill, "raw": raw},
            concurrency=args.concurrency, exec_timeout_s=args.exec_timeout,
            exec_workers=args.exec_workers, progress=on_progress,
        )
        wall = time.monotonic() - t0

    summary = summarize(records, SYSTEMS)
    result: dict[str, Any] = {
        "benchmark": "humaneval-single-line-infilling-parity",
        "date": started.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "argv": argv,
        "servers": {
            "codefill": {"url": args.codefill_url, "model": cf_model, "models": cards["codefill"],
                         "request": {"suffix": True, "codefill": {"multiline": False}}},
            "raw": {"url": args.raw_url, "model": raw_model, "models": cards["raw"],
                    "request": {"prompt": "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
                                "stop": ["\n"], "stop_token_ids": stop_ids, **RAW_NEUTRAL_SAMPLING,
                                "client_postprocess": "cut at first newline"}},
        },
        "settings": {
            "max_tokens": args.max_tokens, "temperature": 0.0, "limit": args.limit, "seed": args.seed,
            "concurrency": args.concurrency, "exec_timeout_s": args.exec_timeout,
        },
        "cases": len(records),
        "cases_total": len(all_cases),
        "wall_time_s": round(wall, 2),
        "summary": summary,
        "delta_pass_at_1": summary["codefill"]["pass_at_1"] - summary["raw"]["pass_at_1"],
        "results": [r.to_dict() for r in records],
    }
    result["table_markdown"] = markdown_table(result)
    return result


def default_out() -> Path:
    return REPO / "benchmarks" / "results" / f"{_dt.date.today().isoformat()}-humaneval-infill-parity.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(args, argv, log=lambda s: print(s, flush=True)))
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(result["table_markdown"])
    print(f"\nwrote {out}")
    return 0
