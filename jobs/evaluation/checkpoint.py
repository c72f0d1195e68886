"""Scored rows of a long evaluation kept on disk as they come, so that a run cut off (Ctrl-C, a
crash, a machine given back) goes on where it stopped: the same command again asks only for what
is missing.

The rows go to `<report>.partial.jsonl` beside the report, one JSON line each after a first line
with the run's settings. A later run with the same settings takes the rows it finds (a row whose
request failed is asked again); with other settings it starts over. The file goes once the report
is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SUFFIX = ".partial.jsonl"


def partial_path(report: Path) -> Path:
    return report.with_name(report.name + SUFFIX)


class Checkpoint:
    def __init__(self, report: Path, settings: dict[str, Any]) -> None:
        self.path = partial_path(report)
        self.settings = json.loads(json.dumps(settings, default=str))  # as it reads back
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as f:  # rewritten: only the rows kept, after the settings
            f.write(json.dumps({"settings": self.settings}) + "\n")
            for (variant, key), row in self.rows.items():
                f.write(json.dumps({"variant": variant, "key": key, "row": row}) + "\n")

    def _load(self) -> None:
        if not self.path.is_file():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            head = {}
        if head.get("settings") != self.settings:
            self._say(f"{self.path}: from a run with other settings; starting over")
            return
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # the line being written when the run was cut off
            if not entry["row"].get("error"):
                self.rows[(entry["variant"], entry["key"])] = entry["row"]
        self._say(f"{self.path}: going on from {len(self.rows)} rows of an earlier run")

    def get(self, variant: str, key: str) -> dict[str, Any] | None:
        return self.rows.get((variant, key))

    def add(self, variant: str, key: str, row: dict[str, Any]) -> None:
        self.rows[(variant, key)] = row
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"variant": variant, "key": key, "row": row}) + "\n")

    @staticmethod
    def done(report: Path) -> None:
        """`report` is written: its rows are in it."""
        partial_path(report).unlink(missing_ok=True)

    @staticmethod
    def _say(message: str) -> None:
        print(message, file=sys.stderr)  # with --quiet too: it says why the run asks for fewer cases


__all__ = ["Checkpoint", "SUFFIX", "partial_path"]
