"""Rule a, repeat-suffix: stop where the completion starts writing the suffix again.

A model that does not know where the hole ends writes on past it,
reproducing code that already follows the cursor. Two signs of that:
- a completion line equal (ignoring surrounding whitespace) to the suffix's
  first non-blank line: cut from the start of that line. Closers and short
  lines such as "}" or "else:" must also sit at the same indentation, as
  they recur at every nesting level;
- a completion line that ends with the text right of the cursor (say
  ", b)" before ")"): the model ran into the cursor line's own ending; cut
  just before the repeat.
"""

from __future__ import annotations

import re

from codefill.model.postprocess.brackets import PAIRS, bracket_balance
from codefill.model.postprocess.closing_line import indentation, is_closing_line
from codefill.model.postprocess.context import CursorContext

# Lines up to this long are compared with their indentation (see above).
_SHORT_LINE_CHARS = 12
# Text right of the cursor that is only closing brackets and separators,
# such as ")" or "]);": writing it again may be a duplicate or may close a
# bracket the completion itself opened, so brackets are counted to decide.
_CLOSER_RUN = re.compile(r"[\s)\]};,:]*[)\]}][\s)\]};,:]*")


def repeats_next_line(full_line: str, ctx: CursorContext, *, own_line: bool = False) -> bool:
    """`full_line` (as it will read in the file) is the suffix's next line again.

    `own_line`: the completion started a new line, so text right of the
    cursor will start a line of its own, and its indentation counts too.
    """
    target = ctx.next_line
    if target is None or not full_line.strip() or full_line.strip() != target.strip():
        return False
    if _recurs_at_many_levels(target) and (own_line or not ctx.next_line_is_right):
        # A lone "}" or "else:" at another indentation belongs to another block.
        return indentation(full_line) == indentation(target)
    return True


def _recurs_at_many_levels(line: str) -> bool:
    """Closers and short lines ("else:", "break") appear at every nesting level."""
    return is_closing_line(line) or len(line.strip()) <= _SHORT_LINE_CHARS


def runs_into_right(line: str, balance_before: dict[str, int], ctx: CursorContext, *,
                    own_line: bool = False) -> int | None:
    """Where in `line` the repeat of the cursor line's ending starts, if it is one.

    `own_line`: the completion started a new line, so the text right of the
    cursor will follow on a line of its own; a whole line like it is then a
    line at some indentation (`repeats_next_line` judges it), not a run into it.
    """
    right = ctx.right_stripped
    body = line.rstrip()
    if not right or not body.endswith(right):
        return None
    if own_line and body.strip() == right:
        return None
    if _CLOSER_RUN.fullmatch(right):
        total = dict(balance_before)
        for close, n in bracket_balance(line + right).items():
            total[close] += n
        closed_by_right = [c for c in PAIRS if c in right]
        if all(total[c] >= 0 for c in closed_by_right):
            return None  # every closer is needed: the completion closed its own bracket
    return len(body) - len(right)


def may_still_repeat(full_partial: str, ctx: CursorContext) -> bool:
    """An unfinished line that could still turn out to be the suffix's next line.

    Also covers rule b: a closing line the suffix supplies begins the same way.
    """
    if ctx.next_line is None:
        return False
    started = full_partial.strip()
    return not started or ctx.next_line.strip().startswith(started)


def chars_held_for_right(ctx: CursorContext) -> int:
    """How many characters at the end of an unfinished line may still be cut."""
    return len(ctx.right_stripped)
