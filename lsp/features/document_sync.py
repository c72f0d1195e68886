"""didOpen / didChange / didClose, forwarded to the document store (incremental sync), and
didFocus: the document the user is now in.

Automatic requests go to the model only for the document being edited (codefill.lsp.pipeline), which
the store learns from the last open or change. A user who switches to another buffer and
pauses there before typing would get nothing: `textDocument/didFocus` (Copilot's language
server notification, `{"textDocument": {"uri": ...}}`; the README's Neovim recipe sends it on
BufEnter) moves the focus without an edit.

pygls keeps its own copy of every open document; when the store refuses a change
(a client bug, a change for a document never opened), the document is reopened from
that copy, so one bad notification never leaves completions working on stale text.
"""

from __future__ import annotations

import logging

from lsprotocol import types

from codefill.lsp.server import CodefillLanguageServer

log = logging.getLogger(__name__)


def _reopen_from_pygls(ls: CodefillLanguageServer, uri: str, version: int | None) -> None:
    try:
        copy = ls.workspace.get_text_document(uri)
        ls.store.open(uri, copy.language_id or "", version or 0, copy.source)
    except Exception:  # noqa: BLE001
        log.exception("cannot resync %s; completions there are off until it is reopened", uri)
        ls.store.close(uri)


TEXT_DOCUMENT_DID_FOCUS = "textDocument/didFocus"


def _focused_uri(params: object) -> str | None:
    """The uri of a didFocus notification, whichever shape pygls gives its untyped params."""
    doc = params.get("textDocument") if isinstance(params, dict) else getattr(params, "textDocument", None)
    uri = doc.get("uri") if isinstance(doc, dict) else getattr(doc, "uri", None)
    return uri if isinstance(uri, str) else None


def register(server: CodefillLanguageServer) -> None:
    @server.feature(TEXT_DOCUMENT_DID_FOCUS)
    def did_focus(ls: CodefillLanguageServer, params: object) -> None:
        uri = _focused_uri(params)
        if uri is None:
            log.warning("%s without a textDocument.uri: ignored", TEXT_DOCUMENT_DID_FOCUS)
        elif not ls.store.focus(uri):
            log.debug("%s for %s, which is not open: ignored", TEXT_DOCUMENT_DID_FOCUS, uri)


    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodefillLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        try:
            ls.store.open(doc.uri, doc.language_id, doc.version, doc.text)
        except Exception:  # noqa: BLE001 - one odd document must not take the server down
            log.exception("cannot open %s", doc.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodefillLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        if ls.store.get(uri) is None:
            log.warning("change for %s, which was never opened; taking its text from the client's copy", uri)
            _reopen_from_pygls(ls, uri, version)
            return
        try:
            ls.store.change(uri, version, params.content_changes)
        except Exception:  # noqa: BLE001
            log.exception("cannot apply a change to %s; resyncing", uri)
            _reopen_from_pygls(ls, uri, version)
        ls.pipeline.document_changed(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodefillLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.store.close(params.text_document.uri)
        ls.pipeline.document_closed(params.text_document.uri)
