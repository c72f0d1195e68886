"""Cross-file completion quality: exact match with vs without `codefill lsp`'s cross-file context.

The project is a real multi-file Python package installed from PyPI (default `mcp`: see
`DEFAULT_PACKAGE`). Its modules are copied into a temporary workspace laid out like a checkout
(`WORKSPACE/<package>/<package>/...`, so `repo_name` is the package name and paths read
`mcp/server/session.py`).

Cases. With `ast`, every call whose callee is a function or class defined at the top level of
ANOTHER module of the package, reached through the calling module's module-level imports
(`from .x import f`, `from pkg.x import f as g`, `from . import x; x.f(...)`,
`import pkg.x as y; y.f(...)`, following re-exports such as `from .x import f` in an
`__init__.py` to the module that really defines `f`). One case per line (its leftmost such
call). The cursor goes right before the callee expression (`f` or `y.f`); the middle is the
rest of that line. The document the context engine sees is the file with that rest removed
(the line ends at the cursor, every other line is kept), as while the user types it; only this
file is open, the engine reads the imported workspace files from disk. A deterministic sample
of `--limit` cases (seeded) is taken round-robin over files, so it spreads across the package.

Each case is asked twice of a codefill server (`/v1/completions`, greedy, single line):
WITH `files` = the context engine's cross-file pieces, and WITHOUT (`files: []`), the same
prefix, suffix, path and repo_name otherwise. Scores:

* exact match: the completion, trailing whitespace stripped, equals the middle (same);
* callee correct: the completion starts with the callee expression (`f` / `y.f`) followed by
  a character that cannot continue the name;
* definition in context: a cross-file piece from the defining module holds `def f` / `class f`.

Rates are over the cases where both requests were answered (failed requests are counted apart);
after `--max-errors` failures the rest are skipped, and `--resume` reuses an earlier run's answers.
`--raw-fim-template qwen` drives a server without `suffix` (vLLM's own) the way `codefill lsp`'s
raw_fim_template setting does: the prompt codefill would build is built here (`render_prompt`),
sent with `stop: ["\n"]` and the template's end tokens as `stop_token_ids`.

    python benchmarks/crossfile_quality.py --url http://127.0.0.1:8000 [--limit 60 --seed 0]
        [--concurrency 2] [--package mcp] [--budget-tokens 2048 --crossfile-budget-tokens 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as _dt
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from codefill.lsp.context import CompletionContext, ContextBuilder, render_prompt
from codefill.lsp.documents import DocumentStore
from codefill.client.completions import (
    QWEN_FIM_STOP_TOKEN_IDS,
    RAW_NEUTRAL_SAMPLING,
    CompletionResult,
    complete_fim,
    complete_raw_fim,
    first_model,
    list_models,
    parse_stop_ids,
)
from codefill.jobs.bench.crossfile_cases import (
    Case,
    copy_package,
    extract_cases,
    package_source,
    package_version,
    sample_cases,
)
from codefill.jobs.bench.crossfile_scoring import (
    CONDITIONS,
    CaseResult,
    Outcome,
    build_context,
    callee_correct,
    definition_shown,
    exact_match,
    markdown_table,
    previous_outcomes,
    summarize,
)

# The checkout this package is installed from (editable): results go to its benchmarks/results.
REPO = Path(__file__).resolve().parents[2]
SCRIPT = "benchmarks/crossfile_quality.py"  # the recorded command is the one typed from the root

# mcp (the Model Context Protocol SDK, pure Python): 120 hand-written modules (client, server,
# shared, auth, cli) with hundreds of calls between them. Its first release (November 2024) came
# after Qwen2.5-Coder's training data was collected, and 2.x is newer still, so the model cannot
# have memorised these lines. (pygls 2.x and datasketch give under 50 cases; cattrs, rich and
# httpx are old enough to be in the training data.) It comes with vLLM (mcp is a dependency of
# vllm, anthropic and huggingface_hub), so it is installed wherever codefill serves.
DEFAULT_PACKAGE = "mcp"


# --- running ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000", help="codefill server")
    p.add_argument("--model", default=None, help="default: the first model the server lists")
    p.add_argument("--api-key", default=None)
    p.add_argument("--package", default=DEFAULT_PACKAGE, help="import name of an installed package")
    p.add_argument("--limit", type=int, default=100, help="cases to run (default 100; 0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=2, help="cases (so requests) in flight at once")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--budget-tokens", type=int, default=2048, help="ContextBuilder local window budget")
    p.add_argument("--crossfile-budget-tokens", type=int, default=1024, help="ContextBuilder cross-file budget")
    p.add_argument("--raw-fim-template", default=None, metavar="NAME",
                   help="for a server without `suffix` (vLLM's own): build the prompt here with this codefill "
                        "template, as `codefill lsp` does with its raw_fim_template setting (e.g. qwen)")
    p.add_argument("--raw-stop-token-ids", default=",".join(map(str, QWEN_FIM_STOP_TOKEN_IDS)),
                   help="vLLM `stop_token_ids` sent with --raw-fim-template, comma-separated, or 'none' "
                        "(default: Qwen2.5-Coder's FIM end tokens, as codefill's template)")
    p.add_argument("--request-timeout", type=float, default=600.0)
    p.add_argument("--max-errors", type=int, default=5,
                   help="after this many failed requests the rest are skipped, not sent (default 5)")
    p.add_argument("--resume", default=None, metavar="JSON",
                   help="reuse the answered requests of an earlier run's JSON (same contexts, model, max_tokens)")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/DATE-crossfile-quality.json);"
                                               " the Markdown table goes next to it (.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", SCRIPT, *argv])


async def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    source = package_source(args.package)
    version = package_version(args.package)
    with tempfile.TemporaryDirectory(prefix="codefill-crossfile-") as tmp:
        # A checkout-like layout: WORKSPACE/<pkg>/<pkg>/...; the workspace folder is named after it.
        workspace = Path(tmp) / args.package
        copy_package(source, workspace, args.package)
        modules = sum(1 for _ in workspace.rglob("*.py"))
        all_cases = extract_cases(workspace, args.package)
        cases = sample_cases(all_cases, args.limit or None, args.seed)
        builder = ContextBuilder(DocumentStore([str(workspace)]), budget_tokens=args.budget_tokens,
                                 crossfile_budget_tokens=args.crossfile_budget_tokens)
        # Contexts are built up front (milliseconds each) while the workspace exists.
        contexts = [build_context(builder, workspace, case) for case in cases]

    limits = httpx.Limits(max_connections=max(4, 2 * args.concurrency))
    async with httpx.AsyncClient(timeout=args.request_timeout, limits=limits) as client:
        model = args.model or await first_model(args.url, args.api_key, client=client)
        cards = await list_models(args.url, args.api_key, client=client)
        semaphore = asyncio.Semaphore(max(1, args.concurrency))
        reused = previous_outcomes(args.resume, model, args.max_tokens)
        stop_ids = parse_stop_ids(args.raw_stop_token_ids)

        async def complete(ctx: CompletionContext) -> CompletionResult:
            if args.raw_fim_template:
                # The same prompt codefill's server would build; the client cuts at the newline.
                r = await complete_raw_fim(args.url, model, render_prompt(ctx, args.raw_fim_template),
                                           args.max_tokens, stop=["\n"], api_key=args.api_key,
                                           stop_token_ids=stop_ids, extra=RAW_NEUTRAL_SAMPLING, client=client,
                                           timeout=args.request_timeout)
                return dataclasses.replace(r, text=r.text.split("\n", 1)[0].rstrip())
            files = [{"path": p, "content": c} for p, c in ctx.files]
            codefill = {"multiline": False, "path": ctx.path, "repo_name": ctx.repo_name, "files": files}
            return await complete_fim(args.url, model, ctx.prefix, ctx.suffix, args.max_tokens, stop=["\n"],
                                      api_key=args.api_key, codefill=codefill, client=client,
                                      timeout=args.request_timeout)
        failures = reuses = 0

        async def ask(case: Case, ctx: CompletionContext, condition: str) -> Outcome:
            nonlocal failures, reuses
            earlier = reused.get((ctx.key, condition))
            if earlier is not None:
                reuses += 1
                return earlier
            if condition == "without":
                ctx = dataclasses.replace(ctx, files=())
            if failures > args.max_errors:
                # The server is likely gone (an engine that died answers 503 to everything).
                return Outcome(error="skipped: too many failed requests")
            try:
                r = await complete(ctx)
            except Exception as exc:  # noqa: BLE001 - recorded; the case is left out of the scores
                failures += 1
                return Outcome(error=f"{type(exc).__name__}: {exc}")
            return Outcome(completion=r.text, exact_match=exact_match(r.text, case.middle),
                           callee_correct=callee_correct(r.text, case.callee),
                           prompt_tokens=r.prompt_tokens, latency_s=round(r.latency_s, 3))

        progress = None
        if not args.quiet:
            from tqdm import tqdm

            progress = tqdm(total=2 * len(cases), desc="requests", unit="req", file=sys.stderr)

        async def one(i: int, case: Case, ctx: CompletionContext) -> CaseResult:
            # Alternate which condition goes first: prefix caching then favours neither.
            order = CONDITIONS if i % 2 == 0 else CONDITIONS[::-1]
            outcomes: dict[str, Outcome] = {}
            # `--concurrency` cases in flight, each sending its two requests back to back: a run cut
            # short (a server that dies) still leaves whole pairs, and both see the same server load.
            async with semaphore:
                for condition in order:
                    outcomes[condition] = await ask(case, ctx, condition)
                    if progress is not None:
                        progress.update(1)
            return CaseResult(case, ctx.key, definition_shown(case, ctx.files), [p for p, _ in ctx.files],
                              sum(len(c) for _, c in ctx.files), {c: outcomes[c] for c in CONDITIONS})

        started = _dt.datetime.now().astimezone()
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(i, c, x) for i, (c, x) in enumerate(zip(cases, contexts))))
        wall = time.monotonic() - t0
        if progress is not None:
            progress.close()

    result: dict[str, Any] = {
        "benchmark": "crossfile-quality",
        "date": started.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "package": {"name": args.package, "version": version, "source": str(source), "modules": modules},
        "server": {"url": args.url, "model": model, "models": cards,
                   "request": ({"raw_fim_template": args.raw_fim_template, "stop": ["\n"], "stop_token_ids": stop_ids,
                                **RAW_NEUTRAL_SAMPLING, "client_postprocess": "cut at first newline, rstrip"}
                               if args.raw_fim_template else {"suffix": True, "codefill": {"multiline": False}})},
        "settings": {"limit": args.limit, "seed": args.seed, "concurrency": args.concurrency,
                     "max_tokens": args.max_tokens, "temperature": 0.0, "stop": ["\n"],
                     "raw_fim_template": args.raw_fim_template, "budget_tokens": args.budget_tokens,
                     "crossfile_budget_tokens": args.crossfile_budget_tokens,
                     "cursor": "right before the callee expression; middle = rest of the line"},
        "cases_total": len(all_cases),
        "requests_reused": reuses,
        "files_with_cases": len({c.file for c in all_cases}),
        "files_sampled": len({c.file for c in cases}),
        "wall_time_s": round(wall, 1),
        "summary": summarize(results),
        "results": [r.to_dict() for r in results],
    }
    result["table_markdown"] = markdown_table(result)
    return result


def default_out() -> Path:
    return REPO / "benchmarks" / "results" / f"{_dt.date.today().isoformat()}-crossfile-quality.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    result = asyncio.run(run(args, argv))
    out = Path(args.out) if args.out else default_out()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    table = f"`{result['command']}`\n\n{result['table_markdown']}\n"
    out.with_suffix(".md").write_text(table, encoding="utf-8")
    print()
    print(result["table_markdown"])
    print(f"\nwrote {out} and {out.with_suffix('.md').name}")
    return 0
