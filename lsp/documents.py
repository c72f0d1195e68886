"""Open documents: their text, their syntax tree kept current by incremental parsing,
and the ranges the user edited most recently.

Positions (LSP, string index, tree-sitter byte) and their conversions are `codefill.lsp.positions`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from lsprotocol import types as lsp_types
from tree_sitter import Parser, Tree

from codefill.lsp.edit_history import EditHistory, HistoryEvent
from codefill.lsp.languages import language_for, parser_for
from codefill.lsp.positions import _ASTRAL, LineIndex, _common_affixes, _line_breaks, _point_after, _ts_point, _utf8_len

# Files larger than this are kept as plain text: parsing them would stall keystrokes.
MAX_PARSE_BYTES = 4 * 1024 * 1024
# Recent edits closer than this many lines merge into one range.
_MERGE_GAP_LINES = 3
_MAX_EDIT_RECORDS = 64
# A change that rewrites more lines than this at once, as the whole text or over the whole
# document, is taken for an external reload (a checkout, a formatter run on disk), not typing.
_RELOAD_LINES = 12


def uri_to_path(uri: str) -> str | None:
    """The filesystem path of a file: URI, or None for other schemes (untitled:, etc.)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = url2pathname(unquote(parsed.path))
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return path



def display_path(store: DocumentStore, path: str) -> str:
    """A workspace-relative path with '/' separators; a bare file name outside the workspace."""
    if not os.path.isabs(path):
        return path  # a URI without a file path (untitled:...)
    folder = store.workspace_folder_of(path)
    if folder is None:
        return os.path.basename(path)
    return os.path.relpath(path, folder).replace(os.sep, "/")


_revisions = itertools.count(1)


def offset_in(text: str, index: LineIndex, line: int, character: int) -> int:
    """The string index in `text` (whose LineIndex is `index`) of an LSP position (UTF-16
    character); past the end of a line or of the text clamps."""
    if line < 0:
        return 0
    if line >= index.line_count:
        return len(text)
    start, end = index.line_start(line), index.line_end(line)
    if character <= 0:
        return start
    if index.ascii:
        return min(start + character, end)
    units = 0
    pos = start
    while pos < end:
        width = 2 if ord(text[pos]) > 0xFFFF else 1
        # A position inside a surrogate pair points before the character.
        if units + width > character:
            break
        units += width
        pos += 1
    return pos


class SyntaxDocument:
    """One open document. `revision` is unique across the store and changes with every edit."""

    def __init__(
        self, uri: str, language_id: str, version: int, text: str,
        language: str | None = None, parser: Parser | None = None,
    ) -> None:
        self.uri = uri
        self.path = uri_to_path(uri)
        self.language_id = language_id
        self.language = language if parser is not None else None
        self.version = version
        self.text = text
        self.revision = next(_revisions)
        # Where the last change ended (string index): an automatic request elsewhere in a
        # document that is not being edited comes from a client asking for every buffer.
        self.last_edit_offset: int | None = None
        self._parser = parser
        self._index: LineIndex | None = None
        self._data: bytes | None = None
        self.tree: Tree | None = None
        if parser is not None:
            self._parse_fresh()

    # --- positions ----------------------------------------------------------

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            self._index = LineIndex(self.text)
        return self._index

    @property
    def data(self) -> bytes:
        """The UTF-8 bytes of the text, as the tree was parsed from."""
        if self._data is None:
            self._data = self.text.encode("utf-8")
        return self._data

    @property
    def line_count(self) -> int:
        return self.index.line_count

    def offset_at(self, line: int, character: int) -> int:
        """The string index of an LSP position; past the end of a line or of the document clamps."""
        return offset_in(self.text, self.index, line, character)

    def position_of(self, offset: int) -> tuple[int, int]:
        """The LSP (line, UTF-16 character) of a string index."""
        offset = max(0, min(offset, len(self.text)))
        index = self.index
        line = index.line_of(offset)
        start = index.line_start(line)
        segment = self.text[start:min(offset, index.line_end(line))]
        astral = 0 if segment.isascii() else len(_ASTRAL.findall(segment))
        return line, len(segment) + astral

    def line_text(self, line: int) -> str:
        """The line's content without its line break ("" past the end)."""
        index = self.index
        if line < 0 or line >= index.line_count:
            return ""
        return self.text[index.line_start(line):index.line_end(line)]

    def byte_offset(self, offset: int) -> int:
        return self.index.byte_offset(offset)

    def str_offset(self, byte: int) -> int:
        return self.index.str_offset(byte, self.data)

    # --- editing ------------------------------------------------------------

    def _parse_fresh(self) -> None:
        if self._parser is None or len(self.text) > MAX_PARSE_BYTES:
            self.tree = None
            return
        self.tree = self._parser.parse(self.data)

    def replace(self, start: int, end: int, new_text: str) -> None:
        """Replace text[start:end] and tell the tree; `reparse` brings the tree up to date."""
        old = self.text
        if self.tree is not None:
            start_byte = self.byte_offset(start)
            old_end_byte = self.byte_offset(end)
            start_point = _ts_point(old, start)
            self.tree.edit(
                start_byte=start_byte,
                old_end_byte=old_end_byte,
                new_end_byte=start_byte + _utf8_len(new_text),
                start_point=start_point,
                old_end_point=_ts_point(old, end),
                new_end_point=_point_after(start_point, new_text),
            )
        self.text = old[:start] + new_text + old[end:]
        self._index = None
        self._data = None
        self.revision = next(_revisions)

    def reparse(self) -> None:
        """Incremental parse: the edited old tree lets tree-sitter reuse every untouched subtree."""
        if self._parser is None:
            return
        if len(self.text) > MAX_PARSE_BYTES:
            self.tree = None
        elif self.tree is None:
            self._parse_fresh()
        else:
            self.tree = self._parser.parse(self.data, self.tree)


@dataclass
class EditRecord:
    """A range of lines the user changed recently, in the document's current line numbers."""

    uri: str
    start_line: int
    end_line: int  # inclusive
    seq: int  # larger is newer


class DocumentStore:
    def __init__(self, workspace_folders: Sequence[str] = ()) -> None:
        self._docs: dict[str, SyntaxDocument] = {}
        self._parsers: dict[str, Parser | None] = {}
        self._edits: list[EditRecord] = []  # oldest first
        self._edit_seq = itertools.count(1)
        self.history = EditHistory()  # edit events for next-edit prompts (codefill.lsp.edit_history)
        # uri -> (revision, texts): what the document would be with a suggestion shown for that
        # revision accepted; a change that makes one of them is recorded as an event of its own.
        self._offered: dict[str, tuple[int, frozenset[str]]] = {}
        # The document opened or changed last: the one the user is typing in.
        self.focused_uri: str | None = None
        self.workspace_folders: list[str] = []
        # The language server may build context in a worker thread while
        # notifications arrive on the event loop.
        self.lock = threading.RLock()
        self.set_workspace_folders(workspace_folders)

    def set_workspace_folders(self, folders: Sequence[str]) -> None:
        cleaned = []
        for folder in folders:
            path = os.path.abspath(folder)
            if path not in cleaned:
                cleaned.append(path)
        # Nested folders: the innermost match must win, so longer paths first.
        self.workspace_folders = sorted(cleaned, key=len, reverse=True)

    def _parser(self, language: str | None) -> Parser | None:
        if language is None:
            return None
        if language not in self._parsers:
            self._parsers[language] = parser_for(language)
        return self._parsers[language]

    def open(self, uri: str, language_id: str, version: int, text: str) -> SyntaxDocument:
        with self.lock:
            if uri in self._docs:  # opened again: its text may be another than the history's
                self.history.forget(uri)
            language = language_for(language_id, uri_to_path(uri))
            doc = SyntaxDocument(uri, language_id, version, text, language, self._parser(language))
            self._docs[uri] = doc
            self.focused_uri = uri
            return doc

    def offer(self, uri: str, revision: int, texts: Sequence[str]) -> None:
        """Suggestions were shown for `revision` of `uri`: each of `texts` is the document with
        one of them accepted (see EditHistory on why an acceptance is an event of its own)."""
        with self.lock:
            self._offered[uri] = (revision, frozenset(texts))

    def _accepts_offer(self, doc: SyntaxDocument,
                       changes: Sequence[lsp_types.TextDocumentContentChangeEvent]) -> bool:
        revision, texts = self._offered.pop(doc.uri, (None, frozenset()))
        if revision != doc.revision:
            return False
        text = doc.text
        for change in changes:
            rng = getattr(change, "range", None)
            if rng is None:
                text = change.text
                continue
            index = LineIndex(text)
            start = offset_in(text, index, rng.start.line, rng.start.character)
            end = offset_in(text, index, rng.end.line, rng.end.character)
            start, end = min(start, end), max(start, end)
            text = text[:start] + change.text + text[end:]
        return text in texts

    def change(
        self, uri: str, version: int, changes: Sequence[lsp_types.TextDocumentContentChangeEvent]
    ) -> SyntaxDocument:
        with self.lock:
            doc = self._docs[uri]
            separate = uri in self._offered and self._accepts_offer(doc, changes)
            for change in changes:
                if isinstance(change, lsp_types.TextDocumentContentChangePartial) or getattr(change, "range", None):
                    rng = change.range  # type: ignore[union-attr]
                    start = doc.offset_at(rng.start.line, rng.start.character)
                    end = doc.offset_at(rng.end.line, rng.end.character)
                    if end < start:
                        start, end = end, start
                    new_text = change.text
                    whole = start == 0 and end == len(doc.text) and bool(doc.text)  # the document replaced
                else:
                    whole = True
                    # Full sync: only the differing middle is an edit, so the
                    # parse stays incremental and "recent edits" stay precise.
                    old = doc.text
                    head, tail = _common_affixes(old, change.text)
                    start, end = head, len(old) - tail
                    new_text = change.text[head:len(change.text) - tail]
                if start == end and not new_text:
                    continue
                reload = whole and self._rewrites_lines(doc, start, end, new_text)
                self._record_edit(doc, start, end, new_text, reload=reload, separate=separate)
                separate = False  # the acceptance's other changes (if any) join its event
                doc.replace(start, end, new_text)
                doc.last_edit_offset = start + len(new_text)
                self.focused_uri = uri
            doc.version = version
            doc.reparse()
            return doc

    def focus(self, uri: str) -> bool:
        """The user is now in `uri` (a buffer switched to, before any edit); False: it is not open."""
        with self.lock:
            if uri not in self._docs:
                return False
            self.focused_uri = uri
            return True

    def close(self, uri: str) -> None:
        with self.lock:
            self._docs.pop(uri, None)
            if self.focused_uri == uri:
                self.focused_uri = None
            self._edits = [e for e in self._edits if e.uri != uri]
            self._offered.pop(uri, None)
            self.history.forget(uri)

    def get(self, uri: str) -> SyntaxDocument | None:
        return self._docs.get(uri)

    def documents(self) -> list[SyntaxDocument]:
        return list(self._docs.values())

    def by_path(self, path: str) -> SyntaxDocument | None:
        for doc in self._docs.values():
            if doc.path == path:
                return doc
        return None

    def workspace_folder_of(self, path: str | None) -> str | None:
        """The innermost workspace folder holding `path`."""
        if path is None:
            return None
        for folder in self.workspace_folders:
            if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
                return folder
        return None

    # --- recent edits -------------------------------------------------------

    def recent_edits(self) -> list[EditRecord]:
        """Recently edited line ranges of open documents, newest last."""
        return list(self._edits)

    def edit_events(self) -> list[HistoryEvent]:
        """The recent edit events of open documents, oldest first (codefill.lsp.edit_history)."""
        with self.lock:
            return self.history.events(lambda uri: doc.text if (doc := self._docs.get(uri)) else None)

    @staticmethod
    def _rewrites_lines(doc: SyntaxDocument, start: int, end: int, new_text: str) -> bool:
        index = doc.index
        return max(index.line_of(end) - index.line_of(start), _line_breaks(new_text)) > _RELOAD_LINES

    def _record_edit(self, doc: SyntaxDocument, start: int, end: int, new_text: str, *, reload: bool = False,
                     separate: bool = False) -> None:
        index = doc.index
        first = index.line_of(start)
        old_last = index.line_of(end)
        delta = _line_breaks(new_text) - (old_last - first)
        new_last = old_last + delta
        if reload:
            self.history.forget(doc.uri)
        else:
            self.history.record(doc.uri, doc.path or doc.uri, doc.text, first, old_last, new_last, separate=separate)
        merged = EditRecord(doc.uri, first, new_last, next(self._edit_seq))
        kept: list[EditRecord] = []
        for rec in self._edits:
            if rec.uri != doc.uri:
                kept.append(rec)
                continue
            if rec.start_line > old_last:
                rec.start_line += delta
                rec.end_line += delta
            elif rec.end_line >= first:
                # Overlaps the edit: lines past the edit move with it, lines inside become the edit's.
                rec.end_line = rec.end_line + delta if rec.end_line > old_last else new_last
            near = (rec.end_line + _MERGE_GAP_LINES >= merged.start_line
                    and rec.start_line - _MERGE_GAP_LINES <= merged.end_line)
            if near:
                merged.start_line = min(merged.start_line, rec.start_line)
                merged.end_line = max(merged.end_line, rec.end_line)
            else:
                kept.append(rec)
        kept.append(merged)
        self._edits = kept[-_MAX_EDIT_RECORDS:]
