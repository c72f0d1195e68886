"""The results of the held-out evaluation (`codefill.jobs.training.evaluate`): its rows, their summary, the
JSON files a run writes before and after training, and the before/after Markdown table.

Apart from the evaluation because these hold finished results: a rerun reads the before-training
file back instead of evaluating again, and the training report renders them; neither needs the model.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EVAL_BEFORE = "eval-before.json"
EVAL_AFTER = "eval-after.json"
EVAL_TABLE = "eval.md"


@dataclass
class EvalRow:
    index: int  # position in the evaluated subset
    path: str
    kind: str
    exact: bool
    loss: float  # summed over the middle's tokens
    tokens: int
    middle: str
    generated: str
    stopped: str  # "stop" (end token), "mismatch" (cannot match any more), "length"


@dataclass
class EvalResult:
    label: str  # "before" / "after"
    rows: list[EvalRow]
    seconds: float
    held_out_examples: int  # examples available before --eval-limit
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def exact_match(self) -> float:
        return sum(r.exact for r in self.rows) / self.n if self.rows else 0.0

    @property
    def mean_loss(self) -> float:
        tokens = sum(r.tokens for r in self.rows)
        return sum(r.loss for r in self.rows) / tokens if tokens else math.nan

    def by_kind(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[EvalRow]] = defaultdict(list)
        for r in self.rows:
            groups[r.kind].append(r)
        out = {}
        for kind, rows in sorted(groups.items()):
            tokens = sum(r.tokens for r in rows)
            out[kind] = {"examples": len(rows), "exact_match": sum(r.exact for r in rows) / len(rows),
                         "mean_loss": sum(r.loss for r in rows) / tokens if tokens else math.nan}
        return out

    @property
    def line_cut_match(self) -> float:
        """Exact match after cutting each answer to its middle's number of lines.

        An answer that holds the right middle but runs on scores 0 on exact
        match; the server's stop-at-line-end scopes and post-processing would
        have shown the user the right text. This tells "learned the code" apart
        from "learned where to stop".
        """
        return sum(line_cut_equal(r.generated, r.middle) for r in self.rows) / self.n if self.rows else 0.0

    @property
    def ended_with_end_token(self) -> float:
        """Share of answers the model closed itself (the rest ran past the middle or were cut as mismatches)."""
        return sum(r.stopped == "stop" for r in self.rows) / self.n if self.rows else 0.0

    def summary(self) -> dict[str, Any]:
        stops: dict[str, int] = defaultdict(int)
        for r in self.rows:
            stops[r.stopped] += 1
        return {"label": self.label, "examples": self.n, "held_out_examples": self.held_out_examples,
                "exact_match": self.exact_match, "line_cut_match": self.line_cut_match,
                "mean_middle_loss": self.mean_loss, "by_kind": self.by_kind(),
                "stopped": dict(sorted(stops.items())), "seconds": round(self.seconds, 2), **self.details}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "rows": [asdict(r) for r in self.rows]}

    def write(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, out)
        return out

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvalResult:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = [EvalRow(**r) for r in data["rows"]]
        known = {"label", "examples", "held_out_examples", "exact_match", "line_cut_match", "mean_middle_loss",
                 "by_kind", "stopped", "seconds", "rows"}
        return cls(label=data["label"], rows=rows, seconds=data["seconds"],
                   held_out_examples=data["held_out_examples"],
                   details={k: v for k, v in data.items() if k not in known})


def line_cut_equal(generated: str, middle: str) -> bool:
    """`generated`, cut to as many lines as `middle` has, equals `middle` (both stripped at the ends)."""
    want = middle.strip()
    lines = generated.strip().split("\n")[: want.count("\n") + 1]
    return "\n".join(lines).rstrip() == want


# --- the before/after table ------------------------------------------------


def comparison_markdown(before: EvalResult | None, after: EvalResult | None, title: str = "") -> str:
    """A Markdown table of exact match and middle loss, before and after training, overall and per kind."""
    results = [r for r in (before, after) if r is not None]
    if not results:
        return ""
    n = results[0].n
    if results[0].details.get("generated") is False:
        return _loss_only_markdown(before, after, title)
    lines = [f"# {title}" if title else "# Held-out evaluation", ""]
    lines.append(f"{n} held-out FIM examples (of {results[0].held_out_examples}) from files the model never "
                 "trained on; greedy, the server's stop tokens, middle compared after stripping whitespace.")
    lines += ["", "| metric | before | after | change |", "|---|---:|---:|---:|"]

    def em(r: EvalResult | None) -> str:
        return f"{100 * r.exact_match:.1f}%" if r else "-"

    def loss(r: EvalResult | None) -> str:
        return f"{r.mean_loss:.3f}" if r else "-"

    em_change = f"{100 * (after.exact_match - before.exact_match):+.1f} points" if before and after else "-"
    loss_change = f"{after.mean_loss - before.mean_loss:+.3f}" if before and after else "-"
    lines.append(f"| FIM exact match | {em(before)} | {em(after)} | {em_change} |")
    lines.append(f"| mean middle loss (nats/token) | {loss(before)} | {loss(after)} | {loss_change} |")

    def cut(r: EvalResult | None) -> str:
        return f"{100 * r.line_cut_match:.1f}%" if r else "-"

    cut_change = f"{100 * (after.line_cut_match - before.line_cut_match):+.1f} points" if before and after else "-"
    lines.append(f"| exact match, answer cut to the middle's lines | {cut(before)} | {cut(after)} | {cut_change} |")

    def ended(r: EvalResult | None) -> str:
        return f"{100 * r.ended_with_end_token:.1f}%" if r else "-"

    ended_change = (f"{100 * (after.ended_with_end_token - before.ended_with_end_token):+.1f} points"
                    if before and after else "-")
    lines.append(f"| answers closed with the end token | {ended(before)} | {ended(after)} | {ended_change} |")
    kinds = sorted({k for r in results for k in r.by_kind()})
    for kind in kinds:
        b = before.by_kind().get(kind) if before else None
        a = after.by_kind().get(kind) if after else None
        count = (a or b or {}).get("examples", 0)
        bt = f"{100 * b['exact_match']:.1f}%" if b else "-"
        at = f"{100 * a['exact_match']:.1f}%" if a else "-"
        change = f"{100 * (a['exact_match'] - b['exact_match']):+.1f} points" if a and b else "-"
        lines.append(f"| exact match, {kind} ({count:.0f}) | {bt} | {at} | {change} |")
    seconds = " / ".join(f"{r.label} {r.seconds:.0f} s" for r in results)
    lines += ["", f"Evaluation time: {seconds}.", ""]
    return "\n".join(lines)


def _loss_only_markdown(before: EvalResult | None, after: EvalResult | None, title: str) -> str:
    first = before or after
    assert first is not None
    lines = [f"# {title}" if title else "# Held-out evaluation", "",
             f"{first.n} held-out dialogues (of {first.held_out_examples}) the model never trained on; the loss of "
             "each one's last assistant turn, teacher-forced.", "",
             "| metric | before | after | change |", "|---|---:|---:|---:|"]
    b = f"{before.mean_loss:.3f}" if before else "-"
    a = f"{after.mean_loss:.3f}" if after else "-"
    change = f"{after.mean_loss - before.mean_loss:+.3f}" if before and after else "-"
    lines.append(f"| mean assistant-turn loss (nats/token) | {b} | {a} | {change} |")
    seconds = " / ".join(f"{r.label} {r.seconds:.0f} s" for r in (before, after) if r is not None)
    lines += ["", f"Evaluation time: {seconds}.", ""]
    return "\n".join(lines)
