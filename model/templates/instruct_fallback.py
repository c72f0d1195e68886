"""Fill the middle with a chat model that has no FIM tokens.

The code is shown with a marker where the hole is, and the model is asked
for the missing code only, in one fenced block. Chat models still tend to
repeat code around the hole, so `extract_fill` cuts the answer back to what
belongs between prefix and suffix.
"""

from __future__ import annotations

import re

FILL_MARKER = "{{FILL_HERE}}"

_SYSTEM = (
    "You are a code completion engine. You are shown a file with one hole marked {marker}. "
    "Reply with exactly the code that replaces {marker}: one fenced code block, without the code "
    "before or after the hole, without the marker, and without any explanation."
)

_OPENING_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n`]*\n", re.MULTILINE)

# A repeat shorter than this (ignoring whitespace) is as likely to be real
# code that happens to match, e.g. a ")" that the fill needs.
_MIN_OVERLAP_CHARS = 3


def build_fill_messages(prefix: str, suffix: str, language: str | None = None) -> list[dict]:
    marker = _unused_marker(prefix + suffix)
    code = prefix + marker + suffix
    fence = _fence_for(code)
    lang = language or ""
    user = (
        f"Fill in {marker} in this {language + ' ' if language else ''}code.\n\n"
        f"{fence}{lang}\n{code}\n{fence}\n\n"
        f"Answer with only the code that replaces {marker}, in one fenced code block."
    )
    return [
        {"role": "system", "content": _SYSTEM.format(marker=marker)},
        {"role": "user", "content": user},
    ]


def extract_fill(answer: str, prefix: str, suffix: str) -> str:
    """The missing code from a chat answer."""
    code = _first_fenced_block(answer)
    if code is None:
        code = answer.strip("\n")
    code = _drop_repeated_prefix(code, prefix)
    return _drop_repeated_suffix(code, suffix)


def _unused_marker(code: str) -> str:
    # A file that already contains the marker (say, this module) gets another one.
    marker, n = FILL_MARKER, 1
    while marker in code:
        marker = f"{{{{FILL_HERE_{n}}}}}"
        n += 1
    return marker


def _fence_for(code: str) -> str:
    """A backtick fence longer than any run of backticks in the code."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    return "`" * max(3, longest + 1)


def _first_fenced_block(answer: str) -> str | None:
    opening = _OPENING_FENCE.search(answer)
    if opening is None:
        return None
    fence = opening.group(1)
    body_start = opening.end()
    closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
    end = closing.search(answer, body_start)
    # No closing fence: the answer was cut off by max_tokens; keep what came.
    body = answer[body_start:end.start()] if end else answer[body_start:]
    return body[:-1] if body.endswith("\n") else body


def _drop_repeated_prefix(code: str, prefix: str) -> str:
    """Remove the start of `code` that repeats the end of `prefix`."""
    k = _overlap(prefix, code)
    return code[k:] if _substantial(code[:k]) else code


def _drop_repeated_suffix(code: str, suffix: str) -> str:
    """Remove the end of `code` that repeats the start of `suffix`."""
    body = code.rstrip()
    k = _overlap(body, suffix)
    if _substantial(body[len(body) - k:]):
        return body[: len(body) - k]
    # Models often change the blank lines between the fill and the code after
    # it; then the whitespace before the repeat stands for the suffix's own.
    k = _overlap(body, suffix.lstrip())
    if _substantial(body[len(body) - k:]):
        return body[: len(body) - k].rstrip()
    return code


def _overlap(left: str, right: str) -> int:
    """The length of the longest end of `left` that is also a start of `right`."""
    for k in range(min(len(left), len(right)), 0, -1):
        if left.endswith(right[:k]):
            return k
    return 0


def _substantial(repeat: str) -> bool:
    return len(repeat.strip()) >= _MIN_OVERLAP_CHARS
