"""Block bodies of a source file, found with tree-sitter: the multi-line holes an editor fills.

A body is the code between a header and its end: a function's or class's
body, the body of if/for/while/with/try. It is returned as the range of whole
lines a user would type after pressing Enter at the end of the header line:
in brace languages the lines between `{` and `}` (the editor has already
closed the brace), in Python the indented lines of the block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codefill.jobs.training.languages import parser_for

# Node types that hold a body, across the grammars of the language pack; any
# named node whose type ends in "_body" counts too (class_body, function_body,
# enum_body, constructor_body, ...).
BODY_NODE_TYPES = frozenset({
    "block",  # Python, Go, Rust, Java, C#, Lua, Scala
    "statement_block",  # JavaScript, TypeScript
    "compound_statement",  # C, C++, PHP, bash
    "declaration_list",  # Rust impl/trait/mod, C#, PHP
    "field_declaration_list",  # C/C++/Rust struct, Go struct
    "body_statement",  # Ruby
    "do_group",  # bash loops
    "statements",  # Kotlin, Swift
})
_CLOSERS = frozenset({"}", "};", "})", "});", "},", "end", "end;", "done", "fi", "esac", ")"})
_OPENERS = frozenset({"{", "do", "then", "begin", ":", "=> {", "{|"})


@dataclass(frozen=True)
class LineRange:
    first: int  # 0-based rows, inclusive
    last: int


def is_body_node(node: Any) -> bool:
    return node.is_named and (node.type in BODY_NODE_TYPES or node.type.endswith("_body"))


def block_bodies(text: str, language: str | None, *, min_lines: int = 2) -> list[LineRange] | None:
    """Line ranges of the file's block bodies, in file order; None when there is no grammar."""
    parser = parser_for(language)
    if parser is None:
        return None
    tree = parser.parse(text.encode("utf-8", "surrogatepass"))
    lines = text.split("\n")
    found: set[LineRange] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not is_body_node(node):
            continue
        body = _inner_lines(node, lines)
        if body is not None and body.last - body.first + 1 >= min_lines:
            found.add(body)
    return sorted(found, key=lambda r: (r.first, r.last))


def _inner_lines(node: Any, lines: list[str]) -> LineRange | None:
    # Rows count lines; tree-sitter columns count bytes, so only whole-line
    # text (never a byte column) is compared below.
    start_row, end_row = node.start_point.row, node.end_point.row
    if node.end_point.column == 0 and end_row > start_row:
        end_row -= 1  # a node that ends at a line start owns none of that line
    if end_row >= len(lines):
        return None
    node_text = node.text.decode("utf-8", "replace")
    first_line_rest = node_text.split("\n", 1)[0].strip()
    last_line_part = node_text.rsplit("\n", 1)[-1].strip() if "\n" in node_text else first_line_rest
    header_before = lines[start_row].strip() != first_line_rest

    if first_line_rest in _OPENERS:
        first = start_row + 1  # `{` ends the header line: the body starts on the next
    elif not header_before:
        first = start_row  # Python: the block's first statement opens its own line
    else:
        return None  # code after the opener on the header line: not a hole anyone types into
    if last_line_part in _CLOSERS:
        last = end_row - 1
    elif node_text.rstrip().endswith("}"):
        return None  # `return x; }`: the closer shares a line with code
    else:
        last = end_row
    while first <= last and not lines[first].strip():
        first += 1
    while last >= first and not lines[last].strip():
        last -= 1
    if first > last:
        return None
    return LineRange(first, last)
