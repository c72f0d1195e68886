"""`codefill.accepted` and `codefill.dismissed` (workspace/executeCommand).

Each takes the id of a completion this server handed out: as the first argument, or
as {"id": ...}. Inline completion items carry `codefill.accepted` as their command,
so a client runs it on accept by itself; dismissal has no LSP event, so a client
that wants it recorded calls `codefill.dismissed` (e.g. on InsertLeave/Escape).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lsprotocol import types

from lsp.server import CodefillLanguageServer

ACCEPTED = "codefill.accepted"
DISMISSED = "codefill.dismissed"

log = logging.getLogger(__name__)


def accepted_command(completion_id: str) -> types.Command:
    return types.Command(title="codefill: completion accepted", command=ACCEPTED, arguments=[completion_id])


def _completion_id(args: Sequence[Any]) -> str | None:
    first = args[0] if args else None
    if isinstance(first, Mapping):
        first = first.get("id")
    return first if isinstance(first, str) and first else None


def _report(ls: CodefillLanguageServer, command: str, args: Sequence[Any], accepted: bool) -> bool:
    completion_id = _completion_id(args)
    if completion_id is None:
        log.warning("%s needs a completion id as its argument, got %r", command, list(args))
        return False
    return ls.telemetry.report(completion_id, accepted) is not None


def register(server: CodefillLanguageServer) -> None:
    @server.command(ACCEPTED)
    def accepted(ls: CodefillLanguageServer, *args: Any) -> bool:
        return _report(ls, ACCEPTED, args, accepted=True)

    @server.command(DISMISSED)
    def dismissed(ls: CodefillLanguageServer, *args: Any) -> bool:
        return _report(ls, DISMISSED, args, accepted=False)
