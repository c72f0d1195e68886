"""`textDocument/copilotInlineEdit`: next edits for clients that speak Copilot's inline edits.

Copilot's language server answers this custom request with edits anywhere near the cursor,
over several lines too, which such clients show as a diff (inline completion wants one line):

    params: {"textDocument": {"uri", "version"}, "position": {"line", "character"}}
    result: {"edits": [{"range", "text", "textDocument": {"uri", "version"}, "command"}]}

Each edit names the version it is for; edits for a version the document no longer has are
never sent (codefill.lsp.next_edit_delivery: also when the document changed after the answer
came), and neither is anything when `next_edit` is off:
such clients ask on their own after edits, and the edit history must not leave the machine
unless the user turned next edits on.

Each edit's `command` is `codefill.accepted` with its own id, which such clients run (through
`workspace/executeCommand`) when the user accepts it: telemetry with `kind: "next_edit"`, counted
only when the document then has the edit's text where the suggestion (all its edits) puts it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from codefill.lsp.custom_params import document_position
from codefill.lsp.features.telemetry_commands import accepted_command
from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)

COPILOT_INLINE_EDIT = "textDocument/copilotInlineEdit"
NONE: dict[str, Any] = {"edits": []}


def register(server: CodefillLanguageServer) -> None:
    @server.feature(COPILOT_INLINE_EDIT)
    async def copilot_inline_edit(ls: CodefillLanguageServer, params: Any) -> dict[str, Any]:
        at = document_position(params)
        if at is None:
            log.warning("%s needs textDocument.uri and position.line/character: ignored", COPILOT_INLINE_EDIT)
            return NONE
        started = time.perf_counter()
        uri = at.uri
        doc = ls.store.get(uri)
        if not ls.settings.next_edit or doc is None:
            return NONE
        if at.version is not None and at.version != doc.version:
            return NONE  # asked for a version already gone
        answer = await ls.pipeline.next_edits.edits(uri, at.line, at.character, ls.settings)
        ids = None if answer is None else ls.pipeline.next_edits.remember(uri, answer, answer.edits, started)
        if answer is None or ids is None:
            return NONE  # none, or for a text the document no longer has
        return {"edits": [{"range": e["range"], "text": e["text"],
                           "textDocument": {"uri": uri, "version": answer.version},
                           "command": _command(completion_id)} for e, completion_id in zip(answer.edits, ids)]}


def _command(completion_id: str) -> dict[str, Any]:
    command = accepted_command(completion_id)
    return {"title": command.title, "command": command.command, "arguments": command.arguments}
