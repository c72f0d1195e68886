"""Applies the rules, in order, to a completion that arrives line by line.

Order, per line as it completes:
  a. repeat-suffix (stop where the suffix is being written again)
  c. scope (a single-line request stops at its first newline after content;
     a multi-line one where the code leaves the block at the cursor)
and once the completion has ended:
  e. syntax (multi-line, with a language: the longest run of whole lines
     that parses with the fewest errors, and no more than the empty hole)
  f. repeat ending (multi-line: drop last lines that are the definition's
     ending in the suffix again)
  b. closing line (drop a trailing closing line the suffix already has)
  d. whitespace (no trailing whitespace)
Each rule can be switched off (`PostprocessOptions.disabled_rules`).

A completion that starts with a newline leaves the cursor line as it is and
writes whole lines: then the rules judge only the lines it wrote (the empty
first line is not "the prefix's last line written again"), and text right of
the cursor (the suffix's first line, as in the santacoder layout where the
suffix starts with the next line's text) becomes a line of its own after the
completion. So that line is compared with its indentation (a "}" closing an
inner block is not the suffix's "}" closing the outer one), and the newline
that ends the completion's last line is kept, or the suffix's line would be
glued onto it.

The rules only ever remove text, and lines never change once complete, so
the runner can also say which part of the output is final while the model
is still writing: that is what lets streaming emit early and stop early.
"""

from __future__ import annotations

from functools import cached_property

from codefill.model.postprocess.brackets import add_balance
from codefill.model.postprocess.closing_line import (
    could_become_closing_line,
    drop_trailing_closing_line,
    last_nonblank,
    suffix_supplies,
)
from codefill.model.postprocess.context import CursorContext
from codefill.model.postprocess.options import PostprocessOptions
from codefill.model.postprocess.repeat_ending import RepeatEnding
from codefill.model.postprocess.repeat_suffix import (
    chars_held_for_right,
    may_still_repeat,
    repeats_next_line,
    runs_into_right,
)
from codefill.model.postprocess.scope import BlockScope, continues_in_whole_lines, ends_single_line
from codefill.model.postprocess.syntax import SyntaxCheck
from codefill.model.postprocess.whitespace import join_lines, strip_line_end


class RuleRunner:
    def __init__(self, ctx: CursorContext, options: PostprocessOptions | None = None,
                 syntax: SyntaxCheck | None = None) -> None:
        options = options or PostprocessOptions()
        self._ctx = ctx
        self._repeat = options.rule_on("repeat_suffix")
        self._closing = options.rule_on("closing_line")
        self._scope_on = options.rule_on("scope")
        self._whitespace = options.rule_on("whitespace")
        self._syntax = syntax if options.rule_on("syntax") else None
        self._ending_on = options.rule_on("repeat_ending")
        self._ending_holds: dict[int, int] = {}  # k -> where lines[:k] may start a repeated ending
        self._multiline = ctx.multiline
        self._lines: list[str] = []  # kept complete lines, as the model wrote them
        self._done_text = ""  # the kept lines joined, each with its line end stripped
        self._line_ends: list[int] = []  # where each kept line ends in _done_text
        self._balance = dict(ctx.prefix_balance)
        self._seen_content = False
        self._scope = BlockScope(ctx, active=ctx.multiline and self._scope_on)
        self._broke_line = False  # the completion's first line is empty: it writes whole lines
        self._last_terminated = False  # a newline followed the last kept line
        self._checked = 0  # lines[:k] judged by the syntax rule, for every k up to this
        # The longest run of lines (with code) that parses with the fewest errors seen,
        # and no more than the empty hole: only ever grows, so what it holds is final.
        self._good = 0
        self._fewest_errors: int | None = None  # the empty hole's, at first (parsed when first needed)
        self.cut = False  # a rule ended the completion: whatever follows is dropped

    @property
    def multiline(self) -> bool:
        """Multi-line, as asked or decided (a single-line guess can turn multi-line)."""
        return self._multiline

    def push_line(self, line: str) -> None:
        """One complete line (a newline followed it)."""
        if self.cut:
            return
        if not self._lines and not line.strip():
            self._broke_line = True
            if self._scope_on and continues_in_whole_lines(self._ctx):
                self._multiline = True
                self._scope.active = True
        if not self._keep(line):
            return
        if self._scope_on and ends_single_line(self._multiline, self._seen_content):
            self.cut = True
            return
        self._judge_syntax(len(self._lines), last_terminated=True)

    def final_text(self, last_line: str | None) -> str:
        """The output once the completion has ended with `last_line` (None: a rule cut it)."""
        if last_line is not None and not self.cut:
            self._keep(last_line, track_text=False, terminated=False)
        lines = list(self._lines)
        terminated = self._last_terminated
        shortened = False
        if self._syntax_applies():
            self._judge_syntax(len(lines), last_terminated=terminated)
            if 0 < self._good < len(lines):
                del lines[self._good:]
                terminated = shortened = True
        if self._ending_applies():
            keep = self._ending_cut(lines, terminated)
            if keep is not None:
                del lines[keep:]
                terminated = shortened = True
        if self._closing and drop_trailing_closing_line(lines, self._ctx, own_line=self._own_line()):
            terminated = shortened = True
        return self._render(lines, terminated=terminated, shortened=shortened or self.cut)

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
        kept = len(self._lines)
        if self._syntax_applies() and self._good:
            # The syntax rule may still go back to the last run of lines that parsed.
            kept, partial = self._good, ""
        if self._ending_applies():
            # Lines a later repeated ending may take with it are not final yet, nor is
            # an unfinished line that may become one of the suffix's lines.
            hold = self._ending_hold(kept)
            if hold < kept:
                kept, partial = hold, ""
            elif kept == len(self._lines) and kept and self._ending.may_become_line(partial):
                partial = ""
        committed = self._committed_part(partial) if kept == len(self._lines) else ""
        if committed:
            return self._done_text + "\n" + committed if self._lines else committed
        # Nothing of the unfinished line is certain, so the output ends in the
        # complete lines, short of a closing line rule b might still drop.
        last = last_nonblank(self._lines, before=kept)
        if (last is not None and self._closing
                and suffix_supplies(self._full(last, self._lines[last]), self._ctx, own_line=self._own_line())):
            last = last_nonblank(self._lines, before=last)
        if last is None:
            return ""
        text = self._done_text[: self._line_ends[last]]
        return text.rstrip() if self._whitespace else text

    # --- internals ---------------------------------------------------------

    def _own_line(self) -> bool:
        """Text right of the cursor lands on a line of its own after the completion."""
        return self._broke_line and self._ctx.right_has_text

    def _keep(self, line: str, *, track_text: bool = True, terminated: bool = True) -> bool:
        """Apply rules a and c (block scope) to a complete line; False when the completion ends."""
        index = len(self._lines)
        full = self._full(index, line)
        # The empty first line of a completion that starts with a newline adds
        # nothing to the cursor line: no rule judges the prefix's own text.
        judged = index > 0 or bool(line.strip())
        if judged and self._repeat and repeats_next_line(full, self._ctx, own_line=self._own_line()):
            self.cut = True
            return False
        ends_here, kept = self._scope.ends_block(index, full) if judged else (False, True)
        if ends_here:
            self.cut = True
            if not kept:
                return False
        self._scope.observe(full)
        at = runs_into_right(line, self._balance, self._ctx, own_line=self._own_line()) if self._repeat else None
        if at is not None:
            line = line[:at]
            self.cut = True
            terminated = False  # the rest of the cursor line follows on the same line
        self._lines.append(line)
        self._last_terminated = terminated
        if track_text:
            stripped = strip_line_end(line) if self._whitespace else line
            self._done_text = self._done_text + "\n" + stripped if index else stripped
            self._line_ends.append(len(self._done_text))
        add_balance(self._balance, line)
        self._seen_content = self._seen_content or bool(line.strip())
        return not self.cut

    def _committed_part(self, partial: str) -> str:
        """The start of the unfinished line that is sure to stay."""
        full = self._full(len(self._lines), partial)
        holds = self._repeat or self._closing
        if (holds and may_still_repeat(full, self._ctx)) or self._scope.outside(len(self._lines), full):
            return ""
        # The line may yet end with the text right of the cursor; that repeat
        # would be cut, so its length stays held back.
        body = partial.rstrip()
        held = chars_held_for_right(self._ctx) if self._repeat else 0
        certain = partial[: max(0, len(body) - held)]
        if self._whitespace:
            certain = certain.rstrip()
        # After such a cut, what is left of the line could be a closing line
        # the suffix supplies (rule b), as in "))" cut to ")" before ")".
        if not certain.strip() or (holds and may_still_repeat(self._full(len(self._lines), certain), self._ctx)):
            return ""
        return certain

    def _full(self, index: int, line: str) -> str:
        """The line as it reads in the file: the first one continues the cursor line."""
        return self._ctx.cursor_left + line if index == 0 else line

    def _ending_applies(self) -> bool:
        return self._ending_on and self._multiline

    @cached_property
    def _ending(self) -> RepeatEnding:
        # Built when first needed: single-line requests never read the suffix's lines.
        return RepeatEnding(self._ctx.suffix)

    def _ending_hold(self, k: int) -> int:
        """Where the lines a repeated ending may still drop start, among lines[:k]."""
        if k not in self._ending_holds:
            hold = self._ending.held_from(self._lines[:k])
            # Blank lines are not emitted before code follows them anyway.
            while hold < k and not self._lines[hold].strip():
                hold += 1
            self._ending_holds[k] = hold
        return self._ending_holds[k]

    def _ending_cut(self, lines: list[str], terminated: bool) -> int | None:
        if not lines:
            return None
        full = [self._full(0, lines[0]), *lines[1:]]
        check = None
        if self._syntax_applies():
            assert self._syntax is not None
            syntax = self._syntax
            whole = syntax.errors(self._render(lines, terminated=terminated, shortened=True))

            def check(k: int) -> bool:
                return syntax.errors(self._render(lines[:k], terminated=True, shortened=True)) <= whole
        return self._ending.cut(full, self._scope.floor, check)

    def _syntax_applies(self) -> bool:
        return self._syntax is not None and self._multiline and self._syntax.readable

    def _judge_syntax(self, upto: int, *, last_terminated: bool) -> None:
        """Check lines[:k] for every k not checked yet, up to `upto`."""
        if not self._syntax_applies():
            return
        assert self._syntax is not None
        while self._checked < upto:
            k = self._checked + 1
            self._checked = k
            if not self._lines[k - 1].strip():
                continue  # a blank line changes nothing: lines[:k] reads as the run before it
            lines = self._lines[:k]
            text = self._render(lines, terminated=k < upto or last_terminated, shortened=True)
            errors = self._syntax.errors(text)
            if self._fewest_errors is None:
                self._fewest_errors = self._syntax.baseline
            if errors <= self._fewest_errors:
                self._fewest_errors, self._good = errors, k

    def _render(self, lines: list[str], *, terminated: bool, shortened: bool) -> str:
        """The output for these kept lines; `terminated`: a newline followed the last one."""
        if not lines:
            return ""
        if self._whitespace:
            strip_end = shortened or self._ctx.cursor_line_ends_at_cursor
            text = join_lines(lines, strip_end=strip_end)
        else:
            text = "\n".join(lines)
        if terminated and self._own_line() and text.strip() and not text.endswith("\n"):
            # The suffix's first line stays a line of its own.
            text += "\n" if text.endswith("\r") else "\r\n" if lines[-1].endswith("\r") else "\n"
        return text
