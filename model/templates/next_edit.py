"""Next-edit prompts: the editable window, the cursor, the recent edits and context files in the
layout a model family reads, and the rewritten window cut back out of the model's answer.

Two formats, one contract (`NextEditFormat`):

- `codefill`, our own: the one `codefill train --next-edit` is to train on, and laid out so that
  an instruct model follows it zero-shot: an instruction, the recent edits as unified diffs, the
  context files, then the window between `<|editable_region_start|>` and
  `<|editable_region_end|>` with `<|user_cursor_is_here|>` at the cursor. A model with a chat
  template gets it as a system and a user message, and the assistant's reply is prefilled with
  the start marker, so the reply is the region itself. A base model gets the same text, plain.
- `zeta`, Zed's Zeta (1) as published (its instruction, "User edited" diffs, the excerpt, then
  "### Response:"), for models trained on it.

The markers are plain text here (no vocabulary has them as tokens); client text that spells
one cannot end the region early in the prompt's encoding, since client text is always encoded
as text (model/templates/encoding.py), but it can confuse the model: a known limit.

The window goes into the prompt verbatim, and the answer copies most of it: vLLM's n-gram
prompt-lookup speculation (on by default) drafts the answer from the prompt, so an unchanged
line costs about one forward pass per draft, not one per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codefill.model.templates.chat import encode_chat
from codefill.model.templates.encoding import encode_text
from codefill.model.templates.fim_prompt import ContextFile

REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"
START_OF_FILE = "<|start_of_file|>"  # Zeta: the excerpt begins at the top of the file


@dataclass(frozen=True)
class EditEvent:
    """One recent edit: the file and a unified diff of it (oldest first in a request)."""

    path: str
    diff: str


@dataclass(frozen=True)
class NextEditInput:
    window: str  # whole lines of the document, as they are now
    cursor: int  # string index into `window`
    path: str | None = None
    language: str | None = None
    start_line: int = 0  # the window's first line in the document (Zeta marks the top of the file)
    events: Sequence[EditEvent] = ()
    files: Sequence[ContextFile] = ()


class NextEditFormat:
    """A family's next-edit prompt: `encode` gives the prompt's token ids, `extract` the
    rewritten window out of the generated text (None: the answer never closed the region)."""

    name: str = ""
    stop: tuple[str, ...] = (REGION_END,)

    def encode(self, tokenizer: Any, inp: NextEditInput) -> list[int]:
        raise NotImplementedError

    def extract(self, output: str) -> str | None:
        end = output.find(REGION_END)
        if end < 0:
            return None
        text = output[:end]
        start = text.find(REGION_START)
        if start >= 0:  # an answer that repeats the start marker (a prefilled one starts after it)
            text = _after_line_break(text[start + len(REGION_START):])
        return text.replace(CURSOR, "")


def _after_line_break(text: str) -> str:
    # The markers sit on lines of their own: the break after the start marker is not the window's.
    for brk in ("\r\n", "\n"):
        if text.startswith(brk):
            return text[len(brk):]
    return text


def region(inp: NextEditInput) -> str:
    """The window between the markers, the cursor marked; each marker on a line of its own."""
    text = inp.window[:inp.cursor] + CURSOR + inp.window[inp.cursor:]
    if not text.endswith("\n"):
        text += "\n"
    return f"{REGION_START}\n{text}{REGION_END}"


def _events_text(events: Sequence[EditEvent]) -> str:
    return "\n".join(f'User edited file "{e.path}":\n```diff\n{_with_break(e.diff)}```\n' for e in events)


def _files_text(files: Sequence[ContextFile]) -> str:
    return "\n".join(f"File {f.path}:\n```\n{_with_break(f.content)}```\n" for f in files)


def _with_break(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


CODEFILL_SYSTEM = (
    "You predict the next edit a programmer makes in their code. You see their recent edits as "
    "unified diffs and a region of the file they are in, with their cursor marked. Rewrite the region "
    "with the edit they are about to make: finish what the recent edits started (a renamed name renamed "
    "at its other uses, a changed signature followed where it is used, a pattern applied to the lines "
    "like it). Change nothing else, keep the formatting, and when no edit follows, give the region "
    "unchanged."
    # One worked example: without it the embedded 0.5B model renamed `count` at its next uses but
    # left `width` alone after `def area(width, ...)` became `def area(w, ...)`; with it, both.
    f"\n\nFor example, after the edit\n```diff\n-def total(prices):\n+def total(costs):\n```\nthe region\n"
    f"{REGION_START}\ndef total(costs{CURSOR}):\n    return sum(prices)\n{REGION_END}\nis rewritten as\n"
    f"{REGION_START}\ndef total(costs):\n    return sum(costs)\n{REGION_END}"
)


class CodefillFormat(NextEditFormat):
    """Our own format (see the module's docstring)."""

    name = "codefill"

    def user_text(self, inp: NextEditInput) -> str:
        parts = []
        if inp.events:
            parts.append("Recent edits, oldest first:\n\n" + _events_text(inp.events))
        if inp.files:
            parts.append("Other files:\n\n" + _files_text(inp.files))
        where = f"The file {inp.path}" if inp.path else "The file"
        if inp.language:
            where += f" ({inp.language})"
        parts.append(
            f"{where}, with the region to rewrite between {REGION_START} and {REGION_END} and the "
            f"cursor at {CURSOR}:\n\n{region(inp)}\n\nAnswer with the rewritten region between "
            f"{REGION_START} and {REGION_END}, without the cursor marker, and nothing else."
        )
        return "\n".join(parts)

    def encode(self, tokenizer: Any, inp: NextEditInput) -> list[int]:
        prefill = REGION_START + "\n"
        if getattr(tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": CODEFILL_SYSTEM},
                        {"role": "user", "content": self.user_text(inp)}]
            return encode_chat(tokenizer, messages, add_generation_prompt=True) + encode_text(tokenizer, prefill)
        text = f"{CODEFILL_SYSTEM}\n\n{self.user_text(inp)}\n\n{prefill}"
        return _bos(tokenizer) + encode_text(tokenizer, text)


ZETA_INSTRUCTION = (
    "### Instruction:\nYou are a code completion assistant and your task is to analyze user edits and then "
    "rewrite an excerpt that the user provides, suggesting the appropriate edits within the excerpt, taking "
    "into account the cursor location.\n\n"
)


class ZetaFormat(NextEditFormat):
    """Zed's Zeta (1), as its dataset and server publish it; context files are not part of it."""

    name = "zeta"

    def prompt_text(self, inp: NextEditInput) -> str:
        events = "\n".join(f'User edited "{e.path}":\n```diff\n{_with_break(e.diff)}```\n' for e in inp.events)
        top = f"{START_OF_FILE}\n" if inp.start_line == 0 else ""
        excerpt = f"```{inp.path or ''}\n{top}{region(inp)}\n```"
        return f"{ZETA_INSTRUCTION}### User Edits:\n\n{events}\n\n### User Excerpt:\n\n{excerpt}\n\n### Response:\n"

    def encode(self, tokenizer: Any, inp: NextEditInput) -> list[int]:
        return _bos(tokenizer) + encode_text(tokenizer, self.prompt_text(inp))


def _bos(tokenizer: Any) -> list[int]:
    bos = getattr(tokenizer, "bos_token_id", None)
    return [int(bos)] if bos is not None and getattr(tokenizer, "add_bos_token", False) else []


NEXT_EDIT_FORMATS: dict[str, NextEditFormat] = {f.name: f for f in (CodefillFormat(), ZetaFormat())}


def get_next_edit_format(name: str) -> NextEditFormat:
    fmt = NEXT_EDIT_FORMATS.get(name.strip().lower())
    if fmt is None:
        raise ValueError(f"unknown next-edit format {name!r}; known formats: {', '.join(sorted(NEXT_EDIT_FORMATS))}")
    return fmt


def detect_next_edit_format(model_path: str) -> NextEditFormat:
    """Zeta for Zed's Zeta models (a fine-tune of Qwen2.5-Coder: nothing in the vocabulary tells it
    apart, so the model's name has to), our own for every other model."""
    return NEXT_EDIT_FORMATS["zeta" if "zeta" in model_path.lower() else "codefill"]


__all__ = [
    "CURSOR", "NEXT_EDIT_FORMATS", "REGION_END", "REGION_START", "CodefillFormat", "EditEvent", "NextEditFormat",
    "NextEditInput", "ZetaFormat", "detect_next_edit_format", "get_next_edit_format", "region",
]
