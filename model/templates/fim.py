"""Fill-in-the-middle templates: pick the family, build the prompt, encode it.

The family is read from the tokenizer's vocabulary, never from the model
name: fine-tunes, merges and local directories keep the tokens of their base
model but not its name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from codefill.model.templates.encoding import encode_text
from codefill.model.templates.fim_families import (
    CODEGEMMA,
    CODELLAMA,
    CODESTRAL,
    DEEPSEEK,
    FAMILIES,
    QWEN,
    STARCODER,
    STARCODER_REPO_TOKENS,
    FimTemplate,
)
from codefill.model.templates.fim_prompt import ContextFile, FimPrompt, Segment

__all__ = [
    "FIM_TEMPLATES",
    "ContextFile",
    "FimPrompt",
    "FimTemplate",
    "Segment",
    "detect_fim_template",
    "encode_prompt",
    "encode_text",
    "get_fim_template",
    "stop_token_ids",
]

FIM_TEMPLATES: dict[str, FimTemplate] = {t.name: t for t in FAMILIES}


def get_fim_template(name: str) -> FimTemplate:
    """The template for `--fim-template NAME`."""
    template = FIM_TEMPLATES.get(name.strip().lower())
    if template is None:
        known = ", ".join(sorted(FIM_TEMPLATES))
        raise ValueError(f"unknown FIM template {name!r}; known templates: {known}")
    return template


def detect_fim_template(tokenizer: Any) -> FimTemplate | None:
    """The FIM family whose control tokens this tokenizer has, or None."""
    vocab = tokenizer.get_vocab()

    def has(*tokens: str) -> bool:
        return all(t in vocab for t in tokens)

    # CodeGemma shares Qwen's three FIM token strings; only its file
    # separator tells them apart, so it must be checked first.
    if has(*CODEGEMMA.required_tokens, "<|file_separator|>"):
        return CODEGEMMA
    if has(*QWEN.required_tokens) and (has("<|fim_pad|>") or has("<|repo_name|>")):
        return QWEN
    if has(*STARCODER.required_tokens):
        if has(*STARCODER_REPO_TOKENS):
            return STARCODER
        # StarCoder (1) has FIM but not StarCoder2's repository tokens.
        return dataclasses.replace(STARCODER, repo_layout=None)
    for template in (DEEPSEEK, CODELLAMA, CODESTRAL):
        if has(*template.required_tokens):
            return template
    # Some other model with the same three <|fim_...|> tokens: the format is
    # the same, and stop_token_ids keeps only the stops it really has.
    if has(*QWEN.required_tokens):
        return QWEN
    return None


def special_token_id(tokenizer: Any, text: str) -> int | None:
    """The id of a token string, or None when the vocabulary lacks it."""
    tid = tokenizer.convert_tokens_to_ids(text)
    # Tokenizers with an unknown token answer its id for anything missing.
    if tid is None or (tid == tokenizer.unk_token_id and text != tokenizer.unk_token):
        return None
    return int(tid)


def encode_prompt(tokenizer: Any, prompt: FimPrompt, add_bos: bool = False) -> list[int]:
    """Token ids of the prompt: control tokens by id, text never as control tokens."""
    ids: list[int] = []
    if add_bos and tokenizer.bos_token_id is not None:
        ids.append(int(tokenizer.bos_token_id))
    for seg in prompt.segments:
        if seg.special:
            tid = special_token_id(tokenizer, seg.text)
            if tid is None:
                raise ValueError(
                    f"the tokenizer has no token {seg.text!r}, which this FIM template needs; "
                    "pick the model's own template with --fim-template"
                )
            ids.append(tid)
        else:
            ids.extend(encode_text(tokenizer, seg.text))
    return ids


def stop_token_ids(tokenizer: Any, template: FimTemplate) -> list[int]:
    """Ids that end generation: the family's stops present in the vocab, and EOS."""
    ids: list[int] = []
    for text in template.stop_tokens:
        tid = special_token_id(tokenizer, text)
        if tid is not None and tid not in ids:
            ids.append(tid)
    eos = tokenizer.eos_token_id
    if eos is not None and int(eos) not in ids:
        ids.append(int(eos))
    return ids
