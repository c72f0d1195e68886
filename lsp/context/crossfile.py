"""Cross-file context: definitions of the names used at the cursor, and recent edits elsewhere.

Pieces are chosen by relevance (names nearest the cursor first, imported files
before other open files) but sent in a stable order (definitions by path and
position, then recent edits, newest last): successive keystrokes then send the
same leading bytes and the server's prefix cache keeps hitting.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from codefill.lsp.context.definitions import Outline, Site
from codefill.lsp.context.file_outlines import OutlineCache
from codefill.lsp.context.grammar_nodes import identifier_query
from codefill.lsp.context.import_resolvers import ImportTarget, list_sources
from codefill.lsp.context.import_statements import import_nodes, signature
from codefill.lsp.context.imports import resolve_imports
from codefill.lsp.documents import DocumentStore, SyntaxDocument, display_path
from codefill.lsp.languages import same_group
from tree_sitter import QueryCursor

# Explicitly imported names rank after every name used in the window.
_IMPORTED_NAME_DISTANCE = 1 << 40
# Priorities of where a definition comes from (lower first).
_IMPORTED, _SAME_PACKAGE, _OPEN, _MEMBER_PENALTY = 0, 1, 2, 3
_MAX_DEFINITIONS = 24
_EDIT_CONTEXT_LINES = 2
_MAX_EDIT_LINES = 12
# Share of the cross-file budget recent edits may take.
_EDIT_SHARE = 1 / 3
_RESOLUTION_TTL_S = 2.0
_IGNORED_NAMES = frozenset({"self", "cls", "this", "super", "_"})


@dataclass(frozen=True)
class _Source:
    priority: int
    path: str  # as shown to the model
    key: str  # filesystem path or URI, for de-duplication
    outline: Outline
    names: frozenset[str] | None
    aliases: dict[str, str]


class CrossFileContext:
    def __init__(self, store: DocumentStore, outlines: OutlineCache) -> None:
        self.store = store
        self.outlines = outlines
        self._resolved: dict[tuple, tuple[float, list[ImportTarget]]] = {}
        self._shown_paths: dict[tuple[str, tuple[str, ...]], str] = {}

    # --- names used at the cursor ------------------------------------------

    def used_names(self, doc: SyntaxDocument, start_byte: int, end_byte: int, cursor_byte: int) -> dict[str, int]:
        """Identifiers in the window, each with its distance (bytes) from the cursor."""
        if doc.tree is None or doc.language is None:
            return {}
        query = identifier_query(doc.language)
        if query is None:
            return {}
        cursor = QueryCursor(query)
        cursor.set_byte_range(start_byte, end_byte)
        data = doc.data
        nearest: dict[bytes, int] = {}
        for nodes in cursor.captures(doc.tree.root_node).values():
            for node in nodes:
                s, e = node.start_byte, node.end_byte
                distance = cursor_byte - e if e <= cursor_byte else s - cursor_byte
                name = data[s:e]
                if distance < nearest.get(name, _IMPORTED_NAME_DISTANCE):
                    nearest[name] = distance
        names = {k.decode("utf-8", "replace"): max(v, 0) for k, v in nearest.items()}
        for ignored in _IGNORED_NAMES:
            names.pop(ignored, None)
        return names

    # --- where definitions come from ---------------------------------------

    def import_targets(self, doc: SyntaxDocument) -> list[ImportTarget]:
        if doc.path is None or doc.tree is None:
            return []
        nodes = import_nodes(doc.language, doc.tree)
        if not nodes:
            return []
        roots = self.store.workspace_folders or [os.path.dirname(doc.path)]
        key = (doc.path, doc.language, signature(nodes), tuple(roots))
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached is not None and now - cached[0] < _RESOLUTION_TTL_S:
            return cached[1]
        targets = resolve_imports(doc.language, doc.path, nodes, roots, self.outlines.is_file)
        if len(self._resolved) > 256:
            self._resolved.clear()
        self._resolved[key] = (now, targets)
        return targets

    def sources(self, doc: SyntaxDocument, targets: list[ImportTarget]) -> list[_Source]:
        out: list[_Source] = []
        seen = {doc.path or doc.uri}
        for target in targets:
            self._add(out, seen, _IMPORTED, target.path, target.names, dict(target.aliases))
        if doc.path is not None and doc.language in ("go", "java"):
            # Files of the same package see each other's definitions without importing them.
            extension = ".go" if doc.language == "go" else ".java"
            testing = doc.path.endswith("_test.go")
            for path in list_sources(os.path.dirname(doc.path), extension):
                if doc.language == "go" and path.endswith("_test.go") and not testing:
                    continue
                self._add(out, seen, _SAME_PACKAGE, path, None, {})
        for other in sorted(self.store.documents(), key=lambda d: d.uri):
            if other.uri != doc.uri and same_group(doc.language, other.language):
                self._add(out, seen, _OPEN, other.path or other.uri, None, {}, other)
        return out

    def _add(self, out: list[_Source], seen: set[str], priority: int, key: str,
             names: frozenset[str] | None, aliases: dict[str, str], doc: SyntaxDocument | None = None) -> None:
        if key in seen:
            return
        seen.add(key)
        if doc is None and os.path.isabs(key):
            doc = self.store.by_path(key)
        outline = self.outlines.for_document(doc) if doc is not None else self.outlines.for_path(key)
        if outline is not None:
            out.append(_Source(priority, self._display_path(key), key, outline, names, aliases))

    def _display_path(self, key: str) -> str:
        memo_key = (key, tuple(self.store.workspace_folders))
        shown = self._shown_paths.get(memo_key)
        if shown is None:
            if len(self._shown_paths) > 4096:
                self._shown_paths.clear()
            shown = self._shown_paths[memo_key] = display_path(self.store, key)
        return shown

    # --- choosing pieces ---------------------------------------------------

    def pieces(
        self, doc: SyntaxDocument, window_text: str, start_byte: int, end_byte: int, cursor_byte: int,
        budget_chars: int, max_recent_edits: int,
    ) -> tuple[tuple[str, str], ...]:
        edits = self.recent_edit_pieces(doc, window_text, int(budget_chars * _EDIT_SHARE), max_recent_edits)
        used = sum(len(p) + len(c) + 2 for p, c in edits)
        definitions = self.definition_pieces(
            doc, window_text, start_byte, end_byte, cursor_byte, budget_chars - used)
        # An edit that only repeats a definition already shown says nothing new.
        shown = "\n".join(c for _, c in definitions)
        edits = [(p, c) for p, c in edits if c.strip() not in shown]
        return tuple(definitions) + tuple(edits)

    def definition_pieces(
        self, doc: SyntaxDocument, window_text: str, start_byte: int, end_byte: int, cursor_byte: int,
        budget_chars: int,
    ) -> list[tuple[str, str]]:
        if budget_chars <= 0:
            return []
        targets = self.import_targets(doc)
        sources = self.sources(doc, targets)
        if not sources:
            return []
        names = self.used_names(doc, start_byte, end_byte, cursor_byte)
        for rank, target in enumerate(targets):
            for name in target.names or ():
                local = next((a for a, o in target.aliases if o == name), name)
                names.setdefault(local, _IMPORTED_NAME_DISTANCE + rank)
        candidates: list[tuple[int, int, int, _Source, Site]] = []
        for order, source in enumerate(sources):
            # Names by the name the source defines them under (`from m import a as b`: b is a there).
            wanted = names
            if source.aliases:
                wanted = {}
                for name, distance in names.items():
                    original = source.aliases.get(name, name)
                    wanted[original] = min(distance, wanted.get(original, distance))
            # Set intersections run in C: a window uses hundreds of names, a file defines hundreds.
            hits = source.outline.names.keys() & wanted.keys()
            if source.names is not None:
                hits &= source.names
            for name in hits:
                for site in source.outline.names[name]:
                    candidates.append((source.priority, wanted[name], order, source, site))
            if source.names is None:
                for name in source.outline.members.keys() & wanted.keys():
                    for site in source.outline.members[name]:
                        candidates.append((source.priority + _MEMBER_PENALTY, wanted[name], order, source, site))
        candidates.sort(key=lambda c: (c[0], c[1], c[2], c[4].start_byte))

        # Keyed by (shown path, file): two files may show the same relative path.
        chosen: dict[tuple[str, str], list[tuple[int, str]]] = {}
        seen: set[tuple[str, int]] = set()
        left = budget_chars
        for _, _, _, source, site in candidates:
            if len(seen) >= _MAX_DEFINITIONS:
                break
            ident = (source.key, site.start_byte)
            if ident in seen:
                continue
            text = source.outline.summary(site)
            if not text.strip() or text.strip() in window_text:
                seen.add(ident)
                continue  # the model sees it in the window already
            group = (source.path, source.key)
            cost = len(text) + 2 + (0 if group in chosen else len(source.path) + 2)
            if cost > left:
                continue
            left -= cost
            seen.add(ident)
            chosen.setdefault(group, []).append((site.start_byte, text))
        return [
            (path, "\n\n".join(text for _, text in sorted(parts)))
            for (path, _), parts in sorted(chosen.items())
        ]

    def recent_edit_pieces(
        self, doc: SyntaxDocument, window_text: str, budget_chars: int, max_recent_edits: int,
    ) -> list[tuple[str, str]]:
        picked: list[tuple[str, str]] = []
        left = budget_chars
        records = [r for r in self.store.recent_edits() if r.uri != doc.uri]
        for record in reversed(records):  # newest first, while budget lasts
            if len(picked) >= max_recent_edits:
                break
            other = self.store.get(record.uri)
            if other is None:
                continue
            last_line = other.line_count - 1
            first = max(0, min(record.start_line, last_line) - _EDIT_CONTEXT_LINES)
            last = min(last_line, max(record.end_line, 0) + _EDIT_CONTEXT_LINES)
            if last - first + 1 > _MAX_EDIT_LINES:
                # A long range is shown around where it ends, where typing last happened.
                first = last - _MAX_EDIT_LINES + 1
            snippet = "\n".join(other.line_text(i) for i in range(first, last + 1))
            if not snippet.strip() or snippet.strip() in window_text:
                continue
            path = self._display_path(other.path or other.uri)
            cost = len(snippet) + len(path) + 4
            if cost > left:
                continue
            left -= cost
            picked.append((path, snippet))
        picked.reverse()  # newest last, nearest the cursor's file
        return picked


__all__ = ["CrossFileContext"]
