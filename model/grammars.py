"""tree-sitter grammars from the language pack, shared by the language server and the training data.

Light on purpose (no model code): the language server imports it too.
"""

from __future__ import annotations

from functools import cache

from tree_sitter import Language, Parser


@cache
def grammar(name: str) -> Language | None:
    """The tree-sitter Language, or None when the language pack lacks it."""
    from tree_sitter_language_pack import get_language

    try:
        return get_language(name)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - an unknown name is "no grammar", whatever the pack raises
        return None


def parser_for(name: str) -> Parser | None:
    """A new parser for the grammar (parsers keep state between parses, so each owner gets its own)."""
    lang = grammar(name)
    return Parser(lang) if lang is not None else None
