"""`codefill/nextEdit`: the edit the user is about to make near the cursor, from their recent
edits (the server's `/v1/next_edit`), for clients to show and apply.

A custom request, the plumbing for editors' next-edit display (inline edits) that is to come:

    params: {"textDocument": {"uri"}, "position": {"line", "character"}}
    result: {"version": the document version the edits are for,
             "edits": [{"range", "newText"}]} (LSP TextEdits, first to last; [] for none)
            or null when the document is not open or the server gave no answer.

Edits computed for an older text than the document has now (the user typed meanwhile) are
dropped: applied to the new text they would land in the wrong place.
"""

from __future__ import annotations

import logging
from typing import Any

from codefill.lsp.custom_params import document_position
from codefill.lsp.http_client import CompletionFailed
from codefill.lsp.next_edit import next_edit_body
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
        uri, line, character = at.uri, at.line, at.character
        doc = ls.store.get(uri)
        body = next_edit_body(ls.store, uri, line, character, model=ls.settings.model or "")
        if doc is None or body is None:
            return None
        version, revision = doc.version, doc.revision
        try:
            answer = await ls.pipeline.client.next_edit(body, ls.settings)
        except CompletionFailed as exc:
            log.info("no next edit: %s", exc)
            return None
        if ls.store.get(uri) is not doc or doc.revision != revision:
            return {"version": doc.version, "edits": []}  # for an older text
        return {"version": version,
                "edits": [{"range": e["range"], "newText": e["text"]} for e in answer.get("edits", [])]}
