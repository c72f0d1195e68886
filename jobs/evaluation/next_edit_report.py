"""The tables of `codefill eval next-edit` (jobs/evaluation/next_edit.py): one row per variant."""

from __future__ import annotations

from typing import Any

from codefill.jobs.evaluation.reports import command_block, fmt, md_cell

_COLUMNS = (
    ("window EM", "exact_match", ".3f"), ("EM, edit cases", "exact_match_edit", ".3f"),
    ("EM, no-edit cases", "exact_match_no_edit", ".3f"), ("no-edit accuracy", "no_edit_accuracy", ".3f"),
    ("edit rate on edit cases", "edit_rate_on_edits", ".3f"), ("edit precision", "edit_precision", ".3f"),
    ("edit recall", "edit_recall", ".3f"), ("p50 (s)", "latency_p50_s", ".2f"), ("p95 (s)", "latency_p95_s", ".2f"),
    ("draft acceptance", "draft_acceptance", ".2f"), ("errors", "errors", "d"),
)


def summary_table(report: dict[str, Any]) -> str:
    head = "| variant | " + " | ".join(name for name, _, _ in _COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(_COLUMNS)
    rows = [f"| {v} | " + " | ".join(fmt(report["summary"][v].get(key), spec) for _, key, spec in _COLUMNS) + " |"
            for v in report["variants"]]
    return "\n".join([head, rule, *rows])


def markdown_report(report: dict[str, Any]) -> str:
    s = report["summary"][report["variants"][0]]
    c = report["collected"]["counts"]
    lines = [
        f"# Next-edit evaluation: {report['repo']}", "",
        f"- held-out commits (seed {report['seed']}, held-out share {report['holdout']:g}) of {c.get('commits', 0)} "
        f"read, head {report['collected']['head'][:12]}; {s['cases']} cases: {s['edit_cases']} with an edit in the "
        f"window, {s['no_edit_cases']} where nothing should change",
        "- greedy, one request at a time; `fim` is plain FIM at the same cursor, its answer inserted there",
        f"- wall time {report['wall_s']:.0f} s", "", *command_block(report["command"]), "", summary_table(report), "",
        "## Edit cases, first variant's answers", "",
        "| case | exact | target window (first changed line) | answer's first changed line |", "|---|---|---|---|",
    ]
    first = report["variants"][0]
    for row in [r for r in report["cases"] if r["kind"] != "no_edit"][:40]:
        target, got = row["target"], row[first]["window"] or ""
        want, said = _first_change(row["window"], target), _first_change(row["window"], got)
        lines.append(f"| {row['key']} | {'yes' if row[first]['exact'] else 'no'} | {md_cell(want, 70)} | "
                     f"{md_cell(said, 70)} |")
    return "\n".join(lines) + "\n"


def _first_change(window: str, text: str) -> str:
    for old, new in zip(window.splitlines(), text.splitlines()):
        if old != new:
            return new.strip()
    longer = text.splitlines()[len(window.splitlines()):]
    return longer[0].strip() if longer else "(unchanged)" if text == window else "(lines removed)"


__all__ = ["markdown_report", "summary_table"]
