"""ContextBuilder: from a cursor position to everything a FIM request sends."""

from __future__ import annotations

import os
import time

from codefill.lsp.context.completion_context import CompletionContext, context_key
from codefill.lsp.context.crossfile import CrossFileContext
from codefill.lsp.context.file_outlines import OutlineCache
from codefill.lsp.context.multiline import multiline_hint
from codefill.lsp.context.windows import SNAP_LINES, cut_windows
from codefill.lsp.documents import DocumentStore, SyntaxDocument, display_path

# Of the local budget, the suffix gets this share (Copilot's suffixPercent is 15 too); the prefix
# the rest. The suffix follows the cursor, so every keystroke recomputes all of it.
SUFFIX_SHARE = 0.15


class ContextBuilder:
    def __init__(
        self,
        store: DocumentStore,
        *,
        budget_tokens: int = 2048,
        crossfile_budget_tokens: int = 1024,
        max_recent_edits: int = 8,
        chars_per_token: float = 3.5,
        snap_lines: int = SNAP_LINES,
        suffix_share: float = SUFFIX_SHARE,
    ) -> None:
        self.store = store
        self.budget_tokens = budget_tokens
        self.crossfile_budget_tokens = crossfile_budget_tokens
        self.max_recent_edits = max_recent_edits
        self.chars_per_token = chars_per_token
        self.snap_lines = snap_lines
        self.suffix_share = suffix_share
        self.outlines = OutlineCache()
        self.crossfile = CrossFileContext(store, self.outlines)

    def build(self, uri: str, line: int, character: int) -> CompletionContext:
        started = time.perf_counter()
        with self.store.lock:
            doc = self.store.get(uri)
            if doc is None:
                raise KeyError(f"document not open: {uri}")
            return self._build(doc, line, character, started)

    def _build(self, doc: SyntaxDocument, line: int, character: int, started: float) -> CompletionContext:
        offset = doc.offset_at(line, character)
        local_chars = max(0, int(self.budget_tokens * self.chars_per_token))
        prefix_chars = local_chars - int(local_chars * self.suffix_share)
        windows = cut_windows(doc, offset, prefix_chars, local_chars - prefix_chars, self.snap_lines)
        window_text = windows.prefix + windows.suffix
        files: tuple[tuple[str, str], ...] = ()
        crossfile_chars = int(self.crossfile_budget_tokens * self.chars_per_token)
        if crossfile_chars > 0:
            self.outlines.forget_closed(self.store)
            files = self.crossfile.pieces(
                doc,
                window_text,
                doc.byte_offset(windows.start_offset),
                doc.byte_offset(windows.end_offset),
                doc.byte_offset(offset),
                crossfile_chars,
                self.max_recent_edits,
            )
        path, repo_name = self._location(doc)
        return CompletionContext(
            prefix=windows.prefix,
            suffix=windows.suffix,
            path=path,
            repo_name=repo_name,
            files=files,
            language=doc.language,
            line_prefix=windows.line_prefix,
            line_suffix=windows.line_suffix,
            multiline=multiline_hint(doc, offset, windows.line_prefix, windows.line_suffix),
            key=context_key(windows.prefix, windows.suffix, files, path, repo_name),
            build_ms=(time.perf_counter() - started) * 1000.0,
            start_line=windows.start_line,
            end_line=windows.end_line,
            headers=windows.headers,
        )

    def _location(self, doc: SyntaxDocument) -> tuple[str | None, str | None]:
        if doc.path is None:
            return None, None
        folder = self.store.workspace_folder_of(doc.path)
        repo_name = os.path.basename(folder.rstrip(os.sep)) if folder is not None else None
        return display_path(self.store, doc.path), repo_name
