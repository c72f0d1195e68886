"""Encoding prompt text: client text never becomes a control token, from any thread.

Two kinds of encoding build every prompt:

- `encode_text`: text from a client (a file, a prefix, a chat message) is encoded
  as its characters, so "<|im_end|>" in it is the seven-odd ordinary tokens that
  spell it, never the control token.
- `encode_raw`: a plain `/v1/completions` prompt, which OpenAI's API passes to the
  model as it is (control tokens included, as vLLM does).

The server runs these in a thread pool (server/state.py), off the event loop, so
both must be safe from several threads at once and must let the GIL go while the
Rust tokenizer works:

- transformers' `split_special_tokens=True` sets a flag on the one Rust tokenizer
  the Python one wraps, for the length of the call: another thread's call in
  between encodes with the wrong flag (client text parsed as control tokens, or
  a template's control tokens split into text). Here each kind of encoding has
  a private copy of the Rust tokenizer with its flag set once.
- `tokenizers.Tokenizer.encode` holds the GIL for the whole encoding (5 MB of
  code: 4-7 s, the whole server frozen), `encode_batch` releases it.

Tokenizers without a Rust backend (pure-Python ones) are encoded under a lock.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_lock = threading.Lock()
# tokenizer -> (its Rust tokenizer, vocabulary size, copy for text, copy for raw prompts)
_copies: weakref.WeakKeyDictionary[Any, tuple[Any, int, Any, Any]] = weakref.WeakKeyDictionary()
_slow_lock = threading.Lock()


def _backends(tokenizer: Any) -> tuple[Any, Any] | None:
    """(copy that encodes special-token strings as text, copy that parses them), or None
    for a tokenizer without a Rust backend."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    size = backend.get_vocab_size(with_added_tokens=True)
    with _lock:
        cached = _copies.get(tokenizer)
        # Tokens added later (training adds ChatML's) make a new copy.
        if cached is None or cached[0] is not backend or cached[1] != size:
            from tokenizers import Tokenizer

            serialized = backend.to_str()
            as_text, raw = Tokenizer.from_str(serialized), Tokenizer.from_str(serialized)
            for copy in (as_text, raw):
                copy.no_truncation()
                copy.no_padding()
            as_text.encode_special_tokens = True
            raw.encode_special_tokens = False
            cached = (backend, size, as_text, raw)
            _copies[tokenizer] = cached
        return cached[2], cached[3]


def prepare_encoders(tokenizer: Any) -> None:
    """Make the private tokenizer copies now (about a second for a large vocabulary, holding
    the GIL), so that the first request does not pay for it while others wait."""
    _backends(tokenizer)


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of client text: a string that spells a control token ("<|fim_middle|>",
    "<|im_start|>") is encoded as ordinary characters, so no file or message can inject one."""
    backends = _backends(tokenizer)
    if backends is None:
        with _slow_lock:
            return list(tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True))
    return backends[0].encode_batch([text], add_special_tokens=False)[0].ids


def text_offsets(tokenizer: Any, text: str) -> list[tuple[int, int]] | None:
    """(start, end) character offsets of the tokens of client text (as `encode_text` encodes
    it), or None for a tokenizer without a Rust backend."""
    backends = _backends(tokenizer)
    if backends is None:
        return None
    return backends[0].encode_batch([text], add_special_tokens=False)[0].offsets


def encode_raw(tokenizer: Any, text: str, *, add_special_tokens: bool = True) -> list[int]:
    """Token ids of a raw prompt, control-token strings parsed as the tokens they spell
    (what `tokenizer(text).input_ids` gives)."""
    backends = _backends(tokenizer)
    if backends is None:
        with _slow_lock:
            return list(tokenizer(text, add_special_tokens=add_special_tokens).input_ids)
    return backends[1].encode_batch([text], add_special_tokens=add_special_tokens)[0].ids


def special_token_strings(tokenizer: Any) -> list[str]:
    """The strings of the tokenizer's special (control) tokens, longest first: what a chat
    template's own text is split at, and what client text must never become.

    These are the added tokens marked special: the ones the tokenizer picks out of text
    unless told to encode them as text. (Added tokens not marked special, such as Qwen's
    `<tool_call>`, are ordinary vocabulary the tokenizer always picks out.)"""
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    specials = {added.content for added in decoder.values() if getattr(added, "special", False) and added.content}
    return sorted(specials, key=lambda s: (-len(s), s))


__all__ = ["encode_raw", "encode_text", "prepare_encoders", "special_token_strings", "text_offsets"]
