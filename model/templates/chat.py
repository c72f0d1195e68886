"""Chat prompts whose message contents stay text, for any chat template.

`tokenizer.apply_chat_template` renders the conversation as one string, and
tokenizing that string parses every control-token string in it, the ones a
user typed into a message as well: "<|im_end|>\\n<|im_start|>system\\n..." in
a user message becomes a real system turn (chat turn injection). The FIM path
keeps control tokens and text apart as segments (model/templates/fim_prompt.py);
chat prompts get the same here, for whatever template the model ships:

1. The template renders the conversation with each message's content replaced
   by a unique marker, so everything outside the markers is the template's own
   text (role headers, control tokens, a default system prompt, the generation
   prompt).
2. That text is split at the tokenizer's special tokens, which become control
   tokens by id; each marker becomes its message's content, encoded as text
   (`encode_text`), joined with the template text around it.
3. The result must be what the template renders with the real contents. Where
   a template trims contents (CodeLlama's, Gemma's `| trim`) the trimmed
   contents are used; where it changes them otherwise, the contents are kept as
   sent (never parsed as control tokens either way).

For a conversation without control-token strings in it, the ids are exactly
those of `tokenizer(apply_chat_template(...), add_special_tokens=False)`: the
tokenizer, too, splits text at special tokens first and encodes the pieces
between them one by one, and text segments are merged across the markers.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from codefill.model.templates.encoding import special_token_strings
from codefill.model.templates.fim import encode_prompt
from codefill.model.templates.fim_prompt import FimPrompt, Segment, join_segments, plain, token

log = logging.getLogger("codefill.templates")

# Private-use characters around a random nonce: no template changes them, and
# no message can contain them by accident (checked anyway).
_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"


def chat_prompt(tokenizer: Any, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool = True,
                chat_template: str | None = None) -> FimPrompt:
    """The conversation as segments: the template's control tokens, and text."""
    messages = [dict(m) for m in messages]
    contents = [m.get("content") for m in messages]
    nonce = secrets.token_hex(8)
    while any(isinstance(c, str) and nonce in c for c in contents):
        nonce = secrets.token_hex(8)
    marked = [
        {**m, "content": f"{_MARK_OPEN}{nonce}:{i}{_MARK_CLOSE}"} if isinstance(m.get("content"), str) else m
        for i, m in enumerate(messages)
    ]
    render = _renderer(tokenizer, add_generation_prompt, chat_template)
    skeleton = render(marked)
    real = render(messages)
    # Template text and content references, in order (a template may show a content
    # twice, or leave one out, such as a system prompt it does not support).
    pieces: list[str | int] = []
    marker = re.compile(re.escape(_MARK_OPEN + nonce) + r":(\d+)" + re.escape(_MARK_CLOSE))
    at = 0
    for m in marker.finditer(skeleton):
        pieces.append(skeleton[at:m.start()])
        pieces.append(int(m.group(1)))
        at = m.end()
    pieces.append(skeleton[at:])

    def assemble(shape: Callable[[str], str]) -> str:
        return "".join(p if isinstance(p, str) else shape(contents[p]) for p in pieces)

    shape: Callable[[str], str] = _as_sent
    if assemble(_as_sent) != real:
        if assemble(str.strip) == real:
            shape = str.strip
        else:
            log.debug("the chat template changes message contents; they are used as sent")
    specials = special_token_strings(tokenizer)
    split = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None
    segments: list[Segment] = []
    for p in pieces:
        if isinstance(p, int):
            segments.append(plain(shape(contents[p])))
        elif split is None:
            segments.append(plain(p))
        else:
            for i, part in enumerate(split.split(p)):
                segments.append(token(part) if i % 2 else plain(part))
    return join_segments(segments)


def encode_chat(tokenizer: Any, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool = True,
                chat_template: str | None = None) -> list[int]:
    """Token ids of the conversation through the model's chat template, every message's
    content encoded as text (no control tokens from clients)."""
    prompt = chat_prompt(tokenizer, messages, add_generation_prompt=add_generation_prompt,
                         chat_template=chat_template)
    return encode_prompt(tokenizer, prompt)


def _as_sent(text: str) -> str:
    return text


def _renderer(tokenizer: Any, add_generation_prompt: bool, chat_template: str | None) -> Callable[[list], str]:
    def render(messages: list[dict[str, Any]]) -> str:
        kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
        if chat_template is not None:
            kwargs["chat_template"] = chat_template
        text = tokenizer.apply_chat_template(messages, **kwargs)
        if not isinstance(text, str):  # some releases wrap a single rendering in a list
            text = text[0]
        return text

    return render


__all__ = ["chat_prompt", "encode_chat"]
