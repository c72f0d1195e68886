"""`codefill eval humaneval-infill`: HumanEval infilling pass@1 of a running server.

The cases are those of `codefill.jobs.evaluation.infill` (single-line: 1033, one per
non-blank solution line; multi-line: 5815, every span of solution lines whose
first and last lines are non-blank, as OpenAI's HumanEval-MultiLineInfilling).
Each case is completed greedily (temperature 0) through `/v1/completions`:

* default (codefill, or any server that takes OpenAI's `suffix`): `prompt` =
  prefix, `suffix` = suffix, and codefill's extension field
  `"codefill": {"multiline": <mode is multi-line>, "language": "python"}` (the
  language as `codefill lsp` sends it; `--language none` leaves it out, which also
  leaves out the rules that need one). The text is used as it comes.
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
`"codefill": {"multiline": <mode is multi-line>, "language": ..., "postprocess": false}`; with
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
import sys
from pathlib import Path

from codefill.commands.options import default_out
from codefill.jobs.evaluation.infill_report import markdown_report, summary_table
from codefill.jobs.evaluation.infill_run import run_eval
from codefill.jobs.evaluation.reports import run_and_report


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
    h.add_argument("--language", default="python", metavar="ID",
                   help="sent as \"codefill\": {\"language\": ID}, as codefill lsp sends the document's "
                        "language id (default python; 'none' sends none). Not with --raw-fim-template")
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

    from codefill.commands.eval_next_edit import add_next_edit_parser  # next-edit (held-out commits)

    add_next_edit_parser(bench)


def humaneval_infill_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out(f"eval-humaneval-infill-{args.mode}")
    report = run_and_report(args, "humaneval-infill", run_eval, out, markdown_report, summary_table)
    s = report["summary"]
    if s["cases"] and s["errors"] == s["cases"]:
        first = next(r["error"] for r in report["results"] if r["error"])
        print(f"codefill: error: every request failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
