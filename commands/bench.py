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
import datetime as _dt
import shlex
import sys
from pathlib import Path

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


def bench_command(args: argparse.Namespace) -> int:
    from codefill.jobs.bench.report import summary_text, write_files
    from codefill.jobs.bench.runner import run_bench

    if args.url is None:
        args.bench_parser.error("the following arguments are required: --url")

    argv = getattr(args, "argv", None)
    command = shlex.join(["codefill", *argv]) if argv is not None else "codefill bench"
    report = asyncio.run(run_bench(args, command))
    out = Path(args.out) if args.out else default_out()
    md, png = write_files(report, out)
    print(summary_text(report))
    print(f"\nwrote {out}\nwrote {md}\nwrote {png}")
    names = report["server_names"]
    ok = any(lv[n]["errors"] < lv[n]["requests"] for lv in report["levels"] for n in names)
    if not ok:
        print("codefill: error: every request failed", file=sys.stderr)
        return 1
    return 0
