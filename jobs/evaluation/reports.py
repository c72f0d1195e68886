"""What every `codefill eval` report shares: number and cell formatting, the command block, and writing the JSON
and Markdown pair."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def md_cell(text: str, width: int = 120) -> str:
    """`text` as one Markdown table cell: pipes and newlines escaped, cut to `width`."""
    shown = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")
    return shown if len(shown) <= width else shown[:width - 3] + "..."


def command_block(command: str) -> list[str]:
    """The command line that wrote a report, as Markdown lines: a code block, so it can be copied and rerun."""
    return ["```", command, "```"]


def write_reports(report: dict[str, Any], out: Path, markdown: str) -> Path:
    """Write the JSON report to `out` and `markdown` beside it; return the Markdown file's path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    if md == out:  # --out report.md: keep both files
        md = out.with_name(out.name + ".md")
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown, encoding="utf-8")
    return md


def run_and_report(args: argparse.Namespace, name: str, run: Callable[[argparse.Namespace, str], Awaitable[dict]],
                   out: Path, markdown: Callable[[dict], str], summary: Callable[[dict], str]) -> dict[str, Any]:
    """Run an evaluation, write its JSON and Markdown reports, print its summary; the report."""
    argv = getattr(args, "argv", None)
    command = shlex.join(["codefill", *argv]) if argv is not None else f"codefill eval {name}"
    report = asyncio.run(run(args, command))
    md = write_reports(report, out, markdown(report))
    print(summary(report))
    print(f"\nwrote {out}\nwrote {md}")
    return report
