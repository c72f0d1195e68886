"""Rule e, syntax: a multi-line completion ends where the code still parses.

The syntax-aware truncation of the SAFIM benchmark (Gong et al., 2024): of
the completion's whole lines, keep the longest run from its start such that
prefix + those lines + suffix parses (tree-sitter) with no more ERROR or
MISSING nodes than prefix + suffix with nothing between, and with the fewest
such nodes of all the runs (an empty hole is often an error itself, as an
`if x:` with no body: a run that mends it and breaks something else is not
as good as the shorter run that only mends it). A half-written last line
(the token limit), an `if x:` left without its body, a brace opened and
never closed: each parses worse than the run before it, so it goes.

It only shortens what the other rules kept, and when no run of lines parses
as well as the empty hole (the file has errors the completion cannot mend,
or the grammar reads it differently) it cannot be sure and keeps the text.
Needs the language: `PostprocessOptions.language`, a tree-sitter grammar
name (`grammar_name` maps editor language ids and file extensions to one).
"""

from __future__ import annotations

from functools import cache

from codefill.model.languages import language_of_extension

# Only this much text around the cursor is parsed: errors far from the hole
# count the same with and without the completion, and parsing stays cheap
# (prefix + suffix is parsed once; each complete line of a completion costs
# an incremental reparse).
WINDOW_LINES = 1000
# A file that parses with more errors than this without the completion is one
# the grammar does not read well (macros, templates, another dialect): its
# error counts say little about the completion, so the rule keeps the text.
MAX_BASELINE_ERRORS = 3

# editor language id or common name -> tree-sitter grammar name
_NAMES: dict[str, str] = {
    "python": "python", "py": "python",
    "javascript": "javascript", "js": "javascript", "javascriptreact": "javascript", "jsx": "javascript",
    "javascript.jsx": "javascript", "node": "javascript",
    "typescript": "typescript", "ts": "typescript", "typescriptreact": "tsx", "typescript.tsx": "tsx",
    "tsx": "tsx",
    "go": "go", "golang": "go",
    "rust": "rust", "rs": "rust",
    "java": "java",
    "c": "c", "cpp": "cpp", "c++": "cpp", "cxx": "cpp", "cuda": "cpp",
    "csharp": "csharp", "c#": "csharp", "cs": "csharp",
    "ruby": "ruby", "rb": "ruby",
    "php": "php", "kotlin": "kotlin", "swift": "swift", "scala": "scala", "lua": "lua",
    "shellscript": "bash", "sh": "bash", "bash": "bash", "shell": "bash",
}
# The languages a path's extension may turn the rule on for: the ones named above. The shared
# table also names formats and languages (yaml, markdown, objc, ...) the rule was never tried
# on; a path of theirs leaves it off, so a grammar that reads them badly cuts no completion.
_PARSED: frozenset[str] = frozenset(_NAMES.values())


def grammar_name(language: str | None, path: str | None = None) -> str | None:
    """The tree-sitter grammar for a request's language (a grammar name or an editor's
    language id) or, failing that, its file's extension; None when neither names one we ship."""
    candidates = []
    if language:
        key = language.strip().lower()
        candidates.append(_NAMES.get(key, key))
    if path:
        by_ext = language_of_extension(path)
        if by_ext in _PARSED:
            candidates.append(by_ext)
    for name in candidates:
        if _has_grammar(name):
            return name
    return None


@cache
def _has_grammar(name: str) -> bool:
    from codefill.model.grammars import grammar

    return grammar(name) is not None


def count_errors(tree) -> int:  # noqa: ANN001 - a tree_sitter.Tree
    """ERROR and MISSING nodes in a parse tree."""
    root = tree.root_node
    if not root.has_error:
        return 0
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_missing or node.type == "ERROR":
            count += 1
        stack.extend(child for child in node.children if child.has_error or child.is_missing)
    return count


# Grammars that accept a block with nothing in it where the language does not:
# tree-sitter-python reads `for x in y:` with no body as an empty `block`.
_EMPTY_BLOCK_QUERIES = {"python": "(block) @block"}


@cache
def _empty_block_query(language: str):  # noqa: ANN202 - a tree_sitter.Query or None
    source = _EMPTY_BLOCK_QUERIES.get(language)
    if source is None:
        return None
    from tree_sitter import Query

    from codefill.model.grammars import grammar

    lang = grammar(language)
    return None if lang is None else Query(lang, source)


class SyntaxCheck:
    """How many syntax errors prefix + text + suffix has, against prefix + suffix.

    prefix + suffix is parsed once; each text is an edit of that tree (an
    insertion at the cursor), which tree-sitter reparses incrementally.
    """

    def __init__(self, prefix: str, suffix: str, language: str) -> None:
        from codefill.model.grammars import parser_for

        parser = parser_for(language)
        if parser is None:
            raise ValueError(f"no tree-sitter grammar {language!r}")
        self._parser = parser
        self._empty_blocks = _empty_block_query(language)
        self._before = _last_lines(prefix, WINDOW_LINES).encode("utf-8", "surrogatepass")
        self._after = _first_lines(suffix, WINDOW_LINES).encode("utf-8", "surrogatepass")
        self._at = len(self._before)
        self._at_point = _end_point(self._before, (0, 0))
        self._tree = None
        self._baseline: int | None = None

    @property
    def readable(self) -> bool:
        """The grammar reads the file around the cursor well enough to judge by its errors."""
        return self.baseline <= MAX_BASELINE_ERRORS

    @property
    def baseline(self) -> int:
        """Errors with nothing between prefix and suffix."""
        if self._baseline is None:
            self._tree = self._parser.parse(self._before + self._after)
            self._baseline = self._count(self._tree, 0)
        return self._baseline

    def errors(self, text: str) -> int:
        if not text:
            return self.baseline
        self.baseline  # noqa: B018 - parses prefix + suffix, the tree every text edits
        inserted = text.encode("utf-8", "surrogatepass")
        tree = self._tree.copy()
        end = self._at + len(inserted)
        tree.edit(start_byte=self._at, old_end_byte=self._at, new_end_byte=end,
                  start_point=self._at_point, old_end_point=self._at_point,
                  new_end_point=_end_point(inserted, self._at_point))
        tree = self._parser.parse(self._before + inserted + self._after, tree)
        return self._count(tree, len(inserted))

    def _count(self, tree, inserted: int) -> int:  # noqa: ANN001 - a tree_sitter.Tree
        count = count_errors(tree)
        if self._empty_blocks is not None:
            from tree_sitter import QueryCursor

            # Empty blocks away from the hole are the same with any text in it.
            cursor = QueryCursor(self._empty_blocks)
            cursor.set_byte_range(max(0, self._at - _NEAR), self._at + inserted + _NEAR)
            found = cursor.captures(tree.root_node)
            count += sum(1 for nodes in found.values() for n in nodes if n.start_byte == n.end_byte)
        return count


_NEAR = 64  # bytes around the inserted text where an empty block counts


def _end_point(text: bytes, start: tuple[int, int]):  # noqa: ANN202 - a tree_sitter.Point
    """Where `text` ends when it starts at `start` (row, byte column)."""
    from tree_sitter import Point

    lines = text.count(b"\n")
    if not lines:
        return Point(start[0], start[1] + len(text))
    return Point(start[0] + lines, len(text) - text.rfind(b"\n") - 1)


def _last_lines(text: str, n: int) -> str:
    at = len(text)
    for _ in range(n):
        at = text.rfind("\n", 0, at)
        if at < 0:
            return text
    return text[at + 1:]


def _first_lines(text: str, n: int) -> str:
    at = -1
    for _ in range(n):
        at = text.find("\n", at + 1)
        if at < 0:
            return text
    return text[:at]
