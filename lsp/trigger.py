"""When to ask the model, and for how much.

Completing in the middle of existing code mostly produces text that fights the
code right of the cursor, so automatic requests are skipped there; closing
brackets, quotes and separators do not count, as editors auto-insert them
(`print(|)` must still complete). A manual (invoked) request always goes.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSING_CHARACTERS = frozenset(")]}\"'`;,")


@dataclass(frozen=True)
class TriggerDecision:
    allowed: bool
    reason: str  # for logs


def code_right_of_cursor(line_suffix: str) -> int:
    """How many characters right of the cursor are neither whitespace nor closing."""
    return sum(1 for ch in line_suffix if not ch.isspace() and ch not in CLOSING_CHARACTERS)


def decide(line_suffix: str, *, invoked: bool, max_right_chars: int) -> TriggerDecision:
    if invoked:
        return TriggerDecision(True, "invoked by the user")
    count = code_right_of_cursor(line_suffix)
    if count > max_right_chars:
        return TriggerDecision(False, f"{count} code characters right of the cursor (limit {max_right_chars})")
    return TriggerDecision(True, "automatic")


def multiline_for(syntax_hint: bool | None, *, server_decides: bool) -> bool | None:
    """Single- (False) or multi-line (True) completion, from the context's syntax hint
    (True at an empty block body). Without a hint, codefill serve decides from the same
    code (None); a raw-template server cannot, so the safe single line is asked for."""
    if syntax_hint is not None:
        return syntax_hint
    return None if server_decides else False
