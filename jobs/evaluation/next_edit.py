"""`codefill eval next-edit`: next-edit suggestions of a running server scored on a repository's
held-out commits (`codefill.jobs.next_edit_data`), next to plain FIM at the same cursors.

Each case is one request, sent the way `codefill lsp` sends it (the 21-line window at the
cursor, the recent edits as unified diffs, workspace-relative path, UTF-16 cursor), greedy.
Scores, per variant (a model name, e.g. the base model and a `--lora` adapter, or `fim`):

- window exact match: the rewritten window equals the one the commit made;
- edit precision and recall: the edits returned (`model/next_edit_edits.py`, as an editor
  applies them) against the edits that turn the window into the target, counted over all cases;
- "no edit" accuracy: on the cases where nothing in the window should change, the share
  answered with no edit; and edit rate on the cases with an edit;
- latency p50/p95 per request, and the server's speculative draft acceptance over the variant.

`fim` asks `/v1/completions` with the document before and after the cursor (the LSP's window
sizes) and inserts the answer at the cursor: what a completion-only editor would show there.
Variants run one after another, never interleaved, so the draft counters belong to one variant.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from codefill.client.completions import complete_fim, first_model
from codefill.client.next_edit import NextEditBody, NextEditError, request_next_edit
from codefill.jobs.evaluation.checkpoint import Checkpoint
from codefill.jobs.next_edit_data.cases import NO_EDIT, NextEditCase
from codefill.jobs.next_edit_data.collect import HELD_OUT, collect_cases, sample
from codefill.model.next_edit_edits import TextEdit, compute_edits, split_lines
from codefill.model.utf16 import utf16_len

FIM = "fim"
FIM_PREFIX_CHARS = 4000  # about what codefill lsp's window sends before and after the cursor
FIM_SUFFIX_CHARS = 2000
DEFAULT_LIMIT = 100


@dataclass
class Outcome:
    window: str | None  # the rewritten window; None when the request failed
    edits: list[tuple[int, int, int, int, str]]
    latency_s: float
    error: str | None = None
    completion_tokens: int = 0


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of `values` by nearest rank; None for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else None


def edit_key(e: TextEdit) -> tuple[int, int, int, int, str]:
    return (e.start.line, e.start.character, e.end.line, e.end.character, e.text)


def _answer_edits(answer: dict[str, Any]) -> list[tuple[int, int, int, int, str]]:
    out = []
    for e in answer.get("edits", []):
        r = e["range"]
        out.append((r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"], e["text"]))
    return out


def body_for(case: NextEditCase, model: str, max_tokens: int | None, postprocess: bool = True) -> NextEditBody:
    line = split_lines(case.window)[case.cursor_line - case.start_line].rstrip("\r\n") if case.window else ""
    return NextEditBody(model=model, window=case.window, start_line=case.start_line, cursor_line=case.cursor_line,
                        cursor_character=utf16_len(line[:case.cursor_character]), path=case.path,
                        language=case.language, events=list(case.events), max_tokens=max_tokens, temperature=0.0,
                        extra={} if postprocess else {"postprocess": False})


async def ask_next_edit(http: httpx.AsyncClient, url: str, case: NextEditCase, model: str, *,
                        api_key: str | None, max_tokens: int | None, postprocess: bool = True) -> Outcome:
    t0 = time.perf_counter()
    try:
        answer = await request_next_edit(http, url, body_for(case, model, max_tokens, postprocess), api_key)
    except (NextEditError, httpx.HTTPError) as exc:
        return Outcome(None, [], time.perf_counter() - t0, error=str(exc) or type(exc).__name__)
    return Outcome(answer["window"]["text"], _answer_edits(answer), time.perf_counter() - t0,
                   completion_tokens=(answer.get("usage") or {}).get("completion_tokens") or 0)  # usage is optional


async def ask_fim(http: httpx.AsyncClient, url: str, case: NextEditCase, model: str, *,
                  api_key: str | None, max_tokens: int = 128) -> Outcome:
    t0 = time.perf_counter()
    try:
        result = await complete_fim(url, model, case.prefix[-FIM_PREFIX_CHARS:], case.suffix[:FIM_SUFFIX_CHARS],
                                    max_tokens=max_tokens, api_key=api_key, client=http,
                                    codefill={"language": case.language, "path": case.path})
    except Exception as exc:  # noqa: BLE001 - a failed request is scored as an error, the run goes on
        return Outcome(None, [], time.perf_counter() - t0, error=str(exc) or type(exc).__name__)
    offset = len(case.prefix) - _window_start(case)  # the cursor in the window
    window = case.window[:offset] + result.text + case.window[offset:]
    edits = [edit_key(e) for e in compute_edits(case.window, window, case.start_line)]
    return Outcome(window if edits else case.window, edits, time.perf_counter() - t0,
                   completion_tokens=result.completion_tokens or 0)


def _window_start(case: NextEditCase) -> int:
    """The window's first character in the document."""
    lines = split_lines(case.prefix)
    return sum(len(s) for s in lines[:case.start_line])


def score(case: NextEditCase, outcome: Outcome) -> dict[str, Any]:
    target = {edit_key(e) for e in compute_edits(case.window, case.target, case.start_line)}
    got = set(outcome.edits)
    return {"exact": outcome.window is not None and outcome.window == case.target,
            "no_edit": not outcome.edits, "predicted": len(got), "expected": len(target),
            "correct": len(got & target), "latency_s": outcome.latency_s, "error": outcome.error,
            "window": outcome.window}


def summarize(cases: Sequence[NextEditCase], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def share(flags: list[bool]) -> float | None:
        return sum(flags) / len(flags) if flags else None
    quiet = [s for c, s in zip(cases, scores) if c.kind == NO_EDIT]
    edits = [s for c, s in zip(cases, scores) if c.kind != NO_EDIT]
    predicted, expected = sum(s["predicted"] for s in scores), sum(s["expected"] for s in scores)
    correct = sum(s["correct"] for s in scores)
    lat = sorted(s["latency_s"] for s in scores if s["error"] is None)
    return {
        "cases": len(scores), "errors": sum(1 for s in scores if s["error"]),
        "exact_match": share([s["exact"] for s in scores]),
        "exact_match_edit": share([s["exact"] for s in edits]),
        "exact_match_no_edit": share([s["exact"] for s in quiet]),
        "no_edit_accuracy": share([s["no_edit"] for s in quiet]),
        "edit_rate_on_edits": share([not s["no_edit"] for s in edits]),
        "edit_precision": correct / predicted if predicted else None,
        "edit_recall": correct / expected if expected else None,
        "latency_p50_s": statistics.median(lat) if lat else None,
        "latency_p95_s": nearest_rank(lat, 0.95),
        "edit_cases": len(edits), "no_edit_cases": len(quiet),
    }


def load_cases(args: argparse.Namespace) -> tuple[list[NextEditCase], dict[str, Any]]:
    collected = collect_cases(args.repo, holdout=args.holdout, seed=args.seed, max_commits=args.max_commits,
                              which=HELD_OUT if args.holdout < 1 else "all", show_progress=not args.quiet)
    pool = collected.held_out if args.holdout < 1 else collected.train + collected.held_out
    cases = sample(pool, args.limit, args.seed, no_edit_share=args.no_edit_share)
    return cases, collected.report()


async def run_eval(args: argparse.Namespace, command: str) -> dict[str, Any]:
    from tqdm import tqdm

    from codefill.jobs.bench.drafts import add_round, draft_figures, read_draft_counts

    cases, collected = load_cases(args)
    async with httpx.AsyncClient(timeout=args.request_timeout) as http:
        models = args.models or [await first_model(args.url, args.api_key, client=http)]
        variants = list(models) + ([FIM] if args.fim else [])
        # Rows on disk as they come: the same command after a cut-off run asks only for the rest.
        checkpoint = Checkpoint(Path(args.out), {
            "repo": str(args.repo), "seed": args.seed, "holdout": args.holdout, "limit": args.limit,
            "max_commits": args.max_commits, "no_edit_share": args.no_edit_share, "max_tokens": args.max_tokens,
            "postprocess": args.postprocess, "variants": variants}) if args.out else None
        results: dict[str, list[dict[str, Any]]] = {}
        drafts: dict[str, dict[str, float | None]] = {}
        t0 = time.time()
        for variant in variants:
            before = await read_draft_counts(args.url, args.api_key, http)
            rows = []
            for i, case in enumerate(tqdm(cases, desc=variant, unit="case", disable=args.quiet)):
                key = f"{i}:{case.key}"
                kept = checkpoint.get(variant, key) if checkpoint else None
                if kept is not None:
                    rows.append(kept)
                    continue
                if variant == FIM:
                    outcome = await ask_fim(http, args.url, case, models[0], api_key=args.api_key)
                else:
                    outcome = await ask_next_edit(http, args.url, case, variant, api_key=args.api_key,
                                                  max_tokens=args.max_tokens, postprocess=args.postprocess)
                rows.append(score(case, outcome))
                if checkpoint:
                    checkpoint.add(variant, key, rows[-1])
            drafts[variant] = draft_figures(add_round(None, before, await read_draft_counts(args.url, args.api_key,
                                                                                             http)))
            results[variant] = rows
    return {
        "command": command, "url": args.url, "repo": str(args.repo), "seed": args.seed, "holdout": args.holdout,
        "max_commits": args.max_commits, "postprocess": args.postprocess,
        "collected": collected, "variants": variants, "wall_s": time.time() - t0,
        "summary": {v: {**summarize(cases, results[v]), **drafts[v]} for v in variants},
        "cases": [{"key": c.key, "kind": c.kind, "path": c.path, "language": c.language, "window": c.window,
                   "target": c.target, **{v: results[v][i] for v in variants}} for i, c in enumerate(cases)],
    }


__all__ = ["DEFAULT_LIMIT", "FIM", "Outcome", "ask_fim", "ask_next_edit", "nearest_rank", "run_eval", "score",
           "summarize"]
