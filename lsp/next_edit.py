"""A next-edit request from the document store: the window around the cursor and the recent
edit events (codefill.lsp.edit_history), ready for `FimClient.next_edit`.

The window is whole lines, a few above the cursor and more below (where the edit the user is
about to make usually is: the next uses of what they just changed); files are named as the FIM
prompt names them (codefill.lsp.documents.display_path: relative to the workspace folder,
a bare name outside it), so no absolute path leaves.
"""

from __future__ import annotations

from codefill.client.next_edit import NextEditBody
from codefill.lsp.documents import DocumentStore, display_path

LINES_ABOVE = 5
LINES_BELOW = 15  # with the cursor's line: a 21-line window, Sweep's size


def next_edit_body(store: DocumentStore, uri: str, line: int, character: int, *, model: str = "",
                   above: int = LINES_ABOVE, below: int = LINES_BELOW) -> NextEditBody | None:
    """The request for the cursor at (line, character) of `uri` (LSP coordinates); None when the
    document is not open."""
    with store.lock:
        doc = store.get(uri)
        if doc is None:
            return None
        index = doc.index
        line, character = doc.position_of(doc.offset_at(line, character))  # clamped into the text
        first, last = max(0, line - above), min(index.line_count - 1, line + below)
        start = index.line_start(first)
        end = index.line_start(last + 1) if last + 1 < index.line_count else len(doc.text)
        window = doc.text[start:end]
        events = store.edit_events()
        paths = {d.uri: display_path(store, d.path or d.uri) for d in store.documents()}
    return NextEditBody(
        model=model, window=window, start_line=first, cursor_line=line, cursor_character=character,
        path=paths.get(uri, uri), language=doc.language or doc.language_id or None,
        events=[(paths.get(e.uri, e.path), e.diff) for e in events],
    )


__all__ = ["LINES_ABOVE", "LINES_BELOW", "next_edit_body"]
