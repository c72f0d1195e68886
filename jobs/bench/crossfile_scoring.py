"""Context and scores of the cross-file quality benchmark (`codefill.jobs.bench.crossfile_quality`):
what the context engine gives each case, how an answer is scored, and the summary of a run."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codefill.lsp.context import CompletionContext, ContextBuilder
from codefill.jobs.bench.crossfile_cases import Case

CONDITIONS = ("with", "without")


# --- context ------------------------------------------------------------------


def masked_text(source: str, case: Case) -> str:
    """The file as the user has it while typing the call: the line ends at the cursor."""
    lines = source.split("\n")
    lines[case.line] = lines[case.line][:case.column]
    return "\n".join(lines)


def build_context(builder: ContextBuilder, workspace: Path, case: Case) -> CompletionContext:
    """The context engine's context at the case's cursor, with only the case's file open."""
    path = workspace / case.file
    text = masked_text(path.read_text(encoding="utf-8"), case)
    uri = path.as_uri()
    builder.store.open(uri, "python", 1, text)
    try:
        return builder.build(uri, case.line, case.character)
    finally:
        builder.store.close(uri)


def definition_shown(case: Case, files: Sequence[tuple[str, str]]) -> bool:
    """Whether a piece of the defining module holds the callee's `def` or `class` line."""
    pattern = re.compile(rf"^[ \t]*(?:async[ \t]+def|def|class)[ \t]+{re.escape(case.definition_name)}\b", re.M)
    return any(path == case.definition_file and pattern.search(content) for path, content in files)


# --- scoring ------------------------------------------------------------------


def exact_match(completion: str, middle: str) -> bool:
    return completion.rstrip() == middle.rstrip()


def callee_correct(completion: str, callee: str) -> bool:
    if not completion.startswith(callee):
        return False
    rest = completion[len(callee):]
    return not rest or not (rest[0].isalnum() or rest[0] in "_.")


@dataclass
class Outcome:
    completion: str | None = None  # None: the request failed
    exact_match: bool = False
    callee_correct: bool = False
    prompt_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None


@dataclass
class CaseResult:
    case: Case
    context_key: str  # the context engine's hash of everything sent but the files choice
    definition_in_context: bool
    crossfile_pieces: list[str]  # paths of the pieces
    crossfile_chars: int
    outcomes: dict[str, Outcome]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self.case)
        out["id"] = self.case.case_id
        out.update(context_key=self.context_key, definition_in_context=self.definition_in_context,
                   crossfile_pieces=self.crossfile_pieces, crossfile_chars=self.crossfile_chars)
        out.update({name: asdict(o) for name, o in self.outcomes.items()})
        return out


def previous_outcomes(path: str | None, model: str, max_tokens: int) -> dict[tuple[str, str], Outcome]:
    """Answered requests of an earlier run (`--resume`), by (context key, condition): a run cut
    short by a dying server goes on where it stopped. Only answers to the very same context,
    model and max_tokens are reused."""
    if not path or not Path(path).is_file():
        return {}
    earlier = json.loads(Path(path).read_text(encoding="utf-8"))
    if earlier.get("server", {}).get("model") != model or earlier.get("settings", {}).get("max_tokens") != max_tokens:
        return {}
    out: dict[tuple[str, str], Outcome] = {}
    for row in earlier.get("results", []):
        for condition in CONDITIONS:
            outcome = row.get(condition) or {}
            if row.get("context_key") and outcome.get("error") is None:
                out[(row["context_key"], condition)] = Outcome(**outcome)
    return out


def _rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


def summarize(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Rates over the cases where both requests were answered: the comparison stays paired when
    a request fails (failures are counted, not scored as misses)."""
    scored = [r for r in results if all(o.error is None for o in r.outcomes.values())]
    n = len(scored)
    summary: dict[str, Any] = {"cases": len(results), "scored": n}
    for name in CONDITIONS:
        outs = [r.outcomes[name] for r in scored]
        em = sum(o.exact_match for o in outs)
        callee = sum(o.callee_correct for o in outs)
        tokens = [o.prompt_tokens for o in outs if o.prompt_tokens is not None]
        latencies = [o.latency_s for o in outs if o.latency_s is not None]
        summary[name] = {
            "exact_match": _rate(em, n), "exact_matches": em,
            "callee_correct": _rate(callee, n), "callee_corrects": callee,
            "errors": sum(r.outcomes[name].error is not None for r in results),
            "prompt_tokens_mean": round(statistics.fmean(tokens), 1) if tokens else None,
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        }
    shown = [r for r in scored if r.definition_in_context]
    summary["definition_in_context"] = len(shown)
    summary["with_any_crossfile_piece"] = sum(bool(r.crossfile_pieces) for r in scored)
    summary["via_reexport"] = sum(r.case.via_reexport for r in scored)
    # Where the definition was shown, and where it was not: what the context is worth when it works.
    for label, subset in (("definition_shown", shown),
                          ("definition_not_shown", [r for r in scored if not r.definition_in_context])):
        summary[label] = {name: {"exact_match": _rate(sum(r.outcomes[name].exact_match for r in subset), len(subset)),
                                 "callee_correct": _rate(sum(r.outcomes[name].callee_correct for r in subset),
                                                         len(subset))}
                          for name in CONDITIONS}
        summary[label]["cases"] = len(subset)
    # Paired: cases that only one condition got right.
    summary["em_only_with"] = sum(r.outcomes["with"].exact_match and not r.outcomes["without"].exact_match
                                  for r in scored)
    summary["em_only_without"] = sum(r.outcomes["without"].exact_match and not r.outcomes["with"].exact_match
                                     for r in scored)
    return summary


def markdown_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    n = s["scored"]
    lines = [
        "| cross-file context | exact match | callee name correct | mean prompt tokens | latency p50 (s) | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONDITIONS:
        m = s[name]
        lines.append(f"| {name} | {m['exact_match']:.3f} ({m['exact_matches']}/{n}) "
                     f"| {m['callee_correct']:.3f} ({m['callee_corrects']}/{n}) | {m['prompt_tokens_mean']} "
                     f"| {m['latency_p50_s']} | {m['errors']} |")
    shown, hidden = s["definition_shown"], s["definition_not_shown"]
    mode = f"raw FIM template {result['settings']['raw_fim_template']}" if result["settings"]["raw_fim_template"] \
        else "suffix + codefill field"
    lines += [
        "",
        f"server: {result['server']['url']} ({result['server']['model']}, {mode})",
        f"package: {result['package']['name']} {result['package']['version']}  ·  cases: {s['cases']} of "
        f"{result['cases_total']} ({n} with both requests answered)  ·  "
        f"definition in the cross-file context: {s['definition_in_context']}/{n} "
        f"(any piece: {s['with_any_crossfile_piece']}/{n})  ·  EM only with: {s['em_only_with']}, "
        f"only without: {s['em_only_without']}  ·  wall time: {result['wall_time_s']:.0f} s",
        f"where the definition was shown ({shown['cases']}): EM with {shown['with']['exact_match']:.3f} / "
        f"without {shown['without']['exact_match']:.3f}; where not ({hidden['cases']}): "
        f"with {hidden['with']['exact_match']:.3f} / without {hidden['without']['exact_match']:.3f}",
    ]
    return "\n".join(lines)
