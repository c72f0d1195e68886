"""Applies the rules, in order, to a completion that arrives line by line.

Order, per line as it completes:
  a. repeat-suffix (stop where the suffix is being written again)
  c. scope (a single-line request stops at its first newline after content;
     a multi-line one where the code leaves the block at the cursor)
and once the completion has ended:
  b. closing line (drop a trailing closing line the suffix already has)
  d. whitespace (no trailing whitespace)

The rules only ever remove text, and lines never change once complete, so
the runner can also say which part of the output is final while the model
is still writing: that is what lets streaming emit early and stop early.
"""

from __future__ import annotations

from model.postprocess.brackets import add_balance
from model.postprocess.closing_line import (
    could_become_closing_line,
    drop_trailing_closing_line,
    last_nonblank,
    suffix_supplies,
)
from model.postprocess.context import CursorContext
from model.postprocess.repeat_suffix import (
    chars_held_for_right,
    may_still_repeat,
    repeats_next_line,
    runs_into_right,
)
from model.postprocess.scope import BlockScope, ends_single_line
from model.postprocess.whitespace import join_lines, strip_line_end


class RuleRunner:
    def __init__(self, ctx: CursorContext) -> None:
        self._ctx = ctx
        self._lines: list[str] = []  # kept complete lines, as the model wrote them
        self._done_text = ""  # the kept lines joined, each with its line end stripped
        self._line_ends: list[int] = []  # where each kept line ends in _done_text
        self._balance = dict(ctx.prefix_balance)
        self._seen_content = False
        self._scope = BlockScope(ctx)
        self.cut = False  # a rule ended the completion: whatever follows is dropped

    def push_line(self, line: str) -> None:
        """One complete line (a newline followed it)."""
        if self.cut:
            return
        if not self._keep(line):
            return
        if ends_single_line(self._ctx, self._seen_content):
            self.cut = True

    def final_text(self, last_line: str | None) -> str:
        """The output once the completion has ended with `last_line` (None: a rule cut it)."""
        if last_line is not None and not self.cut:
            self._keep(last_line, track_text=False)
        lines = list(self._lines)
        dropped = drop_trailing_closing_line(lines, self._ctx)
        strip_end = self.cut or dropped or self._ctx.cursor_line_ends_at_cursor
        return join_lines(lines, strip_end=strip_end)

    def ends_before(self, partial: str) -> bool:
        """The unfinished line already lies outside the block and will be dropped whole.

        Deciding at its first characters, not at its newline, spares the model
        a whole line of tokens nobody will see.
        """
        if self.cut or not partial.strip():
            return False
        index = len(self._lines)
        full = self._full(index, partial)
        if not self._scope.outside(index, full) or could_become_closing_line(full):
            return False
        self.cut = True
        return True

    def stable_text(self, partial: str) -> str:
        """The part of the output no continuation of the completion can change."""
        committed = self._committed_part(partial)
        if committed:
            return self._done_text + "\n" + committed if self._lines else committed
        # Nothing of the unfinished line is certain, so the output ends in the
        # complete lines, short of a closing line rule b might still drop.
        last = last_nonblank(self._lines)
        if last is not None and suffix_supplies(self._full(last, self._lines[last]), self._ctx):
            last = last_nonblank(self._lines, before=last)
        if last is None:
            return ""
        return self._done_text[: self._line_ends[last]].rstrip()

    # --- internals ---------------------------------------------------------

    def _keep(self, line: str, *, track_text: bool = True) -> bool:
        """Apply rules a and c (block scope) to a complete line; False when the completion ends."""
        index = len(self._lines)
        full = self._full(index, line)
        if repeats_next_line(full, self._ctx):
            self.cut = True
            return False
        ends_here, kept = self._scope.ends_block(index, full)
        if ends_here:
            self.cut = True
            if not kept:
                return False
        self._scope.observe(full)
        at = runs_into_right(line, self._balance, self._ctx)
        if at is not None:
            line = line[:at]
            self.cut = True
        self._lines.append(line)
        if track_text:
            stripped = strip_line_end(line)
            self._done_text = self._done_text + "\n" + stripped if index else stripped
            self._line_ends.append(len(self._done_text))
        add_balance(self._balance, line)
        self._seen_content = self._seen_content or bool(line.strip())
        return not self.cut

    def _committed_part(self, partial: str) -> str:
        """The start of the unfinished line that is sure to stay."""
        full = self._full(len(self._lines), partial)
        if may_still_repeat(full, self._ctx) or self._scope.outside(len(self._lines), full):
            return ""
        # The line may yet end with the text right of the cursor; that repeat
        # would be cut, so its length stays held back.
        body = partial.rstrip()
        certain = partial[: max(0, len(body) - chars_held_for_right(self._ctx))].rstrip()
        # After such a cut, what is left of the line could be a closing line
        # the suffix supplies (rule b), as in "))" cut to ")" before ")".
        if not certain.strip() or may_still_repeat(self._full(len(self._lines), certain), self._ctx):
            return ""
        return certain

    def _full(self, index: int, line: str) -> str:
        """The line as it reads in the file: the first one continues the cursor line."""
        return self._ctx.cursor_left + line if index == 0 else line
