"""Prompt templates: FIM per model family, and a chat fallback for models without FIM."""

from codefill.model.templates.fim import (
    FIM_TEMPLATES,
    ContextFile,
    FimPrompt,
    FimTemplate,
    Segment,
    detect_fim_template,
    encode_prompt,
    get_fim_template,
    stop_token_ids,
)

__all__ = [
    "FIM_TEMPLATES",
    "ContextFile",
    "FimPrompt",
    "FimTemplate",
    "Segment",
    "detect_fim_template",
    "encode_prompt",
    "get_fim_template",
    "stop_token_ids",
]
