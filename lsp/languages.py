"""Which tree-sitter grammar a document gets, and how its language writes a comment.

Editors name languages inconsistently (VS Code says "typescriptreact", Neovim
"typescript.tsx", Helix "tsx"), so the LSP languageId is tried first and the
file's extension decides when the id is missing or unknown, by the table the
training data labels files with (model/languages.py).
"""

from __future__ import annotations

from codefill.model.grammars import grammar, parser_for  # noqa: F401 - this module is where lsp/ finds them
from codefill.model.languages import language_of_extension

# LSP languageId -> tree-sitter grammar name
_BY_LANGUAGE_ID: dict[str, str] = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "javascript.jsx": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "typescript.tsx": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cuda": "cpp",
    "objective-c": "objc",
    "csharp": "csharp",
    "ruby": "ruby",
    "php": "php",
    "kotlin": "kotlin",
    "swift": "swift",
    "scala": "scala",
    "lua": "lua",
    "groovy": "groovy",
    "shellscript": "bash",
    "sh": "bash",
    "bash": "bash",
}

# The languages the LSP parses: the ones named above. Other languages the
# extension table knows (json, yaml, markdown, ...) stay plain text here, so an
# open file of theirs is not reparsed on each keystroke and its requests carry
# no `language` (the server's syntax rule stays off for them).
_PARSED: frozenset[str] = frozenset(_BY_LANGUAGE_ID.values())

# Grammars whose files may import each other's definitions (a .ts file
# imports a .js module; a .cpp file includes a .h parsed as C).
LANGUAGE_GROUPS: dict[str, str] = {
    "javascript": "js",
    "typescript": "js",
    "tsx": "js",
    "c": "c",
    "cpp": "c",
}

# Line comment opener (and closer, for languages that only have block comments),
# by language name (a plain-text file's from its extension).
_HASH = ("# ", "")
_SLASHES = ("// ", "")
_COMMENTS: dict[str, tuple[str, str]] = {
    "python": _HASH, "ruby": _HASH, "bash": _HASH, "yaml": _HASH, "toml": _HASH,
    "r": _HASH, "perl": _HASH, "make": _HASH, "dockerfile": _HASH, "elixir": _HASH,
    "javascript": _SLASHES, "typescript": _SLASHES, "tsx": _SLASHES, "go": _SLASHES,
    "rust": _SLASHES, "java": _SLASHES, "c": _SLASHES, "cpp": _SLASHES, "objc": _SLASHES,
    "csharp": _SLASHES, "php": _SLASHES, "kotlin": _SLASHES, "swift": _SLASHES,
    "scala": _SLASHES, "groovy": _SLASHES, "dart": _SLASHES, "zig": _SLASHES,
    "lua": ("-- ", ""), "sql": ("-- ", ""), "haskell": ("-- ", ""),
    "html": ("<!-- ", " -->"), "xml": ("<!-- ", " -->"), "markdown": ("<!-- ", " -->"),
    "css": ("/* ", " */"), "scss": ("// ", ""),
}


def language_for(language_id: str | None, path: str | None) -> str | None:
    """The tree-sitter grammar name for a document, or None for plain text."""
    if language_id:
        name = _BY_LANGUAGE_ID.get(language_id.strip().lower())
        if name is not None and grammar(name) is not None:
            return name
    if path:
        name = language_of_extension(path)
        if name in _PARSED and grammar(name) is not None:
            return name
    return None


def comment_markers(language: str | None, path: str | None = None) -> tuple[str, str]:
    """(opener, closer) to turn one line into a comment; '#' when nothing is known."""
    if language in _COMMENTS:
        return _COMMENTS[language]
    if path:
        by_ext = language_of_extension(path)
        if by_ext in _COMMENTS:
            return _COMMENTS[by_ext]
    return _HASH


def same_group(a: str | None, b: str | None) -> bool:
    """Whether definitions written in language `b` can serve code written in `a`."""
    if a is None or b is None:
        return False
    return a == b or (a in LANGUAGE_GROUPS and LANGUAGE_GROUPS.get(a) == LANGUAGE_GROUPS.get(b))
