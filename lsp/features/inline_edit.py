"""`textDocument/copilotInlineEdit`: next edits for clients that speak Copilot's inline edits.

Copilot's language server answers this custom request with edits anywhere near the cursor,
over several lines too, which such clients show as a diff (inline completion wants one line):

    params: {"textDocument": {"uri", "version"}, "position": {"line", "character"}}
    result: {"edits": [{"range", "text", "textDocument": {"uri", "version"}}]}

Each edit names the version it is for; edits for a version the document no longer has are
never sent (codefill.lsp.next_edit_delivery), and neither is anything when `next_edit` is off:
such clients ask on their own after edits, and the edit history must not leave the machine
unless the user turned next edits on.
"""

from __future__ import annotations

import logging
from typing import Any

from codefill.lsp.custom_params import document_position
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
        uri = at.uri
        doc = ls.store.get(uri)
        if not ls.settings.next_edit or doc is None:
            return NONE
        if at.version is not None and at.version != doc.version:
            return NONE  # asked for a version already gone
        answer = await ls.pipeline.next_edits.edits(uri, at.line, at.character, ls.settings)
        if answer is None:
            return NONE
        return {"edits": [{"range": e["range"], "text": e["text"],
                           "textDocument": {"uri": uri, "version": answer.version}} for e in answer.edits]}
