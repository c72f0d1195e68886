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

from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)

COPILOT_INLINE_EDIT = "textDocument/copilotInlineEdit"
NONE: dict[str, Any] = {"edits": []}


def _field(obj: Any, name: str) -> Any:
    # pygls gives a custom request's params as an attribute object or a dict, by version.
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def register(server: CodefillLanguageServer) -> None:
    @server.feature(COPILOT_INLINE_EDIT)
    async def copilot_inline_edit(ls: CodefillLanguageServer, params: Any) -> dict[str, Any]:
        document = _field(params, "textDocument")
        uri, version = _field(document, "uri"), _field(document, "version")
        position = _field(params, "position")
        line, character = _field(position, "line"), _field(position, "character")
        if not isinstance(uri, str) or not isinstance(line, int) or not isinstance(character, int):
            log.warning("%s needs textDocument.uri and position.line/character: ignored", COPILOT_INLINE_EDIT)
            return NONE
        doc = ls.store.get(uri)
        if not ls.settings.next_edit or doc is None:
            return NONE
        if isinstance(version, int) and version != doc.version:
            return NONE  # asked for a version already gone
        answer = await ls.pipeline.next_edits.edits(uri, line, character, ls.settings)
        if answer is None:
            return NONE
        return {"edits": [{"range": e["range"], "text": e["text"],
                           "textDocument": {"uri": uri, "version": answer.version}} for e in answer.edits]}
