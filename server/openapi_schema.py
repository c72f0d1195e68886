"""The OpenAPI schema (/openapi.json) as the server really behaves.

Generated clients and API fuzzers (tests/e2e/test_api_fuzz.py) read this schema,
so it should accept exactly what the server accepts:

- FastAPI documents a 422 for every route with a body; codefill answers validation
  failures with a 400 in OpenAI's error shape instead, so the 422s go.
- OpenAI fields codefill does not implement are declared (clients send their
  defaults) but only their default is accepted: the schema says so with an enum.
- This server's limits (--max-tokens-limit, --max-n) and the fixed bounds checked
  in code (prompts per request, stop sequences) become `maximum` / `maxItems`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from codefill.server.limits import Limits
from codefill.server.protocol import UNSUPPORTED_CHAT_FIELDS, UNSUPPORTED_COMPLETION_FIELDS
from codefill.server.protocol_next_edit import UNSUPPORTED_NEXT_EDIT_FIELDS
from codefill.server.validation import MAX_PROMPTS, MAX_STOP

# Unsupported fields whose empty value also means "none" (see validation.reject_unsupported).
_EMPTY_MEANS_NONE = {"logit_bias": {}, "tools": []}


def install_openapi(app: FastAPI, limits: Limits, vocab_size: Callable[[], int | None] = lambda: None) -> None:
    """`vocab_size` bounds token ids once the model is loaded; until then the schema is
    built afresh on each request, and kept once it is complete."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            vocab = vocab_size()
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            _describe_requests(components, limits, vocab)
            _describe_chat_content(components)
            if vocab is None:
                return schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe_requests(components: dict[str, Any], limits: Limits, vocab: int | None) -> None:
    for name, unsupported in (("CompletionRequest", UNSUPPORTED_COMPLETION_FIELDS),
                              ("ChatCompletionRequest", UNSUPPORTED_CHAT_FIELDS),
                              ("NextEditRequest", UNSUPPORTED_NEXT_EDIT_FIELDS)):
        props = components.get(name, {}).get("properties")
        if not props:
            continue
        for field, default in unsupported.items():
            if field in props:
                values = [default] if default is None else [default, None]
                if field in _EMPTY_MEANS_NONE:
                    values.append(_EMPTY_MEANS_NONE[field])
                props[field] = {"enum": values, "default": default,
                                "description": "Not supported by codefill: only the default is accepted."}
        if limits.max_tokens:
            for field in ("max_tokens", "max_completion_tokens"):
                if field in props:
                    _bound(props[field], "integer", "maximum", limits.max_tokens)
                    if isinstance(props[field].get("default"), int):
                        props[field]["default"] = limits.clamp_max_tokens(props[field]["default"])
        if limits.max_n and "n" in props:
            _bound(props["n"], "integer", "maximum", limits.max_n)
        if "stop" in props:
            _bound(props["stop"], "array", "maxItems", MAX_STOP)
        if name == "CompletionRequest" and "prompt" in props:
            _bound(props["prompt"], "array", "minItems", 1)
            for branch in props["prompt"].get("anyOf", []):
                items = branch.get("items", {})
                if branch.get("type") == "array" and items.get("type") != "integer":
                    # Several prompts (token ids are bounded by the context); each is a completion for --max-n.
                    branch["maxItems"] = min(MAX_PROMPTS, limits.max_n) if limits.max_n else MAX_PROMPTS
                token_ids = items.setdefault("items", {}) if items.get("type") == "array" else items
                if items.get("type") == "array":
                    items["minItems"] = 1  # a prompt of no tokens
                if token_ids.get("type") == "integer":
                    token_ids["minimum"] = 0
                    if vocab:
                        token_ids["maximum"] = vocab - 1


def _describe_chat_content(components: dict[str, Any]) -> None:
    """Content parts are checked in code (only text parts); the schema says which."""
    content = components.get("ChatMessage", {}).get("properties", {}).get("content", {})
    for branch in content.get("anyOf", []):
        if branch.get("type") == "array":
            branch["items"] = {
                "type": "object",
                "properties": {"type": {"enum": ["text"]}, "text": {"type": "string"}},
                "required": ["type", "text"],
            }


def _bound(prop: dict[str, Any], json_type: str, keyword: str, value: int) -> None:
    """Set the bound on the property, or on each branch of its union of that type."""
    branches = prop.get("anyOf", [prop])
    for branch in branches:
        if branch.get("type") == json_type:
            branch[keyword] = value
