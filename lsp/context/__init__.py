"""Context for a completion: local windows cut on syntax boundaries, cross-file definitions,
recent edits, and the raw prompt layout for servers without `suffix` support."""

from codefill.lsp.context.builder import ContextBuilder
from codefill.lsp.context.completion_context import CompletionContext
from codefill.lsp.context.render import render_prompt

__all__ = ["CompletionContext", "ContextBuilder", "render_prompt"]
