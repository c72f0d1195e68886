"""/v1/chat/completions: instruct mode through the model's own chat template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from codefill.model.engines import SamplingOptions
from codefill.model.context_window import PromptTooLong, fit_tokens
from codefill.model.templates.chat import encode_chat
from codefill.server.errors import APIError
from codefill.server.choice_streams import (
    ChoiceEvent,
    FirstTokenTimer,
    TextFilter,
    choice_stream,
    merge_streams,
)
from codefill.server.protocol import (
    UNSUPPORTED_CHAT_FIELDS,
    ChatChoice,
    ChatChoiceMessage,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Usage,
    new_id,
    now,
)
from codefill.server.priorities import request_priority
from codefill.server.sse import DONE, sse, sse_error, stream_with_first
from codefill.server.state import ServingState
from codefill.server.validation import choice_seed, reject_unsupported, request_chars, stop_list

ENDPOINT = "chat_completions"


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise APIError(400, "only text content parts are supported", param="messages")
        parts.append(part["text"])
    return "".join(parts)


class ChatService:
    def __init__(self, state: ServingState) -> None:
        self.state = state

    def _prompt_ids(self, req: ChatCompletionRequest) -> list[int]:
        tok = self.state.engine.tokenizer
        if not getattr(tok, "chat_template", None):
            raise APIError(
                400, f"the model `{self.state.config.served_model_name}` has no chat template; "
                "use /v1/completions", code="chat_not_supported",
            )
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": _content_text(m.content)}
            for m in req.messages
        ]
        try:
            # Message contents are text: "<|im_end|>" typed into a message cannot end its turn.
            return encode_chat(tok, messages, add_generation_prompt=True)
        except Exception as exc:  # noqa: BLE001 - a template rejecting the conversation is the client's error
            raise APIError(400, f"the chat template rejected these messages: {exc}", param="messages") from exc

    async def create(self, req: ChatCompletionRequest) -> ChatCompletionResponse | StreamingResponse:
        state = self.state
        lora = state.check_model(req.model)
        engine = state.require_ready()
        reject_unsupported(req.model_dump(), UNSUPPORTED_CHAT_FIELDS)
        limits = state.config.limits
        limits.check_max_tokens(req.max_tokens)
        limits.check_max_tokens(req.max_completion_tokens, "max_completion_tokens")
        limits.check_n(req.n)
        # Off the event loop: a long conversation takes seconds to render and tokenize.
        ids = await state.prepare(self._prompt_ids, req, chars=request_chars(req))
        limits.check_prompt_tokens(len(ids), "messages")
        max_len = engine.info.max_model_len
        # Without a max_tokens the answer may fill the context, up to the server's limit.
        room = limits.clamp_max_tokens(max(1, max_len - len(ids)))
        max_tokens = req.max_completion_tokens or req.max_tokens or room
        try:
            fit_tokens(ids, max_tokens, max_len)
        except PromptTooLong as exc:
            raise APIError(400, str(exc), code="context_length_exceeded", param="messages") from exc
        temperature = req.temperature if req.temperature is not None else state.config.default_temperature
        request_id = new_id("chatcmpl")
        priority = request_priority(req.priority, fim=False, enabled=state.config.priorities)
        streams = [
            choice_stream(
                engine,
                i,
                ids,
                SamplingOptions(
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=req.top_p if req.top_p is not None else 1.0,
                    stop=stop_list(req.stop),
                    seed=choice_seed(req.seed, i),
                    lora=lora,
                    priority=priority,
                ),
                f"{request_id}-{i}",
                TextFilter(),
                state.metrics,
                admission=state.admission,
            )
            for i in range(req.n)
        ]
        events = merge_streams(streams)
        timer = FirstTokenTimer(state.metrics, ENDPOINT)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            try:
                first = await events.__anext__()
            except StopAsyncIteration:
                first = None
            return StreamingResponse(
                self._stream(request_id, req.model, req.n, first, events, timer, len(ids), include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        texts = [""] * req.n
        reasons: list[str | None] = [None] * req.n
        completion = [0] * req.n
        async for ev in events:
            timer.saw(ev.text)
            texts[ev.index] += ev.text
            completion[ev.index] = ev.completion_tokens
            reasons[ev.index] = ev.finish_reason or reasons[ev.index]
        timer.done()
        return ChatCompletionResponse(
            id=request_id,
            created=now(),
            model=req.model,
            choices=[
                ChatChoice(index=i, message=ChatChoiceMessage(content=t), finish_reason=reasons[i])
                for i, t in enumerate(texts)
            ],
            usage=Usage(prompt_tokens=len(ids), completion_tokens=sum(completion),
                        total_tokens=len(ids) + sum(completion)),
        )

    async def _stream(
        self, request_id: str, model: str, n: int, first: ChoiceEvent | None,
        events: AsyncIterator[ChoiceEvent], timer: FirstTokenTimer, prompt_tokens: int, include_usage: bool,
    ) -> AsyncIterator[str]:
        created = now()
        base = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}
        completion: dict[int, int] = {}
        try:
            for i in range(n):
                yield sse({**base, "choices": [
                    {"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                     "finish_reason": None}]})
            async for ev in stream_with_first(first, events):
                timer.saw(ev.text)
                completion[ev.index] = ev.completion_tokens
                if not ev.text and ev.finish_reason is None:
                    continue
                delta = {"content": ev.text} if ev.text else {}
                yield sse({**base, "choices": [
                    {"index": ev.index, "delta": delta, "logprobs": None, "finish_reason": ev.finish_reason}]})
            if include_usage:
                used = sum(completion.values())
                yield sse({**base, "choices": [], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": used,
                    "total_tokens": prompt_tokens + used}})
        except APIError as exc:
            yield sse_error(exc)
        finally:
            timer.done()
        yield DONE
