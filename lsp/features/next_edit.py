"""`codefill/nextEdit`: the edit the user is about to make near the cursor, from their recent
edits (the server's `/v1/next_edit`), for clients to show and apply.

A custom request, the plumbing for editors' next-edit display (inline edits) that is to come:

    params: {"textDocument": {"uri"}, "position": {"line", "character"}}
    result: {"version": the document version the edits are for,
             "edits": [{"range", "newText"}]} (LSP TextEdits, first to last; [] for none)
            or null when the document is not open, the server gave no answer, or the document
            changed before the answer came.

It asks through the same request as the editor paths (codefill.lsp.next_edit_delivery's `ask`,
which builds the request, sends it and checks the answer's version): a newer edit of the document
cancels the request under way, and edits computed for an older text than the document has now
(the user typed meanwhile) are never answered, neither for the old version nor for the new one:
applied to the new text they would land in the wrong place, and "no edits" would be an answer
for a text the server never saw. So null, and the client asks again for the text it has now.
This request is explicit: it is neither debounced nor subject to the `next_edit` setting.
"""

from __future__ import annotations

import logging
from typing import Any

from codefill.lsp.custom_params import document_position
from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)

NEXT_EDIT = "codefill/nextEdit"


def register(server: CodefillLanguageServer) -> None:
    @server.feature(NEXT_EDIT)
    async def next_edit(ls: CodefillLanguageServer, params: Any) -> dict[str, Any] | None:
        at = document_position(params)
        if at is None:
            log.warning("%s needs textDocument.uri and position.line/character: ignored", NEXT_EDIT)
            return None
        answer = await ls.pipeline.next_edits.ask(at.uri, at.line, at.character, ls.settings)
        if answer is None or not ls.pipeline.next_edits.is_current(at.uri, answer):
            return None  # no answer, or one for a text the document no longer has
        return {"version": answer.version,
                "edits": [{"range": e["range"], "newText": e["text"]} for e in answer.edits]}
