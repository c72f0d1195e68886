"""`codefill eval fim`: multi-language fill-in-the-middle exact match and edit similarity of a running server.

The cases (`codefill.jobs.evaluation.fim`) come from real code we did not write, in Python,
JavaScript, TypeScript, Java, Go, Rust, C and C++: registry packages pinned by version
and sha256 (jobs/evaluation/fim_sources.json), downloaded once into `--data-dir`
(default $CODEFILL_HOME/fim; `codefill eval fim-prepare` does only that). `--sources DIR`
takes the files of a local folder instead, `--cases FILE` the cases `fim-prepare --out`
wrote. Five cursor layouts, each its own row: mid-line, line-start, line-end (the newline
after the cursor in the suffix), santacoder (santacoder-fim / "HumanEval-FIM": the prefix
without its final newline, the suffix without its leading one, the middle "\\n" + line)
and block (a statement or block body of several lines, chosen with tree-sitter).
`--limit` cases per language are spread over the layouts, drawn with `--seed`.

Each case is completed greedily (temperature 0) by one or more variants, back to back:

* `default`: `/v1/completions` with `prompt` = prefix and `suffix` = suffix (any server
  that takes OpenAI's `suffix`), and `"codefill": {"language": NAME}` as codefill lsp sends
  it (`--send-language off` leaves it out); `--postprocess off` adds `"codefill": {"postprocess":
  false}`, `--rules JSON` adds `"codefill": {"rules": JSON}` (per-rule switches, e.g.
  '{"closing_line": false}'); `--multiline hint` sends `"multiline": true` for block
  cases and false for the others (default: the server decides).
* `raw-NAME` (`--raw-fim-template NAME`; servers without `suffix`, e.g. vLLM's own):
  the FIM prompt built with codefill's template NAME and no `suffix`; the text is cut
  at the template's control/stop token strings, nothing else.
* `--compare`: default, postprocess-off and raw-NAME (qwen unless given) side by side
  (the raw variant at `--raw-url` when given); `--ablate`: default, each post-processing
  rule off in turn (`codefill.model.postprocess.RULES`), and postprocess-off.
* `--offline` (with `--ablate` or `--rules`): those rule sets are not requested: the rules
  run here, as the server runs them (`codefill.model.postprocess`), on the text postprocess-off got
  for the case, so the model writes each case once (plus the default's request) however
  many rule sets are compared. The server stops generating where its rules end the
  completion, which changes no text; their latencies and token counts are not measured.

Scores per language and layout: exact match (line layouts: stripped completion ==
stripped middle, as santacoder-fim compares; block: the same stripped non-blank lines),
Qwen's first-line rule for line layouts (the first line of the text, or the second when
it starts with a newline), edit similarity (1 - normalized Levenshtein), mean length,
empty rate. Progress goes to stderr (tqdm); the exact-match tables to stdout; the full
report to `--out` (JSON, default `eval-fim-<date>.json` in the current directory) and
the same name with `.md`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codefill.commands.options import comma_list, default_out
from codefill.jobs.evaluation.fim_report import markdown_report, summary_table
from codefill.jobs.evaluation.fim_run import DEFAULT_MAX_TOKENS, load_files, run_eval
from codefill.jobs.evaluation.reports import run_and_report


def _add_case_args(p: argparse.ArgumentParser) -> None:
    from codefill.jobs.evaluation import fim, fim_sources

    p.add_argument("--languages", type=comma_list, default=None,
                   help=f"comma-separated, of {','.join(fim_sources.LANGUAGES)} (default all)")
    p.add_argument("--layouts", type=comma_list, default=list(fim.LAYOUTS),
                   help=f"comma-separated, of {','.join(fim.LAYOUTS)} (default all)")
    p.add_argument("--limit", type=int, default=fim.DEFAULT_LIMIT,
                   help=f"cases per language, spread evenly over the layouts (default {fim.DEFAULT_LIMIT})")
    p.add_argument("--seed", type=int, default=0, help="which cases (default 0)")
    p.add_argument("--prefix-chars", type=int, default=fim.DEFAULT_PREFIX_CHARS, metavar="N",
                   help=f"keep the prefix's last whole lines within N characters (default {fim.DEFAULT_PREFIX_CHARS})")
    p.add_argument("--suffix-chars", type=int, default=fim.DEFAULT_SUFFIX_CHARS, metavar="N",
                   help=f"keep the suffix's first whole lines within N characters (default {fim.DEFAULT_SUFFIX_CHARS})")
    p.add_argument("--window-snap-lines", type=int, default=None, metavar="N",
                   help="start a clipped prefix where codefill lsp's window would start with --window-snap-lines N "
                        "(its first line on a multiple of the snap step; default: as clipped, as with N=1)")
    p.add_argument("--data-dir", default=None, help="downloaded packages and their files (default $CODEFILL_HOME/fim)")
    p.add_argument("--sources", default=None, metavar="DIR",
                   help="take the files of this folder instead of the pinned packages (language from the extension)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))


def add_fim_parsers(bench: argparse._SubParsersAction) -> None:
    """Register `codefill eval fim` and `codefill eval fim-prepare`."""
    from codefill.model.templates.fim import FIM_TEMPLATES

    h = bench.add_parser(
        "fim", help="multi-language FIM from pinned real code: exact match and edit similarity per language "
                    "and cursor layout",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000 (with or without /v1)")
    h.add_argument("--model", default=None, help="model name to request (default: the first of GET /v1/models)")
    h.add_argument("--api-key", default=None, help="sent as `Authorization: Bearer KEY`")
    _add_case_args(h)
    h.add_argument("--cases", default=None, metavar="FILE",
                   help="run the cases of this JSONL file (from `codefill eval fim-prepare --out`)")
    h.add_argument("--concurrency", type=int, default=1, help="cases in flight at once (default 1)")
    h.add_argument("--max-tokens", type=int, default=None,
                   help=f"most tokens per completion (default {DEFAULT_MAX_TOKENS['line']} for line layouts, "
                        f"{DEFAULT_MAX_TOKENS['block']} for block)")
    h.add_argument("--postprocess", choices=("on", "off"), default="on",
                   help="off sends \"codefill\": {\"postprocess\": false} (default on)")
    h.add_argument("--rules", default=None, metavar="JSON",
                   help="per-rule switches sent as \"codefill\": {\"rules\": JSON}, e.g. '{\"closing_line\": false}'")
    h.add_argument("--send-language", choices=("on", "off"), default="on",
                   help="on sends the file's language as \"codefill\": {\"language\": NAME} (a tree-sitter "
                        "grammar name, as codefill lsp does; it enables syntax-aware post-processing); "
                        "default on")
    h.add_argument("--multiline", choices=("auto", "hint"), default="auto",
                   help="hint: send \"multiline\": true for block cases, false for line cases (default auto: "
                        "the server decides)")
    h.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="build the FIM prompt client-side with codefill's template NAME "
                        f"({', '.join(sorted(FIM_TEMPLATES))}) and send it without `suffix`")
    h.add_argument("--raw-url", default=None, help="where the raw variant goes with --compare (default --url)")
    h.add_argument("--raw-model", default=None, help="model at --raw-url (default: the first it lists)")
    h.add_argument("--extra-body", default=None, metavar="JSON",
                   help="JSON object merged into every request body, e.g. '{\"repetition_penalty\": 1.0}'")
    h.add_argument("--raw-extra-body", default=None, metavar="JSON",
                   help="JSON object merged into the raw variant's requests (default with --raw-url: "
                        "repetition_penalty 1.0 and, for the qwen template, its end tokens as vLLM's "
                        "stop_token_ids)")
    h.add_argument("--compare", action="store_true",
                   help="run default, postprocess-off and raw-NAME (qwen unless --raw-fim-template) side by side")
    h.add_argument("--ablate", action="store_true",
                   help="run default, each post-processing rule off in turn, and postprocess-off")
    h.add_argument("--offline", action="store_true",
                   help="with --ablate or --rules: apply those rule sets here to postprocess-off's text instead "
                        "of requesting them (postprocess-off is added; default is still requested)")
    h.add_argument("--request-timeout", type=float, default=300.0, help="seconds per request (default 300)")
    h.add_argument("--out", default=None,
                   help="JSON report (default eval-fim-<date>.json in the current directory); the Markdown "
                        "report goes beside it with .md")
    h.set_defaults(func=fim_command)

    p = bench.add_parser(
        "fim-prepare", help="download and check the pinned sources of `eval fim`; optionally write its cases",
        description="Download the pinned packages of `codefill eval fim` (pip download, npm pack, apt-get "
                    "download), check their sha256, keep their files under --data-dir, and print what each "
                    "offers. With --out, write the cases `eval fim` would run (same arguments) as JSONL, for "
                    "`eval fim --cases`.",
    )
    _add_case_args(p)
    p.add_argument("--out", default=None, metavar="FILE", help="write the cases as JSONL")
    p.set_defaults(func=fim_prepare_command)


def fim_prepare_command(args: argparse.Namespace) -> int:
    from collections import Counter

    from codefill.jobs.evaluation import fim
    from codefill.jobs.evaluation.fim_report import sources_table

    files, data = load_files(args)
    print(sources_table(files, data))
    if "data_dir" in data:
        print(f"\nfiles under {data['data_dir']}/sources")
    if args.out:
        cases = fim.sample_cases(files, limit=args.limit, seed=args.seed, languages=args.languages,
                                 layouts=args.layouts, prefix_chars=args.prefix_chars,
                                 suffix_chars=args.suffix_chars)
        out = fim.write_cases(cases, Path(args.out))
        per = Counter(c.language for c in cases)
        print(f"wrote {len(cases)} cases ({', '.join(f'{k} {v}' for k, v in per.items())}) to {out}")
    return 0


def fim_command(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else default_out("eval-fim")
    report = run_and_report(args, "fim", run_eval, out, markdown_report, summary_table)
    failed = [v["name"] for v in report["variants"]
              if report["cases"] and report["summary"][v["name"]]["all"]["all"]["errors"] == report["cases"]]
    if failed:
        first = next(r[failed[0]]["error"] for r in report["results"] if r[failed[0]]["error"])
        print(f"codefill: error: every request of {', '.join(failed)} failed, e.g. {first}", file=sys.stderr)
        return 1
    return 0
