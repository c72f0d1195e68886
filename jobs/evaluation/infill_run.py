"""The work of `codefill eval humaneval-infill` (`codefill.commands.eval`): `run_eval`, which asks the server
(and with `--oracle` the best-line oracle) for every infilling case, runs the programs and returns the JSON report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from codefill.client.raw_fim import cut_at_markers, template_markers
from codefill.jobs.options import extra_body

SYSTEM = "server"  # the system evaluate_infill always drives
ORACLE = "oracle"  # --oracle: the best-line cut of the raw text
ORACLE_CUT = ("the first of its first 1, 2, ... lines, then the whole text, whose program passes; "
              "else the whole text")
DEFAULT_MAX_TOKENS = {"single-line": 64, "multi-line": 256}


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
    language = getattr(args, "language", "python")
    language = None if (language or "none").lower() == "none" else language
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
        request: dict[str, Any] = {"suffix": True, "codefill": codefill_fields(multiline, language)}
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
        oracle_request = {"suffix": True, "codefill": {**codefill_fields(multiline, language), "postprocess": False}}
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

        fill_suffix = suffix_filler(codefill_fields(multiline, language))
        # the raw text, cut by evaluate_infill
        fill_oracle = suffix_filler({**codefill_fields(multiline, language), "postprocess": False})

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


def codefill_fields(multiline: bool, language: str | None) -> dict[str, Any]:
    """The `codefill` object of each request: the mode, and the language as `codefill lsp`
    sends the document's (it turns on the rules that need one, such as `syntax`)."""
    fields: dict[str, Any] = {"multiline": multiline}
    if language is not None:
        fields["language"] = language
    return fields
