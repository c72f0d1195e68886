"""The one async contract every engine implements.

The server never talks to vLLM or transformers directly: it hands an engine a
prompt that is already tokenized (templates and context fitting happen before)
and reads back text deltas. Keeping tokenization on our side means the FIM
prompt's special tokens are placed by id, and token counts in `usage` are the
real ones, whatever the engine.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length", "abort"]


class EngineError(RuntimeError):
    """The engine cannot serve (not started, crashed, or shut down)."""


class EngineRequestError(ValueError):
    """The engine refused this one request (bad parameters); others go on."""


@dataclass(frozen=True)
class SamplingOptions:
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    # Strings end generation and are left out of the text, as in OpenAI's API.
    stop: tuple[str, ...] = ()
    # Token ids end generation too (EOS, a FIM family's end tokens); never shown.
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None
    # Stop on EOS. False only for benchmarks that want fixed-length outputs.
    ignore_eos: bool = False
    # The name of a LoRA adapter the engine was started with; None: the base model alone.
    lora: str | None = None
    # Scheduling priority, vLLM's convention: lower runs earlier (vLLM's priority policy; others ignore it).
    priority: int = 0


@dataclass
class Delta:
    """One step of a generation.

    `text` is new text since the previous delta. Token counts are cumulative,
    so the last delta carries the totals for `usage`.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None
    # Prompt tokens the engine took from its prefix cache instead of computing them;
    # None where the engine does not say (transformers has no prefix cache).
    cached_tokens: int | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class EngineInfo:
    model_path: str
    max_model_len: int
    engine: str
    details: dict[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """Async text generation with cancellation.

    Lifecycle: `await start()` once, then any number of concurrent
    `generate()` calls, then `await shutdown()`.
    """

    name: str = "engine"

    @property
    @abc.abstractmethod
    def tokenizer(self) -> Any:
        """The Hugging Face tokenizer of the served model."""

    @property
    @abc.abstractmethod
    def info(self) -> EngineInfo: ...

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def shutdown(self) -> None: ...

    @abc.abstractmethod
    def generate(
        self,
        prompt_token_ids: Sequence[int],
        options: SamplingOptions,
        request_id: str,
    ) -> AsyncIterator[Delta]:
        """Stream deltas; the last one has `finish_reason` set.

        Closing the iterator early (the client went away) must free the
        request, exactly like `abort(request_id)`.
        """

    @abc.abstractmethod
    async def abort(self, request_id: str) -> None:
        """Stop a request; its stream ends with finish_reason "abort"."""

    @abc.abstractmethod
    def num_in_flight(self) -> int:
        """Requests the engine still holds (queued or running)."""

    @abc.abstractmethod
    def is_healthy(self) -> bool: ...


class LoadedParts:
    """The tokenizer and model facts an engine has once `start()` loaded them (mixed in before `Engine`);
    asking for them earlier is an error, not a None that fails later."""

    _tokenizer: Any = None
    _info: EngineInfo | None = None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            raise EngineError("engine not started")
        return self._tokenizer

    @property
    def info(self) -> EngineInfo:
        if self._info is None:
            raise EngineError("engine not started")
        return self._info
