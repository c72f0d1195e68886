"""`codefill eval humaneval-infill`: HumanEval infilling pass@1 of a running server.

The cases are those of `codefill.jobs.evaluation.infill` (single-line: 1033, one per
non-blank solution line; multi-line: 5815, every span of solution lines whose
first and last lines are non-blank, as OpenAI's HumanEval-MultiLineInfilling).
Each case is completed greedily (temperature 0) through `/v1/completions`:

* default (codefill, or any server that takes OpenAI's `suffix`): `prompt` =
  prefix, `suffix` = suffix, and codefill's extension field
  `"codefill": {"multiline": <mode is multi-line>}`. The text is used as it comes.
* `--raw-fim-template NAME` (servers without `suffix` support, e.g. vLLM's own
  OpenAI server): `prompt` = codefill's FIM template NAME built around the case
  (`get_fim_template(NAME).build(prefix, suffix).text`), no `suffix`, no
  `codefill` field. The client does the minimal post-processing itself: the
  text is cut at the first of the template's control/stop token strings, and,
  single-line, at its first newline (also asked of the server as `stop: ["\\n"]`).

Every filled-in program runs with the problem's tests in the sandbox of
model-written code (`codefill.jobs.sandbox`: bubblewrap, no network, read-only system,
uid 65534, limits; without bubblewrap the command refuses unless
`--unsafe-no-sandbox`): pass@1 with one greedy sample, plus exact match. A program
passes when it exits 0 after its last statement (an early `exit(0)` fails).

`--oracle` adds a second system to the same run, the best-line oracle: the
model's raw text of each case (default: the same request again with
`"codefill": {"multiline": <mode is multi-line>, "postprocess": false}`; with
`--raw-fim-template`: the raw request's own text, cut at the template's
control/stop tokens, no second request) is cut at line boundaries, its first 1
line, first 2 lines, ..., then the whole text, and each cut runs with the
case's tests in turn (in the same sandbox, within `--exec-workers`); the
oracle's answer is the first cut that passes, else the whole text (failing;
an empty or whitespace-only text fails). It reports pass@1, exact match and
the mean lines of its cuts beside the server's, an upper bound of what
cutting the raw text at a line can reach.

Progress goes to stderr (tqdm); the summary table to stdout; the full report to
`--out` (JSON, default `eval-humaneval-infill-<mode>-<date>.json` in the current
directory) and the same name with `.md`. With `--oracle` each result also
carries the oracle's outcome under `"oracle"`, and `"oracle"` at the top holds
its request and summary (`"summary"` stays the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from codefill.commands.options import default_out, extra_body
from codefill.jobs.evaluation.reports import command_block, fmt, md_cell, run_and_report
from codefill.client.raw_fim import cut_at_markers, template_markers

SYSTEM = "server"  # the system evaluate_infill always drives
ORACLE = "oracle"  # --oracle: the best-line cut of the raw text
ORACLE_CUT = ("the first of its first 1, 2, ... lines, then the whole text, whose program passes; "
              "else the whole text")
DEFAULT_MAX_TOKENS = {"single-line": 64, "multi-line": 256}


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    """Register `codefill eval` and its benchmarks on the top-level subparsers."""
    from codefill.jobs.evaluation.infill_cases import MODES
    from codefill.model.templates.fim import FIM_TEMPLATES

    p = sub.add_parser("eval", help="measure completion quality of a running server (HumanEval infilling, "
                                    "multi-language FIM, HumanEval and MBPP instruct)",
                       description="Evaluate a running OpenAI-compatible completion server.")
    bench = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    h = bench.add_parser(
        "humaneval-infill",
        help="HumanEval single-/multi-line infilling: pass@1 and exact match",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    h.add_argument("--model", default=None, help="model name to request (default: the first of GET /v1/models)")
    h.add_argument("--mode", choices=MODES, default="single-line",
                   help="single-line (1033 cases) or multi-line (5815 cases); default single-line")
    h.add_argument("--limit", type=int, default=None, help="evaluate a deterministic sample of N cases")
    h.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    h.add_argument("--concurrency", type=int, default=1, help="requests in flight at once (default 1)")
    h.add_argument("--max-tokens", type=int, default=None,
                   help="most tokens per completion (default 64 single-line, 256 multi-line)")
    h.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY`")
    h.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="build the FIM prompt client-side with codefill's template NAME "
                        f"({', '.join(sorted(FIM_TEMPLATES))}) and send it without `suffix`, "
                        "for servers that do not support `suffix`")
    h.add_argument("--extra-body", default=None, metavar="JSON",
                   help="JSON object merged into every request body, e.g. '{\"repetition_penalty\": 1.0}' "
                        "for vLLM's own server")
    h.add_argument("--oracle", action="store_true",
                   help="also score the best-line oracle: the model's raw text (a second request with "
                        "\"postprocess\": false; with --raw-fim-template the same request's text) cut at "
                        "the first line count whose program passes")
    h.add_argument("--exec-timeout", type=float, default=10.0, help="seconds per test program (default 10)")
    h.add_argument("--exec-workers", type=int, default=2, help="test programs run at once (default 2)")
    h.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run the filled-in programs WITHOUT the bubblewrap sandbox (they can then read and write "
                        "your files, use the network and start processes). Default: the sandbox, and a refusal "
                        "that says how to install bubblewrap where it is missing")
    h.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request (default 300)")
    h.add_argument("--out", default=None,
                   help="JSON report (default eval-humaneval-infill-<mode>-<date>.json in the current "
                        "directory); the Markdown report goes beside it with .md")
    h.add_argument("--quiet", action="store_true", help="no progress bar")
    h.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    h.set_defaults(func=humaneval_infill_command)

    from codefill.commands.eval_instruct import add_instruct_parsers  # humaneval, mbpp (chat)

    add_instruct_parsers(bench)

    from codefill.commands.eval_fim import add_fim_parsers  # fim, fim-prepare (multi-language FIM)

    add_fim_parsers(bench)


# --- the command -------------------------------------------------------------


async def run_eval(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the evaluation; return the JSON-able report."""
    import httpx
    from tqdm import tqdm

    from codefill.client.completions import CompletionResult, complete_fim, complete_raw_fim, first_model, list_models
    from codefill.jobs.evaluation.infill import CaseRecord, Fill, Progress, evaluate_infill, first_line, summarize
    from codefill.jobs.evaluation.infill_cases import InfillCase, build_cases, select_cases
    from codefill.jobs.sandbox import get_sandbox
    from codefill.model.templates.fim import get_fim_template

    mode: str = args.mode
    multiline = mode == "multi-line"
    max_tokens = args.max_tokens if args.max_tokens is not None else DEFAULT_MAX_TOKENS[mode]
    if max_tokens <= 0:
        raise ValueError("--max-tokens must be positive")
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")
    template = get_fim_template(args.raw_fim_template) if args.raw_fim_template else None
    extra = extra_body(args.extra_body)
    # The sandbox first: without one, nothing is asked of the server.
    sandbox = get_sandbox(unsafe_no_sandbox=getattr(args, "unsafe_no_sandbox", False))

    all_cases = build_cases(mode=mode)
    cases = select_cases(all_cases, args.limit, args.seed)

    if template is None:
        request: dict[str, Any] = {"suffix": True, "codefill": {"multiline": multiline}}
    else:
        markers = template_markers(template)
        request = {"prompt": template.build("{prefix}", "{suffix}").text, "fim_template": template.name,
                   "stop": ["\n"] if not multiline else None,
                   "client_postprocess": "cut at the template's control/stop tokens"
                                         + ("" if multiline else ", then at the first newline")}
    if extra:
        request["extra_body"] = extra
    oracle = bool(getattr(args, "oracle", False))
    oracle_request: dict[str, Any] | None = None
    if oracle and template is None:
        oracle_request = {"suffix": True, "codefill": {"multiline": multiline, "postprocess": False}}
        if extra:
            oracle_request["extra_body"] = extra
    elif oracle:
        oracle_request = {"same_request_as": SYSTEM, "text": "cut at the template's control/stop tokens"}
    if oracle_request is not None:
        oracle_request["cut"] = ORACLE_CUT

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        try:
            cards = await list_models(args.url, args.api_key, client=client)
        except Exception as exc:  # noqa: BLE001 - informational only
            cards = [{"error": str(exc)}]

        def suffix_filler(codefill: dict[str, Any]) -> Callable[[InfillCase], Awaitable[Fill]]:
            async def fill(case: InfillCase) -> Fill:
                r = await complete_fim(args.url, model, case.prefix, case.suffix, max_tokens,
                                       api_key=args.api_key, codefill=codefill, extra=extra,
                                       client=client, timeout=args.request_timeout)
                return Fill(text=r.text, raw_text=r.text, latency_s=r.latency_s,
                            completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

            return fill

        fill_suffix = suffix_filler({"multiline": multiline})
        fill_oracle = suffix_filler({"multiline": multiline, "postprocess": False})  # raw text, cut by evaluate_infill

        # --raw-fim-template --oracle: one request per case for both systems; the first of
        # them to ask sends it, the other awaits the same answer (or the same error).
        shared: dict[str, asyncio.Future[CompletionResult]] = {}

        async def raw_request(case: InfillCase) -> CompletionResult:
            assert template is not None
            def ask() -> Awaitable[CompletionResult]:
                return complete_raw_fim(
                    args.url, model, template.build(case.prefix, case.suffix).text, max_tokens,
                    stop=None if multiline else ["\n"], api_key=args.api_key, extra=extra, client=client,
                    timeout=args.request_timeout)

            if not oracle:
                return await ask()
            answer = shared.pop(case.case_id, None)
            if answer is None:  # the first of the two
                answer = shared[case.case_id] = asyncio.ensure_future(ask())
            return await asyncio.shield(answer)

        async def fill_raw(case: InfillCase) -> Fill:
            assert template is not None
            r = await raw_request(case)
            text = cut_at_markers(r.text, markers)
            if not multiline:
                text = first_line(text)
            return Fill(text=text, raw_text=r.text, latency_s=r.latency_s,
                        completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        async def fill_raw_oracle(case: InfillCase) -> Fill:
            r = await raw_request(case)
            return Fill(text=cut_at_markers(r.text, markers), raw_text=r.text, latency_s=r.latency_s,
                        completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        fillers = {SYSTEM: fill_suffix if template is None else fill_raw}
        if oracle:
            fillers[ORACLE] = fill_oracle if template is None else fill_raw_oracle

        bar = tqdm(total=len(cases), desc=f"humaneval-infill {mode}", unit="case", file=sys.stderr,
                   disable=args.quiet, dynamic_ncols=True)

        def on_progress(p: Progress, record: CaseRecord) -> None:
            bar.update(1)
            post = f"pass@1 {p.pass_at_1(SYSTEM):.3f} EM {p.exact_match_rate(SYSTEM):.3f}"
            if p.errors[SYSTEM]:
                post += f" errors {p.errors[SYSTEM]}"
            if oracle:
                post += f" · oracle pass@1 {p.pass_at_1(ORACLE):.3f}"
                if p.errors[ORACLE]:
                    post += f" errors {p.errors[ORACLE]}"
            bar.set_postfix_str(post, refresh=False)

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        try:
            records = await evaluate_infill(
                cases, fillers, concurrency=args.concurrency, exec_timeout_s=args.exec_timeout,
                exec_workers=args.exec_workers, progress=on_progress, sandbox=sandbox,
                oracles=(ORACLE,) if oracle else (),
            )
        finally:
            bar.close()
        wall = time.monotonic() - t0

    summaries = summarize(records, list(fillers))
    results = []
    for r in records:
        outcome = r.outcomes[SYSTEM].to_dict()
        first, last = r.case.span
        # the server's outcome at the top level (as before --oracle existed), the oracle's beside it
        results.append({"case_id": r.case.case_id, "lines": [first, last], "middle": r.case.middle, **outcome,
                        **({ORACLE: r.outcomes[ORACLE].to_dict()} if oracle else {})})
    return {
        "benchmark": f"humaneval-infill-{mode}",
        "mode": mode,
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "server": {"url": args.url, "model": model, "models": cards, "request": request},
        "settings": {
            "max_tokens": max_tokens, "temperature": 0.0, "limit": args.limit, "seed": args.seed,
            "concurrency": args.concurrency, "exec_timeout_s": args.exec_timeout,
            "exec_workers": args.exec_workers, "oracle": oracle, "sandbox": sandbox.describe(),
        },
        "cases": len(records),
        "cases_total": len(all_cases),
        "wall_time_s": round(wall, 2),
        "summary": summaries[SYSTEM],
        "oracle": {"request": oracle_request, "summary": summaries[ORACLE]} if oracle else None,
        "results": results,
    }


def _systems(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(via, summary) of each system in the report: the server, then the oracle when there is one."""
    request = report["server"]["request"]
    raw = "fim_template" in request
    systems = [(f"raw FIM prompt ({request['fim_template']})" if raw else "suffix", report["summary"])]
    if report.get("oracle"):
        how = f"raw FIM prompt ({request['fim_template']})" if raw else "postprocess off"
        systems.append((f"best-line oracle, {how}", report["oracle"]["summary"]))
    return systems


def summary_table(report: dict[str, Any]) -> str:
    systems = _systems(report)
    lines_col = len(systems) > 1  # with the oracle: the mean lines of each system's completions
    head = ("| mode | model | via | pass@1 | exact match | passed | errors | timeouts | latency p50 (s) "
            "| latency p95 (s) |")
    rule = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    if lines_col:
        head, rule = head + " mean lines |", rule + "---:|"
    rows = [head, rule]
    for how, s in systems:
        rows.append(
            f"| {report['mode']} | {report['server']['model']} | {how} | {s['pass_at_1']:.3f} | {s['exact_match']:.3f} "
            f"| {s['passed']}/{s['cases']} | {s['errors']} | {s['timeouts']} | {fmt(s['latency_p50_s'])} "
            f"| {fmt(s['latency_p95_s'])} |" + (f" {fmt(s.get('mean_lines'), '.2f')} |" if lines_col else ""))
    return "\n".join([
        *rows,
        "",
        f"cases: {report['cases']} of {report['cases_total']}  ·  wall time: {report['wall_time_s']:.1f} s",
    ])


def _oracle_cell(o: dict[str, Any]) -> str:
    if o["error"] is not None:
        return f"error: {md_cell(o['error'], 60)}"
    if o["passed"]:
        return f"passed, {o['cut_lines']} lines: `{md_cell(o['completion'], 80)}`"
    return f"{o['status']} ({o['programs_run']} cuts run)"


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    sample = "all cases" if st["limit"] is None else f"a sample of {st['limit']} (seed {st['seed']})"
    oracle = report.get("oracle")
    failed = [r for r in report["results"] if not r["passed"]]
    lines = [
        f"# HumanEval {report['mode']} infilling — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']}",
        f"- cases: {report['cases']} of {report['cases_total']} ({sample})",
        f"- greedy (temperature 0), max_tokens {st['max_tokens']}, concurrency {st['concurrency']}",
        f"- request: `{json.dumps(report['server']['request'], ensure_ascii=False)}`",
    ]
    if oracle:
        s = oracle["summary"]
        lines += [
            f"- best-line oracle: `{json.dumps(oracle['request'], ensure_ascii=False)}`; "
            f"mean lines of its cuts {fmt(s['mean_lines'], '.2f')} (passed: {fmt(s['mean_lines_passed'], '.2f')}), "
            f"{s['programs_run']} programs run",
        ]
    lines += [
        "",
        *command_block(report["command"]),
        "",
        summary_table(report),
        "",
    ]
    if failed:
        head, rule = "| case | status | completion |", "|---|---|---|"
        if oracle:
            head, rule = head + " oracle |", rule + "---|"
        lines += [f"## Not passed ({len(failed)})", "", head, rule]
        for r in failed:
            text = r["completion"] if r["error"] is None else f"error: {r['error']}"
            row = f"| {r['case_id']} | {r['status']} | `{md_cell(text)}` |"
            lines.append(row + (f" {_oracle_cell(r['oracle'])} |" if oracle else ""))
        lines.append("")
    lost = [r for r in report["results"] if oracle and r["passed"] and not r["oracle"]["passed"]]
    if lost:
        lines += [f"## Passed, but not by the oracle ({len(lost)})", "", "| case | completion | oracle |",
                  "|---|---|---|"]
        for r in lost:
            o = r["oracle"]
            raw = f"error: {o['error']}" if o["error"] is not None else o["completion"]
            lines.append(f"| {r['case_id']} | `{md_cell(r['completion'])}` | {o['status']}: `{md_cell(raw)}` |")
        lines.append("")
    return "\n".join(lines)


def humaneval_infill_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out(f"eval-humaneval-infill-{args.mode}")
    report = run_and_report(args, "humaneval-infill", run_eval, out, markdown_report, summary_table)
    s = report["summary"]
    if s["cases"] and s["errors"] == s["cases"]:
        first = next(r["error"] for r in report["results"] if r["error"])
        print(f"codefill: error: every request failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
