"""Get the program out of a chat model's reply.

Chat models answer in Markdown: some prose, one or more fenced code blocks
(the solution, often followed by an "example usage" block), more prose.
`extract_code` picks, in this order:

1. the first Python fenced block (```python, ```py, ```python3 or a bare ```)
   that defines the entry point at top level (``def NAME(``, ``class NAME``,
   ``NAME =``);
2. else the first Python fenced block (not the first that merely mentions the
   entry point: that is usually the "example usage" block after a solution
   written as a bare function body);
3. else the first fenced block of any language;
4. else the whole reply.

A block whose closing fence never came (the reply stopped at `max_tokens`)
runs to the end of the reply. A block keeps its indentation: a model that
answers with a bare function body must still get a program that parses once
the signature is put before it.

`drop_main_guard` removes top-level ``if __name__ == "__main__":`` blocks: the
test program runs as a script, so a model's demo code (prints, ``input()``,
asserts of its own) would run before the benchmark's tests and could fail a
correct solution.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# An opening fence at the start of a line: three or more backticks, then an
# optional language tag. The closing fence is a line of at least as many backticks.
_OPEN_FENCE = re.compile(r"^[ \t]*(`{3,})[ \t]*([\w+.#-]*)[^\n]*\n", re.MULTILINE)
PYTHON_TAGS = frozenset({"", "python", "py", "python3", "py3"})


@dataclass(frozen=True)
class FencedBlock:
    language: str  # lower-cased tag after the fence, "" when bare
    code: str
    closed: bool  # False when the reply ended inside the block
    start: int  # where the block's lines begin in the text (after the opening fence's line)
    end: int  # where they end (the closing fence, or the end of the text)

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON_TAGS


def fenced_blocks(text: str) -> list[FencedBlock]:
    """The fenced code blocks of a Markdown text, in order."""
    blocks: list[FencedBlock] = []
    pos = 0
    while (opening := _OPEN_FENCE.search(text, pos)) is not None:
        ticks, language = opening.group(1), opening.group(2).lower()
        closing = re.compile(rf"^[ \t]*{ticks}`*[ \t]*$", re.MULTILINE).search(text, opening.end())
        end = len(text) if closing is None else closing.start()
        blocks.append(FencedBlock(language, _trim_blank_lines(text[opening.end():end]), closing is not None,
                                  opening.end(), end))
        if closing is None:
            break
        pos = closing.end()
    return blocks


def _trim_blank_lines(code: str) -> str:
    """Drop blank lines at both ends, keep the first line's indentation, end with a newline."""
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip("\r") for line in lines) + "\n" if lines else ""


def defines(code: str, name: str) -> bool:
    """Whether `code` defines `name` at top level (a function, a class or an assignment)."""
    n = re.escape(name)
    pattern = rf"^(?:(?:async[ \t]+)?def[ \t]+{n}[ \t]*\(|class[ \t]+{n}\b|{n}[ \t]*(?::[^=\n]*)?=(?!=))"
    return re.search(pattern, code, re.MULTILINE) is not None


def extract_code(reply: str, entry_point: str | None = None) -> str:
    """The code to run from a chat reply (see the module docstring for the order)."""
    blocks = fenced_blocks(reply)
    python = [b for b in blocks if b.is_python and b.code.strip()]
    if entry_point:
        for b in python:
            if defines(b.code, entry_point):
                return b.code
    if python:
        return python[0].code
    nonempty = [b for b in blocks if b.code.strip()]
    if nonempty:
        return nonempty[0].code
    return reply


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    sides = [test.left, *test.comparators]
    return (len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


def drop_main_guard(code: str) -> str:
    """`code` without its top-level ``if __name__ == "__main__":`` blocks.

    Code that does not parse is returned unchanged (it fails on its own)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    guards = [node for node in tree.body if _is_main_guard(node)]
    if not guards:
        return code
    # split on "\n" only, as the parser counts lines (str.splitlines also splits on \f, \v, ...)
    lines = code.split("\n")
    for node in reversed(guards):  # from the end, so earlier line numbers stay valid
        end = node.end_lineno if node.end_lineno is not None else len(lines)
        del lines[node.lineno - 1:end]
    return "\n".join(lines)
