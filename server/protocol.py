"""Request and response types of the OpenAI-compatible API.

Requests forbid unknown fields so that a typo or an OpenAI feature we do not
implement gets a 400 that names it, instead of being silently ignored.
Fields OpenAI defines but we do not support are declared, so their *default*
value is accepted (clients send them), and anything else is refused by name.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from codefill.model.postprocess.options import RULES


class _Strict(BaseModel):
    # strict: no coercion, as OpenAI's API refuses `max_tokens: true`, `stream: "yes"`, `n: "2"`
    # (an int is still a float, for temperature and top_p).
    model_config = ConfigDict(extra="forbid", strict=True)


def _integral(value: Any) -> Any:
    # JSON Schema's integer, as /openapi.json promises: 4.0 is 4 (schema-driven clients and
    # fuzzers send it); 4.5, true and "4" are no integers.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_integral)]
# The bound inside the annotation, so that the schema says `minimum` (not pydantic's `ge`).
PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_integral)]

# vLLM's `priority` (its OpenAI server's field, same place, same meaning): lower is served
# earlier; none: the server's default for the request's kind (server/priorities.py).
PRIORITY_MIN, PRIORITY_MAX = -(2**63), 2**63 - 1  # vLLM's: a signed 64-bit integer
Priority = Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX), BeforeValidator(_integral)]
PRIORITY_DESCRIPTION = (
    "Scheduling priority, as in vLLM: lower is served earlier when the server is busy. Default: 0 for "
    "fill-in-the-middle (`/v1/completions` with `suffix`), 10 for chat and plain completions, or the "
    "`X-Codefill-Priority` header's when the body has none (codefill eval and codefill data instruct "
    "send 20 there, a header other servers ignore)."
)


class StreamOptions(_Strict):
    include_usage: bool = False


# A request's `codefill.files` entry; the prompt is built from codefill.model.templates.ContextFile, made
# from it where the completion is served (no docstring: it would become the schema's description).
class RepoFile(_Strict):
    path: str
    content: str


class CodefillOptions(_Strict):
    """The `codefill` extension field (with the openai client: `extra_body={"codefill": {...}}`)."""

    postprocess: bool = Field(True, description="Apply FIM post-processing rules.")
    rules: dict[str, bool] = Field(
        default_factory=dict,
        description="Switch single post-processing rules on (true, the default) or off (false), by name: "
        + ", ".join(RULES) + ". An unknown name is a 400.",
    )
    language: str | None = Field(
        None,
        description="Language of the file (a tree-sitter grammar name such as `python`, or an editor's "
        "language id such as `typescriptreact`); without it, `path`'s extension. Enables the syntax rule.",
    )
    multiline: bool | None = Field(
        None, description="Force multi-line (true) or single-line (false); null decides from the code."
    )
    max_time_ms: Annotated[int, Field(ge=0, le=600_000), BeforeValidator(_integral)] | None = Field(
        None,
        description="Time budget from the request's arrival: generation ends there with what is complete "
        "(whole lines for a multi-line completion) and `finish_reason` is `time_limit`. 0: no budget; "
        "null: the server's --fim-max-time-ms.",
    )
    repo_name: str | None = Field(None, description="Repository name for repo-level FIM prompts.")
    path: str | None = Field(None, description="Path of the file being edited.")
    files: list[RepoFile] = Field(default_factory=list, description="Other files, as context.")


# name -> the only value we accept (the OpenAI default)
UNSUPPORTED_COMPLETION_FIELDS: dict[str, Any] = {
    "echo": False,
    "logprobs": None,
    "best_of": None,
    "logit_bias": None,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}


class CompletionRequest(_Strict):
    model: str
    prompt: str | list[str] | list[Int] | list[list[Int]]
    suffix: str | None = None
    max_tokens: PositiveInt | None = 16
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: PositiveInt = 1  # the upper bound is --max-n (server/limits.py)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: Int | None = None  # any integer; folded into the range engines take (validation.choice_seed)
    user: str | None = None
    echo: bool | None = False
    logprobs: Int | None = None
    best_of: Int | None = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = 0.0
    frequency_penalty: float | None = 0.0
    priority: Priority | None = Field(None, description=PRIORITY_DESCRIPTION)
    codefill: CodefillOptions | None = None


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


UNSUPPORTED_CHAT_FIELDS: dict[str, Any] = {
    "logprobs": False,
    "top_logprobs": None,
    "logit_bias": None,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "tools": None,
    "tool_choice": None,
    "response_format": None,
}


class ChatCompletionRequest(_Strict):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: PositiveInt = 1  # the upper bound is --max-n (server/limits.py)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: Int | None = None  # any integer; folded into the range engines take (validation.choice_seed)
    user: str | None = None
    logprobs: bool | None = False
    top_logprobs: Int | None = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = 0.0
    frequency_penalty: float | None = 0.0
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    priority: Priority | None = Field(None, description=PRIORITY_DESCRIPTION)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: None = None
    finish_reason: str | None = None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class ChatChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatChoiceMessage
    logprobs: None = None
    finish_reason: str | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "codefill"
    root: str | None = None
    parent: str | None = None  # a LoRA adapter's base model, as vLLM reports it
    max_model_len: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
