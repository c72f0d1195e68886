"""`codefill eval next-edit`: next-edit suggestions of a running server on a repository's held-out commits.

The cases come from the repository's git history (a bare clone works), split by commit as
`codefill train --next-edit` splits it: with the same `--seed` and `--holdout`, only commits
the adapter never saw are scored. After each of a commit's hunks (top to bottom), the window
at the cursor is asked to be rewritten; the target is the window with the commit's later hunks
in it applied, or unchanged when none lies there ("no edit" cases).

Each `--models` name is a variant (the base model and a `--lora` adapter of one server, side
by side); `--fim` adds plain FIM at the same cursors. Scores: window exact match (overall,
on edit and on no-edit cases), "no edit" accuracy, edit precision and recall, latency p50/p95
and the server's speculative draft acceptance. Progress goes to stderr; the table to stdout;
the report to `--out` (JSON, default `eval-next-edit-<date>.json`) and beside it with `.md`.
Rows are kept beside the report as they come (`<out>.partial.jsonl`): after a run that was cut
off, the same command asks only for the cases it is missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codefill.commands.options import comma_list, default_out
from codefill.jobs.evaluation.reports import run_and_report


def add_next_edit_parser(bench: argparse._SubParsersAction) -> None:
    from codefill.jobs.evaluation.next_edit import DEFAULT_LIMIT
    from codefill.jobs.next_edit_data.collect import DEFAULT_HOLDOUT, DEFAULT_MAX_COMMITS

    h = bench.add_parser(
        "next-edit", help="next-edit suggestions on a repository's held-out commits: window exact match, "
                          "no-edit accuracy, edit precision/recall, latency",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    h.add_argument("--repo", required=True, type=Path, help="the git repository whose history gives the cases")
    h.add_argument("--models", type=comma_list, default=None,
                   help="comma-separated model names to compare, e.g. the base and a --lora adapter "
                        "(default: the first of GET /v1/models)")
    h.add_argument("--fim", action="store_true", help="add plain FIM at the same cursors (first model)")
    h.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY`")
    h.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"cases (default {DEFAULT_LIMIT})")
    h.add_argument("--seed", type=int, default=0, help="the split and the sample (default 0, as codefill train)")
    h.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT,
                   help=f"share of commits held out (default {DEFAULT_HOLDOUT:g}, as codefill train; 1: every "
                        "commit, for a repository no adapter was trained on)")
    h.add_argument("--max-commits", type=int, default=DEFAULT_MAX_COMMITS,
                   help=f"newest commits read (default {DEFAULT_MAX_COMMITS}, as codefill train)")
    h.add_argument("--no-edit-share", type=float, default=None,
                   help="share of no-edit cases in the sample (default: as the history has them)")
    h.add_argument("--max-tokens", type=int, default=None, help="per request (default: the server's)")
    h.add_argument("--no-postprocess", dest="postprocess", action="store_false",
                   help="ask for the model's rewrite as it is, without the whitespace rule "
                        "(the input of benchmarks/next_edit_ablation.py)")
    h.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request (default 300)")
    h.add_argument("--out", default=None, help="JSON report (default eval-next-edit-<date>.json); .md beside it")
    h.add_argument("--quiet", action="store_true", help="no progress bar")
    h.set_defaults(func=next_edit_command)


def next_edit_command(args: argparse.Namespace) -> int:
    from codefill.jobs.evaluation.checkpoint import Checkpoint
    from codefill.jobs.evaluation.next_edit import run_eval
    from codefill.jobs.evaluation.next_edit_report import markdown_report, summary_table
    from codefill.jobs.next_edit_data.git_history import GitError

    if not 0 < args.holdout <= 1:
        print(f"codefill: error: --holdout must be in (0, 1], got {args.holdout}", file=sys.stderr)
        return 2
    if args.limit < 1:
        print(f"codefill: error: --limit must be at least 1, got {args.limit}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_out("eval-next-edit")
    args.out = str(out)  # run_eval keeps its rows beside it as they come (jobs/evaluation/checkpoint.py)
    try:
        report = run_and_report(args, "next-edit", run_eval, out, markdown_report, summary_table)
    except GitError as exc:
        print(f"codefill: error: {exc}", file=sys.stderr)
        return 2
    Checkpoint.done(out)
    if not report["cases"]:
        print(f"codefill: error: {args.repo} gave no held-out next-edit cases", file=sys.stderr)
        return 1
    failed = [v for v in report["variants"] if report["summary"][v]["errors"] == report["summary"][v]["cases"]]
    if failed:
        first = next(r[failed[0]]["error"] for r in report["cases"] if r[failed[0]]["error"])
        print(f"codefill: error: every request of {', '.join(failed)} failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
