"""The document and position of a custom request (`codefill/nextEdit`, `textDocument/copilotInlineEdit`),
which pygls hands over as an attribute object or a dict, depending on its version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DocumentPosition:
    uri: str
    line: int
    character: int
    version: int | None  # the document version the client asks about, where it says


def field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def document_position(params: Any) -> DocumentPosition | None:
    """`{"textDocument": {"uri", "version"?}, "position": {"line", "character"}}`; None when malformed."""
    document, position = field(params, "textDocument"), field(params, "position")
    uri, version = field(document, "uri"), field(document, "version")
    line, character = field(position, "line"), field(position, "character")
    if not isinstance(uri, str) or not isinstance(line, int) or not isinstance(character, int):
        return None
    return DocumentPosition(uri, line, character, version if isinstance(version, int) else None)
