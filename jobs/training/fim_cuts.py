"""Where to cut a file into prefix / middle / suffix, the way editors ask for completions.

- inline: the cursor sits inside a line's code, and the middle runs from it to a
  random point later on that line (the rest stays in the suffix, like the `)`
  an editor has already closed) or, half the time, to the line's end;
- line_end: the cursor sits at the start of a line's code, after the
  indentation the editor has typed, and the middle is the whole line;
- block: the body of a function, class or if/for/while/with/try block, found
  with tree-sitter (`codefill.jobs.training.blocks`); the cursor sits where the user
  lands after pressing Enter at the end of the header;
- lines: a few whole lines from a random line, for the same multi-line
  completion where no grammar is available or the file has no multi-line body.

A middle never includes the newline that ends its last line, nor trailing
spaces: the suffix keeps them, as it does in the editor.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from codefill.jobs.training.blocks import LineRange, block_bodies

INLINE = "inline"
LINE_END = "line_end"
BLOCK = "block"
LINES = "lines"
PLAIN = "plain"
FIM_KINDS = (INLINE, LINE_END, BLOCK)  # what a caller asks for; BLOCK becomes LINES without a grammar
ALL_KINDS = (INLINE, LINE_END, BLOCK, LINES, PLAIN)

MIN_FALLBACK_LINES = 2
MAX_FALLBACK_LINES = 8


@dataclass(frozen=True)
class Cut:
    start: int  # character offsets into the text: the middle is text[start:end]
    end: int
    kind: str


class FileLines:
    """A file's lines with their character offsets, and its block bodies (parsed once)."""

    def __init__(self, text: str, language: str | None) -> None:
        self.text = text
        self.language = language
        self.lines = text.split("\n")
        self.starts: list[int] = []
        offset = 0
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line) + 1
        self.code_rows = [i for i, line in enumerate(self.lines) if line.strip()]
        self._bodies: list[LineRange] | None | bool = False  # False: not parsed yet

    def indent_end(self, row: int) -> int:
        line = self.lines[row]
        return self.starts[row] + len(line) - len(line.lstrip())

    def content_end(self, row: int) -> int:
        return self.starts[row] + len(self.lines[row].rstrip())

    @property
    def bodies(self) -> list[LineRange] | None:
        if self._bodies is False:
            self._bodies = block_bodies(self.text, self.language)
        return self._bodies  # type: ignore[return-value]


def inline_cut(f: FileLines, rng: random.Random) -> Cut | None:
    rows = [r for r in f.code_rows if f.content_end(r) - f.indent_end(r) >= 2]
    if not rows:
        return None
    row = rng.choice(rows)
    first, stop = f.indent_end(row), f.content_end(row)
    cursor = rng.randint(first + 1, stop - 1)  # after at least one typed character, before the line's end
    end = stop if rng.random() < 0.5 else rng.randint(cursor + 1, stop)
    return Cut(cursor, end, INLINE)


def line_end_cut(f: FileLines, rng: random.Random) -> Cut | None:
    if not f.code_rows:
        return None
    row = rng.choice(f.code_rows)
    return Cut(f.indent_end(row), f.content_end(row), LINE_END)


def block_cuts(f: FileLines) -> list[Cut]:
    """Every multi-line body of the file, as a cut; empty without a grammar or bodies."""
    return [Cut(f.indent_end(b.first), f.content_end(b.last), BLOCK) for b in f.bodies or ()]


def lines_cut(f: FileLines, rng: random.Random) -> Cut | None:
    rows = f.code_rows
    if len(rows) < MIN_FALLBACK_LINES:
        return None
    i = rng.randrange(len(rows) - MIN_FALLBACK_LINES + 1)
    j = min(i + rng.randint(MIN_FALLBACK_LINES, MAX_FALLBACK_LINES), len(rows)) - 1
    return Cut(f.indent_end(rows[i]), f.content_end(rows[j]), LINES)
