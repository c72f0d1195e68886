"""Whether the completion at the cursor should be one line or a block, from the syntax around it.

An empty block body (after `def f():`, between `{` and `}`) wants a whole body;
a cursor inside a line that has code wants that line finished. Anything else
(a blank line between statements) is left to the server's own rule.
"""

from __future__ import annotations

import re

from codefill.lsp.context.grammar_nodes import spec_for
from codefill.lsp.documents import SyntaxDocument

# Right of the cursor, only the closing half of what the line opened.
_ONLY_CLOSERS = re.compile(r"[\s)\]}>;,'\"`]*")


def _openers(doc: SyntaxDocument) -> tuple[str, ...]:
    # ':' opens a block only where indentation delimits blocks; in C-like
    # languages it ends a label or a `case`, and `(`/`[` open arguments, not bodies.
    spec = spec_for(doc.language)
    return ("{",) if spec is not None and spec.braces else ("{", ":")


def multiline_hint(doc: SyntaxDocument, offset: int, line_prefix: str, line_suffix: str) -> bool | None:
    if not _ONLY_CLOSERS.fullmatch(line_suffix):
        return False  # code right of the cursor: finish this line
    left = line_prefix.rstrip()
    if left:
        # `def f():|` or `{|}`: a block opened on this line and still empty.
        if left.endswith(_openers(doc)) and _opener_is_code(doc, offset - (len(line_prefix) - len(left)) - 1):
            return _block_is_empty(doc, offset, left, line_suffix)
        return False
    # A blank line: is it the only line of a block that was just opened?
    index = doc.index
    line = index.line_of(offset)
    above = _neighbour(doc, line, -1)
    if above is None:
        return None
    above_line, above_text = above
    opener = above_text.rstrip()
    if not opener.endswith(_openers(doc)):
        return None
    opener_offset = index.line_start(above_line) + len(opener) - 1
    if not _opener_is_code(doc, opener_offset):
        return None
    return True if _block_is_empty(doc, offset, opener, line_suffix) else None


def _neighbour(doc: SyntaxDocument, line: int, step: int) -> tuple[int, str] | None:
    """The nearest non-blank line above (step -1) or below (step 1), within a few lines."""
    for candidate in range(line + step, line + step * 50, step):
        if candidate < 0 or candidate >= doc.line_count:
            return None
        text = doc.line_text(candidate)
        if text.strip():
            return candidate, text
    return None


def _opener_is_code(doc: SyntaxDocument, offset: int) -> bool:
    """The character is a real token, not part of a string or comment (unknown without a tree)."""
    tree = doc.tree
    spec = spec_for(doc.language)
    if tree is None or spec is None or offset < 0:
        return True
    byte = doc.byte_offset(offset)
    node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
    if node is None:
        return True
    return not (node.is_named and (node.type in spec.comments or "string" in node.type))


def _block_is_empty(doc: SyntaxDocument, offset: int, opener_line: str, line_suffix: str) -> bool:
    """Nothing but closers (or code outdented below the opener) follows the cursor."""
    closer = opener_line[-1]
    if line_suffix.strip():
        # `{|}`: the block closes on the cursor's line.
        return True
    index = doc.index
    below = _neighbour(doc, index.line_of(offset), 1)
    if below is None:
        return True
    text = below[1]
    if closer == ":":
        # Indentation blocks: the next code is not deeper than the opener's line.
        return _indent(text) <= _indent(opener_line)
    return text.lstrip().startswith("}")


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
