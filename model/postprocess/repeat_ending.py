"""Rule f, repeat ending: drop the last lines when they are the definition's ending again.

A model asked for lines in the middle of a function often finishes the job
and then writes the function's last lines too (`return result`, the final
`if`/`else`), which the suffix already has: the editor would show them
twice and the program would return early. Rule a catches a repeat of the
suffix's NEXT line only; this one the repeat of its LAST lines, which the
model reaches by skipping the code in between.

The completion's trailing lines are dropped when all of them, in order and
at the same indentation, are a run of suffix lines that ends the definition
holding the cursor (after the run, the suffix leaves the definition or
ends). Never the first line (a one-line answer that happens to equal the
function's last line is kept), never a cut that leaves a block opener
without its body or brackets that the dropped lines closed, and, with the
language known, never one that parses worse than the whole completion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from codefill.model.postprocess.brackets import bracket_balance
from codefill.model.postprocess.closing_line import last_nonblank
from codefill.model.postprocess.scope import ends_with_block_opener, indent_width

# Only this many suffix lines are searched: the definition's end is near in a real file,
# and the search stays cheap on every line of a long completion.
SUFFIX_LINES = 400


class RepeatEnding:
    def __init__(self, suffix: str) -> None:
        # The suffix as lines, the cursor line's rest dropped: it is not a line of its own.
        self._suffix = [line.rstrip() for line in suffix.split("\n", SUFFIX_LINES + 1)[1:SUFFIX_LINES + 1]]
        self._where: dict[str, list[int]] = {}
        for at, line in enumerate(self._suffix):
            self._where.setdefault(line, []).append(at)

    def held_from(self, lines: Sequence[str]) -> int:
        """The first of `lines` that later lines could still make part of a repeated
        ending; len(lines): none. Lines before it can no longer be dropped by this rule."""
        for first in range(1, len(lines)):
            if self._runs(lines[first:], floor=None):
                return first
        return len(lines)

    def may_become_line(self, partial: str) -> bool:
        """An unfinished line that could still turn out to be one of the suffix's lines."""
        started = partial.rstrip()
        return any(line.startswith(started) for line in self._suffix)

    def cut(self, lines: Sequence[str], floor: int | None,
            parses_no_worse: Callable[[int], bool] | None = None) -> int | None:
        """How many of `lines` (the first one as it reads in the file) to keep, or None to
        keep them all; `floor`: the least indentation still inside the definition."""
        if floor is None:
            return None
        for start in range(1, len(lines)):
            tail = lines[start:]
            if not any(line.strip() for line in tail) or not self._runs(tail, floor=floor):
                continue
            kept = last_nonblank(lines, before=start)
            if kept is None or ends_with_block_opener(lines[kept]):
                return None
            if any(n < 0 for n in bracket_balance("\n".join(tail)).values()):
                return None  # the dropped lines close brackets the kept ones opened
            if parses_no_worse is not None and not parses_no_worse(start):
                return None
            return start
        return None

    def _runs(self, tail: Sequence[str], *, floor: int | None) -> bool:
        """`tail` stands in the suffix as a run of lines; with `floor`, one after which the
        suffix leaves the definition (its next line with code is indented less) or ends."""
        want = [line.rstrip() for line in tail]
        n = len(want)
        for at in self._where.get(want[0], ()):
            if self._suffix[at:at + n] == want and (floor is None or self._leaves(at + n, floor)):
                return True
        return False

    def _leaves(self, after: int, floor: int) -> bool:
        for line in self._suffix[after:]:
            if line.strip():
                return indent_width(line) < floor
        return True

