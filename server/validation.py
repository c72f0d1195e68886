"""Checks on a parsed request, before any work is done for it, and the request's
options in the form generation takes them.

- Every string must be text that can be encoded: JSON's `"\\ud800"` escape (and the
  bytes `\\xed\\xa0\\x80`, which Python's JSON decoder reads the same way) gives a
  lone surrogate, which no tokenizer, engine or JSON encoder takes. Such a request
  gets a 400 that names the field, and the message never repeats the text.
- The request's size in characters is bounded (--max-request-chars), since the
  work before the engine (tokenizing, fitting) grows with it.
- OpenAI fields this server does not implement are refused by name unless they hold
  their default (`reject_unsupported`); `stop` is bounded (`stop_list`); a seed becomes
  one per choice (`choice_seed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from codefill.server.errors import APIError
from codefill.server.limits import Limits


@dataclass
class TextSize:
    chars: int = 0  # characters of text, plus one per token id
    largest_field: str | None = None
    largest_chars: int = 0


def check_request_text(req: BaseModel, limits: Limits) -> TextSize:
    """Refuse text that cannot be encoded (400, naming the field) and requests over
    --max-request-chars (413); returns the request's size."""
    size = TextSize()
    _walk(req, "", size)
    limits.check_request_chars(size.chars, size.largest_field)
    return size


def request_chars(req: BaseModel) -> int:
    """The request's size in characters, as --max-request-chars counts it."""
    size = TextSize()
    _walk(req, "", size, check=False)
    return size.chars


def _walk(value: Any, path: str, size: TextSize, check: bool = True) -> None:
    if isinstance(value, str):
        if check:
            _check_text(value, path)
        _count(size, len(value), path)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _walk(getattr(value, name), f"{path}.{name}" if path else name, size, check)
    elif isinstance(value, (list, tuple)):
        token_ids = 0
        for i, item in enumerate(value):
            if isinstance(item, int) and not isinstance(item, bool):
                token_ids += 1  # a token id costs about what a character does
            else:
                _walk(item, f"{path}.{i}", size, check)
        if token_ids:
            _count(size, token_ids, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                if check:
                    _check_text(key, path, key_of=True)
                _count(size, len(key), path)
                _walk(item, f"{path}.{key}", size, check)
            else:
                _walk(item, path, size, check)


def _count(size: TextSize, n: int, path: str) -> None:
    size.chars += n
    if n > size.largest_chars:
        size.largest_chars, size.largest_field = n, path or None


def _check_text(text: str, path: str, *, key_of: bool = False) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = f"a key of {path}" if key_of else path
        raise APIError(
            400,
            f"{where or 'the body'} is not valid Unicode text: it holds a lone surrogate "
            f"(U+{ord(text[exc.start]):04X} at character {exc.start}), which cannot be encoded; send UTF-8 text "
            "(in JSON, a \\u escape of a surrogate must be one of a high-low pair)",
            code="invalid_text",
            param=path or None,
        ) from None


_SEED_RANGE = 2**63
MAX_STOP = 8  # stop sequences per request; /openapi.json says so too (server/openapi_schema.py)
MAX_PROMPTS = 64  # prompts in one /v1/completions batch; /openapi.json says so too


def choice_seed(seed: int | None, choice: int) -> int | None:
    """The seed of one choice: n choices of one seeded request differ, and any integer a
    client sends (OpenAI sets no bounds) becomes one that torch and vLLM accept."""
    return None if seed is None else (seed + choice) % _SEED_RANGE


def stop_list(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    items = [stop] if isinstance(stop, str) else list(stop)
    if len(items) > MAX_STOP:
        raise APIError(400, f"stop takes at most {MAX_STOP} sequences", param="stop")
    return tuple(s for s in items if s)


def reject_unsupported(values: dict, defaults: dict) -> None:
    def unset(value: Any, default: Any) -> bool:
        # Clients send empty containers for "none" (`logit_bias: {}`, `tools: []`): that asks for nothing.
        return value in (default, None) or (isinstance(value, (dict, list)) and not value)

    bad = [name for name, default in defaults.items() if not unset(values.get(name, default), default)]
    if bad:
        raise APIError(
            400, "unsupported field(s) for this server: " + ", ".join(bad), code="unsupported_parameter", param=bad[0]
        )


__all__ = ["MAX_STOP", "TextSize", "check_request_text", "choice_seed", "reject_unsupported", "request_chars",
           "stop_list"]


def prompt_list(prompt: Any) -> list[str | list[int]]:
    """`prompt` as a list of prompts (a string, a list of token ids, or a batch of either)."""
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise APIError(400, "prompt must not be empty", param="prompt")
    if all(isinstance(p, int) for p in prompt):
        return [list(prompt)]
    if len(prompt) > MAX_PROMPTS:
        raise APIError(400, f"at most {MAX_PROMPTS} prompts per request", param="prompt")
    return list(prompt)


def check_token_ids(ids: list[int], tok: Any) -> None:
    """Token ids sent as the prompt must be in the tokenizer's vocabulary (the engine would crash on others)."""
    if not ids:
        raise APIError(400, "the prompt is empty; send some text (or a suffix for fill-in-the-middle)", param="prompt")
    vocab = len(tok)
    bad = [i for i in ids if i < 0 or i >= vocab]
    if bad:
        raise APIError(400, f"token id {bad[0]} is outside the vocabulary (0..{vocab - 1})", param="prompt")
