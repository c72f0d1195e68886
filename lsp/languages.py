"""Which tree-sitter grammar a document gets, and how its language writes a comment.

Editors name languages inconsistently (VS Code says "typescriptreact", Neovim
"typescript.tsx", Helix "tsx"), so the LSP languageId is tried first and the
file's extension decides when the id is missing or unknown.
"""

from __future__ import annotations

import os

from model.grammars import grammar, parser_for  # noqa: F401 - this module is where lsp/ finds them

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
    "shellscript": "bash",
    "sh": "bash",
    "bash": "bash",
}

# file extension (lower case, with the dot) -> tree-sitter grammar name
_BY_EXTENSION: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cu": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".lua": "lua",
    ".sh": "bash",
    ".bash": "bash",
}

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
# by tree-sitter name or by extension for plain-text files.
_HASH = ("# ", "")
_SLASHES = ("// ", "")
_COMMENTS: dict[str, tuple[str, str]] = {
    "python": _HASH, "ruby": _HASH, "bash": _HASH, "yaml": _HASH, "toml": _HASH,
    "r": _HASH, "perl": _HASH, "make": _HASH, "dockerfile": _HASH, "elixir": _HASH,
    "javascript": _SLASHES, "typescript": _SLASHES, "tsx": _SLASHES, "go": _SLASHES,
    "rust": _SLASHES, "java": _SLASHES, "c": _SLASHES, "cpp": _SLASHES, "objc": _SLASHES,
    "csharp": _SLASHES, "php": _SLASHES, "kotlin": _SLASHES, "swift": _SLASHES,
    "scala": _SLASHES, "dart": _SLASHES, "zig": _SLASHES,
    "lua": ("-- ", ""), "sql": ("-- ", ""), "haskell": ("-- ", ""),
    "html": ("<!-- ", " -->"), "xml": ("<!-- ", " -->"), "markdown": ("<!-- ", " -->"),
    "css": ("/* ", " */"), "scss": ("// ", ""),
}
_COMMENTS_BY_EXTENSION: dict[str, str] = {
    ".yml": "yaml", ".yaml": "yaml", ".toml": "toml", ".r": "r", ".pl": "perl",
    ".sql": "sql", ".hs": "haskell", ".html": "html", ".htm": "html", ".xml": "xml",
    ".md": "markdown", ".css": "css", ".scss": "scss", ".dart": "dart", ".zig": "zig",
    ".ex": "elixir", ".exs": "elixir", ".mk": "make",
}


def language_for(language_id: str | None, path: str | None) -> str | None:
    """The tree-sitter grammar name for a document, or None for plain text."""
    if language_id:
        name = _BY_LANGUAGE_ID.get(language_id.strip().lower())
        if name is not None and grammar(name) is not None:
            return name
    if path:
        name = _BY_EXTENSION.get(os.path.splitext(path)[1].lower())
        if name is not None and grammar(name) is not None:
            return name
    return None


def comment_markers(language: str | None, path: str | None = None) -> tuple[str, str]:
    """(opener, closer) to turn one line into a comment; '#' when nothing is known."""
    if language in _COMMENTS:
        return _COMMENTS[language]
    if path:
        ext = os.path.splitext(path)[1].lower()
        by_ext = _COMMENTS_BY_EXTENSION.get(ext) or _BY_EXTENSION.get(ext)
        if by_ext in _COMMENTS:
            return _COMMENTS[by_ext]
    return _HASH


def same_group(a: str | None, b: str | None) -> bool:
    """Whether definitions written in language `b` can serve code written in `a`."""
    if a is None or b is None:
        return False
    return a == b or (a in LANGUAGE_GROUPS and LANGUAGE_GROUPS.get(a) == LANGUAGE_GROUPS.get(b))
