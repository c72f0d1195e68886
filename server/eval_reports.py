"""What every `codefill eval` report shares: number and cell formatting, and writing the JSON and Markdown pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def md_cell(text: str, width: int = 120) -> str:
    """`text` as one Markdown table cell: pipes and newlines escaped, cut to `width`."""
    shown = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")
    return shown if len(shown) <= width else shown[:width - 3] + "..."


def write_reports(report: dict[str, Any], out: Path, markdown: str) -> Path:
    """Write the JSON report to `out` and `markdown` beside it; return the Markdown file's path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    md = out.with_suffix(".md")
    if md == out:  # --out report.md: keep both files
        md = out.with_name(out.name + ".md")
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md.write_text(markdown, encoding="utf-8")
    return md
