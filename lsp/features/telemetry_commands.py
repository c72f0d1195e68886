"""`codefill.accepted` and `codefill.dismissed` (workspace/executeCommand).

Each takes the id of a completion this server handed out: as the first argument, or
as {"id": ...}. Inline completion items carry `codefill.accepted` as their command,
so a client runs it on accept by itself; dismissal has no LSP event, so a client
that wants it recorded calls `codefill.dismissed` (e.g. on InsertLeave/Escape).
An acceptance counts only when the accepted text stands where it was shown.

`codefill.stats` answers the pipeline's counters (requests, cache hits, stale answers, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lsprotocol import types

from codefill.lsp.server import CodefillLanguageServer
from codefill.lsp.telemetry import ShownCompletion

ACCEPTED = "codefill.accepted"
DISMISSED = "codefill.dismissed"
STATS = "codefill.stats"

log = logging.getLogger(__name__)


def accepted_command(completion_id: str) -> types.Command:
    return types.Command(title="codefill: completion accepted", command=ACCEPTED, arguments=[completion_id])


def _completion_id(args: Sequence[Any]) -> str | None:
    first = args[0] if args else None
    if isinstance(first, Mapping):
        first = first.get("id")
    return first if isinstance(first, str) and first else None


def _in_document(ls: CodefillLanguageServer, shown: ShownCompletion) -> bool:
    """Whether the shown text stands in its document where it was shown, followed by what
    followed the cursor then: a client that applied a suggestion after the user typed past
    it has not accepted what the model said, it has put it in front of what was typed."""
    if shown.uri is None or shown.offset is None:
        return True
    doc = ls.store.get(shown.uri)
    if doc is None or not doc.text.startswith(shown.completion, shown.offset):
        return False
    end = shown.offset + len(shown.completion)
    return doc.text[end:doc.index.line_end(doc.index.line_of(end))] == shown.followed_by


def _report(ls: CodefillLanguageServer, command: str, args: Sequence[Any], accepted: bool) -> bool:
    completion_id = _completion_id(args)
    if completion_id is None:
        log.warning("%s needs a completion id as its argument, got %r", command, list(args))
        return False
    shown = ls.telemetry.peek(completion_id)
    if accepted and shown is not None and not _in_document(ls, shown):
        log.warning("completion %s was accepted, but its text is not where it was shown; not recorded",
                    completion_id)
        ls.telemetry.forget(completion_id)
        return False
    return ls.telemetry.report(completion_id, accepted) is not None


def register(server: CodefillLanguageServer) -> None:
    @server.command(ACCEPTED)
    def accepted(ls: CodefillLanguageServer, *args: Any) -> bool:
        return _report(ls, ACCEPTED, args, accepted=True)

    @server.command(DISMISSED)
    def dismissed(ls: CodefillLanguageServer, *args: Any) -> bool:
        return _report(ls, DISMISSED, args, accepted=False)

    @server.command(STATS)
    def stats(ls: CodefillLanguageServer, *args: Any) -> dict[str, int]:
        """What the pipeline did since the start (benchmarks read it)."""
        return ls.pipeline.stats_snapshot()
