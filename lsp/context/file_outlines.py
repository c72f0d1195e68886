"""Outlines of the files context may come from: open documents and workspace files on disk.

A file on disk is read and parsed once and cached by (path, mtime, size), so a
keystroke never re-reads an imported file that did not change. Open documents
are used instead of their file on disk: the editor's text is the newer one.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

from codefill.lsp.context.definitions import Outline, build_outline
from codefill.lsp.context.grammar_nodes import spec_for
from codefill.lsp.documents import DocumentStore, SyntaxDocument
from codefill.lsp.languages import language_for, parser_for

# Larger files are skipped: generated code, vendored bundles.
MAX_FILE_BYTES = 1024 * 1024
_MAX_CACHED_FILES = 2000
# How long a "file does not exist" or a directory listing is believed.
_STAT_TTL_S = 2.0


class OutlineCache:
    def __init__(self) -> None:
        self._disk: OrderedDict[str, tuple[int, int, Outline | None]] = OrderedDict()
        self._open: dict[str, tuple[int, Outline | None]] = {}
        self._parsers: dict[str, object] = {}
        self._is_file: dict[str, tuple[float, bool]] = {}
        self.lock = threading.RLock()

    def for_document(self, doc: SyntaxDocument) -> Outline | None:
        """The outline of an open document at its current revision."""
        cached = self._open.get(doc.uri)
        if cached is not None and cached[0] == doc.revision:
            return cached[1]
        spec = spec_for(doc.language)
        outline = None
        if spec is not None and doc.tree is not None and doc.language is not None:
            outline = build_outline(doc.language, spec, doc.tree, doc.text)
        self._open[doc.uri] = (doc.revision, outline)
        return outline

    def forget_closed(self, store: DocumentStore) -> None:
        open_uris = {d.uri for d in store.documents()}
        for uri in [u for u in self._open if u not in open_uris]:
            del self._open[uri]

    def for_path(self, path: str) -> Outline | None:
        """The outline of a file on disk, parsed at most once per modification."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        with self.lock:
            cached = self._disk.get(path)
            if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
                self._disk.move_to_end(path)
                return cached[2]
            outline = self._parse_file(path, st.st_size)
            self._disk[path] = (st.st_mtime_ns, st.st_size, outline)
            while len(self._disk) > _MAX_CACHED_FILES:
                self._disk.popitem(last=False)
            return outline

    def _parse_file(self, path: str, size: int) -> Outline | None:
        language = language_for(None, path)
        spec = spec_for(language)
        if language is None or spec is None or size > MAX_FILE_BYTES:
            return None
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        parser = self._parsers.get(language)
        if parser is None:
            parser = self._parsers[language] = parser_for(language)
        if parser is None:
            return None
        tree = parser.parse(data)  # type: ignore[attr-defined]
        return build_outline(language, spec, tree, data.decode("utf-8", "replace"))

    def is_file(self, path: str) -> bool:
        """os.path.isfile, remembered for a moment: import resolution asks about the same paths often."""
        now = time.monotonic()
        cached = self._is_file.get(path)
        if cached is not None and now - cached[0] < _STAT_TTL_S:
            return cached[1]
        result = os.path.isfile(path)
        if len(self._is_file) > 20000:
            self._is_file.clear()
        self._is_file[path] = (now, result)
        return result
