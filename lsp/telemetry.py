"""Accepted and dismissed completions, one JSON line each, for later fine-tuning.

The server remembers the completions it handed out (id -> what was shown); the
client reports the id back through the `codefill.accepted` / `codefill.dismissed`
commands, and one record is appended to `<data-dir>/telemetry.jsonl`:

    {"time": "2026-11-21T22:00:00.123+00:00", "id": "...", "context_hash": "...",
     "completion": "...", "accepted": true, "language": "python", "latency_ms": 42.0,
     "kind": "fim"}

`kind` tells what was shown: "fim", a completion at the cursor, or "next_edit", a next edit
(codefill.lsp.next_edit_delivery) whose `completion` is the edit's new text and whose
`context_hash` hashes its `/v1/next_edit` request. Either counts as accepted only when its text
stands where it was shown (for a next edit: where the edit put it, followed by the rest of the line
as the edit leaves it).

Nothing leaves the machine; the file is the user's.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE_NAME = "telemetry.jsonl"
# Shown completions remembered for a later accept/dismiss; older ones are forgotten
# (a client reports within seconds, never hundreds of completions later).
REMEMBERED = 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownCompletion:
    id: str
    context_hash: str
    completion: str
    language: str | None
    latency_ms: float
    uri: str | None = None  # where it was shown: an acceptance must find it there
    offset: int | None = None  # string index of its first character in the document it was shown for
    followed_by: str = ""  # the rest of the line after it, when it was shown
    kind: str = "fim"  # "fim" or "next_edit"


class Telemetry:
    def __init__(self, data_dir: str | os.PathLike[str], *, enabled: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.enabled = enabled
        self._shown: OrderedDict[str, ShownCompletion] = OrderedDict()

    @property
    def path(self) -> Path:
        return self.data_dir / FILE_NAME

    def configure(self, data_dir: str | os.PathLike[str], enabled: bool) -> None:
        self.data_dir = Path(data_dir)
        self.enabled = enabled

    def shown(self, completion: ShownCompletion) -> None:
        self._shown[completion.id] = completion
        while len(self._shown) > REMEMBERED:
            self._shown.popitem(last=False)

    def peek(self, completion_id: str) -> ShownCompletion | None:
        return self._shown.get(completion_id)

    def forget(self, completion_id: str) -> None:
        self._shown.pop(completion_id, None)

    def report(self, completion_id: str, accepted: bool) -> dict[str, Any] | None:
        """Append the record of a shown completion; None (and a log line) when the id is
        unknown or telemetry is off."""
        if not self.enabled:
            return None
        shown = self._shown.pop(completion_id, None)
        if shown is None:
            log.warning("telemetry: no shown completion with id %r (too old, or from another session)",
                        completion_id)
            return None
        record = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "id": shown.id,
            "context_hash": shown.context_hash,
            "completion": shown.completion,
            "accepted": accepted,
            "language": shown.language,
            "latency_ms": round(shown.latency_ms, 1),
            "kind": shown.kind,
        }
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            # One write call per record, in append mode: concurrent servers (two
            # editors) interleave whole lines, never parts of them.
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("telemetry: cannot write %s: %s", self.path, exc)
            return None
        return record
