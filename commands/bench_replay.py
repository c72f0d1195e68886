"""`codefill bench replay`: real edits typed key by key, through the real `codefill lsp`
and through plain clients, against a real server.

Edit sessions come from consecutive released versions of PyPI and npm packages
(pinned by version and sha256 in jobs/bench/replay/histories.json; downloaded once
with pip / npm into $CODEFILL_HOME/replay): each block of lines a release added or
changed is typed back into the newer file. Keys go in at a human rhythm (60-250 ms
between keys, longer pauses after a line and after `(`, `.`, `:`; seeded), and at
every pause of at least the debounce the editor asks for a completion, cancelling
the request a newer one supersedes. A suggestion right to show that the user was
about to type is accepted (unless --no-accept); a stale or outdated one never is.

Clients, in one run, interleaved session by session (the first alternating):
codefill lsp (as a subprocess, over stdio); a plain client sending the last 2000 /
next 500 characters to /v1/completions with `suffix`; and with --raw-url, raw vLLM
with a FIM prompt built by the client. Reported per client: keystroke-to-suggestion
latency p50/p95/p99; requests, cancelled, empty, failed; acceptance (whole and first
line typed next, accepted characters per 100 typed, stale rate); the language
server's own counters (codefill.stats); and the engine's prefix-cache hit rate and
tokens prefilled per request from vLLM's counters on /metrics. Writes JSON (--out),
Markdown and a PNG plot beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import shlex
import sys
from pathlib import Path

from codefill.commands import options as cli_options
from codefill.jobs.bench.replay.histories import DEFAULT_MAX_CHARS, DEFAULT_MIN_CHARS
from codefill.jobs.bench.replay.typist import RHYTHMS

DEFAULT_LIMIT = 12
DEFAULT_DEBOUNCE_MS = 150  # codefill lsp's own default
DEFAULT_MAX_TOKENS = 128  # likewise


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="type real edits key by key through codefill lsp and plain clients",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the codefill server, e.g. http://127.0.0.1:8000")
    p.add_argument("--model", default=None, help="model at --url (default: the first it lists)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--clients", type=cli_options.comma_list, default=None,
                   help="which of codefill,plain,raw (default codefill,plain, and raw with --raw-url)")
    p.add_argument("--raw-url", default=None, metavar="URL",
                   help="raw vLLM (python -m vllm.entrypoints.openai.api_server), driven with a client-built prompt")
    p.add_argument("--raw-fim-template", default="qwen", metavar="NAME", help="its FIM template (default qwen)")
    p.add_argument("--raw-model", default=None)
    p.add_argument("--raw-extra-body", type=cli_options.json_object, default={}, metavar="JSON",
                   help="merged into every raw request (default sends the template's stop strings with "
                        "skip_special_tokens false and repetition_penalty 1)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"edit sessions (default {DEFAULT_LIMIT})")
    p.add_argument("--seed", type=int, default=0, help="which sessions, and the typing rhythm (default 0)")
    p.add_argument("--languages", type=cli_options.comma_list, default=None,
                   help="e.g. python,javascript (default all)")
    p.add_argument("--packages", type=cli_options.comma_list, default=None,
                   help="pinned histories to use (default all)")
    p.add_argument("--sessions-file", default=None, metavar="JSON",
                   help='edit sessions of your own instead: {"sessions": [{"path", "before", "text", "after"}]}')
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                   help=f"most characters typed per session (default {DEFAULT_MAX_CHARS})")
    p.add_argument("--min-chars", type=int, default=DEFAULT_MIN_CHARS,
                   help=f"least non-blank characters a session types (default {DEFAULT_MIN_CHARS})")
    p.add_argument("--cache-dir", default=None, help="downloaded histories (default $CODEFILL_HOME/replay)")
    p.add_argument("--rhythm", choices=RHYTHMS, default="human",
                   help="human: seeded 60-250 ms per key with pauses; constant: the middle of every range")
    p.add_argument("--typing-speed", type=_positive, default=1.0, help="2 types twice as fast (default 1)")
    p.add_argument("--debounce-ms", type=int, default=DEFAULT_DEBOUNCE_MS,
                   help="a pause this long makes the editor ask; also codefill lsp's --debounce-ms and the "
                        f"plain clients' wait before sending (default {DEFAULT_DEBOUNCE_MS})")
    p.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                   help=f"per completion, every client (default {DEFAULT_MAX_TOKENS})")
    p.add_argument("--no-accept", action="store_true", help="never accept: only count what would be accepted")
    p.add_argument("--lsp-arg", action="append", default=[], metavar="ARG",
                   help="passed to codefill lsp (repeatable), e.g. --lsp-arg=--context-tokens=1024")
    p.add_argument("--lsp-command", default=None,
                   help="the language server command line (default: this codefill's `lsp`)")
    p.add_argument("--request-timeout", type=float, default=15.0,
                   help="seconds a plain request may take, and the wait for the last answer (default 15)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured requests per server first (default 1)")
    p.add_argument("--out", default=None, help="JSON report; .md and .png go beside it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.set_defaults(func=replay_command)


def default_out(today: _dt.date | None = None) -> Path:
    return cli_options.default_out("replay", today)


def replay_command(args: argparse.Namespace) -> int:
    from codefill.jobs.bench.replay.report import summary_text, write_files
    from codefill.jobs.bench.replay.runner import run_replay

    argv = getattr(args, "argv", None)
    command = shlex.join(["codefill", *argv]) if argv is not None else "codefill bench replay"
    report, latencies = asyncio.run(run_replay(args, command))
    out = Path(args.out) if args.out else default_out()
    md, png = write_files(report, latencies, out)
    print(summary_text(report))
    print(f"\nwrote {out}\nwrote {md}\nwrote {png}")
    if all(f["requests"] and f["failed"] == f["requests"] for f in report["clients"].values()):
        print("codefill: error: every request failed", file=sys.stderr)
        return 1
    return 0
