"""The import statements of a file, found with tree-sitter queries (`import_nodes`), and what
resolving them depends on (`signature`).

Apart from resolution (`codefill.lsp.context.import_resolvers`) because finding statements needs only the tree,
and their signature decides whether resolution (which touches the file system) runs again.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Node, Query, QueryCursor, Tree

from codefill.lsp.languages import grammar

_QUERIES: dict[str, str] = {
    "python": "[(import_statement) (import_from_statement)] @import",
    "javascript": """
        (import_statement source: (string) @source) @import
        (call_expression function: (identifier) @fn arguments: (arguments . (string) @source)
          (#eq? @fn "require")) @require
    """,
    "go": "(import_spec path: (_) @source) @import",
    "java": "(import_declaration) @import (package_declaration) @package",
    "c": "(preproc_include path: (string_literal) @source) @import",
    "rust": "(mod_item) @mod (use_declaration) @use",
}
_QUERIES["typescript"] = _QUERIES["tsx"] = _QUERIES["javascript"]
_QUERIES["cpp"] = _QUERIES["c"]

# Statements that may hold imports one level down (guarded imports, include guards).
_NESTING = frozenset({
    "try_statement", "if_statement", "block", "except_clause", "else_clause",
    "preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "linkage_specification",
    "declaration_list", "lexical_declaration", "variable_declaration", "variable_declarator",
    "expression_statement", "import_declaration", "import_spec_list",
    "ERROR",  # a half-typed line can make the whole module one ERROR node, imports inside it
})


@cache
def _query(language: str) -> Query | None:
    source = _QUERIES.get(language)
    lang = grammar(language)
    return Query(lang, source) if source and lang is not None else None


def import_nodes(language: str | None, tree: Tree | None) -> list[tuple[str, Node]]:
    """(capture name, node) of the import statements near the top of the tree, in source order."""
    if language is None or tree is None:
        return []
    query = _query(language)
    if query is None:
        return []
    found: list[tuple[str, Node]] = []
    # Imports live at the top level (depth-limited, so a long file costs little)
    # or one or two statements down (try/except, include guards).
    roots = [(tree.root_node, 1)]
    roots += [(c, 3) for c in tree.root_node.named_children if c.type in _NESTING]
    seen: set[tuple[int, str]] = set()
    for node, depth in roots:
        cursor = QueryCursor(query)
        cursor.set_max_start_depth(depth)
        for name, nodes in cursor.captures(node).items():
            for n in nodes:
                key = (n.start_byte, name)
                if key not in seen:
                    seen.add(key)
                    found.append((name, n))
    found.sort(key=lambda item: item[1].start_byte)
    return found


def signature(nodes: list[tuple[str, Node]]) -> tuple[str, ...]:
    """What resolution depends on: the text of the import statements."""
    return tuple(f"{name}:{_text(n)}" for name, n in nodes)


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def _unquote(text: str) -> str:
    return text.strip().strip("\"'`<>")
