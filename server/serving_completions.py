"""/v1/completions: plain completion, and fill-in-the-middle when `suffix` is given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from codefill.model.engines import SamplingOptions
from codefill.model.context_window import PromptTooLong, fit_fim, fit_tokens
from codefill.model.postprocess import (
    PostprocessOptions,
    StreamingPostprocessor,
    UnknownRule,
    check_rules,
    grammar_name,
    postprocess,
)
from codefill.model.templates.chat import encode_chat
from codefill.model.templates.encoding import encode_raw
from codefill.model.templates.fim import ContextFile
from codefill.model.templates.instruct_fallback import build_fill_messages, extract_fill
from codefill.server.errors import APIError
from codefill.server.choice_streams import (
    ChoiceEvent,
    FirstTokenTimer,
    TextFilter,
    choice_stream,
    merge_streams,
)
from codefill.server.protocol import (
    UNSUPPORTED_COMPLETION_FIELDS,
    CodefillOptions,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Usage,
    new_id,
    now,
)
from codefill.server.priorities import request_priority
from codefill.server.sse import DONE, sse, sse_error, stream_with_first
from codefill.server.state import ServingState
from codefill.server.validation import (
    check_token_ids,
    choice_seed,
    prompt_list,
    reject_unsupported,
    request_chars,
    stop_list,
)

ENDPOINT = "completions"
DEFAULT_MAX_TOKENS = 16  # OpenAI's, for /v1/completions


class _PostprocessFilter(TextFilter):
    def __init__(self, prefix: str, suffix: str, options: PostprocessOptions) -> None:
        self._p = StreamingPostprocessor(prefix, suffix, options)

    def feed(self, delta: str) -> tuple[str, bool]:
        return self._p.feed(delta)

    def finish(self) -> str:
        return self._p.finish()

    def finish_early(self) -> str:
        return self._p.finish_early()

    def may_end_early(self) -> None:
        self._p.whole_lines = True


class _FillFromChatFilter(TextFilter):
    """Instruct fallback: the chat answer is only usable whole, then cut back to code."""

    def __init__(self, prefix: str, suffix: str, options: PostprocessOptions) -> None:
        self._prefix, self._suffix, self._options = prefix, suffix, options
        self._answer: list[str] = []

    def feed(self, delta: str) -> tuple[str, bool]:
        self._answer.append(delta)
        return "", False

    def finish(self) -> str:
        code = extract_fill("".join(self._answer), self._prefix, self._suffix)
        return postprocess(code, self._prefix, self._suffix, self._options)


class _Job:
    """One prompt of the request, ready for the engine."""

    def __init__(self, prompt_ids: list[int], make_filter: Any, stop_ids: tuple[int, ...]) -> None:
        self.prompt_ids = prompt_ids
        self.make_filter = make_filter
        self.stop_ids = stop_ids


class CompletionsService:
    def __init__(self, state: ServingState) -> None:
        self.state = state

    async def create(self, req: CompletionRequest) -> CompletionResponse | StreamingResponse:
        arrived = asyncio.get_running_loop().time()
        state = self.state
        lora = state.check_model(req.model)
        engine = state.require_ready()
        reject_unsupported(req.model_dump(), UNSUPPORTED_COMPLETION_FIELDS)
        limits = state.config.limits
        # OpenAI's default of 16, unless the server's limit is lower: a request that does not
        # ask for a length must not be refused for it.
        asked = req.max_tokens if "max_tokens" in req.model_fields_set else None
        limits.check_max_tokens(asked)
        prompts = prompt_list(req.prompt)
        limits.check_n(req.n, len(prompts))
        stops = stop_list(req.stop)
        max_tokens = asked or limits.clamp_max_tokens(DEFAULT_MAX_TOKENS)
        # Off the event loop: tokenizing and fitting a long prompt takes seconds.
        jobs = await state.prepare(self._prepare_all, prompts, req, max_tokens, chars=request_chars(req))

        temperature = req.temperature if req.temperature is not None else state.config.default_temperature
        deadline = self._deadline(req, arrived)
        priority = request_priority(req.priority, fim=req.suffix is not None, enabled=state.config.priorities)
        request_id = new_id("cmpl")
        timer = FirstTokenTimer(state.metrics, ENDPOINT)
        streams = []
        for p_index, job in enumerate(jobs):
            for j in range(req.n):
                index = p_index * req.n + j
                options = SamplingOptions(
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=req.top_p if req.top_p is not None else 1.0,
                    stop=stops,
                    stop_token_ids=job.stop_ids,
                    seed=choice_seed(req.seed, j),
                    lora=lora,
                    priority=priority,
                )
                streams.append(
                    choice_stream(
                        engine, index, job.prompt_ids, options, f"{request_id}-{index}",
                        job.make_filter(), state.metrics, deadline, state.admission,
                    )
                )
        events = merge_streams(streams)
        prompt_tokens = sum(len(j.prompt_ids) for j in jobs)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            first = await _first(events)
            return StreamingResponse(
                self._stream(request_id, req.model, first, events, timer, prompt_tokens, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return await self._collect(request_id, req.model, events, len(jobs) * req.n, timer, prompt_tokens)

    def _deadline(self, req: CompletionRequest, arrived: float) -> float | None:
        """The end of the request's time budget, on the event loop's clock (None: none)."""
        asked = req.codefill.max_time_ms if req.codefill is not None else None
        budget_ms = asked if asked is not None else (self.state.config.fim_max_time_ms if req.suffix is not None else 0)
        return arrived + budget_ms / 1000 if budget_ms else None

    # --- preparing prompts ------------------------------------------------

    def _prepare_all(self, prompts: list[str | list[int]], req: CompletionRequest, max_tokens: int) -> list[_Job]:
        return [self._prepare(p, req, max_tokens) for p in prompts]

    def _prepare(self, prompt: str | list[int], req: CompletionRequest, max_tokens: int) -> _Job:
        state = self.state
        tok = state.engine.tokenizer
        max_len = state.engine.info.max_model_len
        limits = state.config.limits
        ext = req.codefill or CodefillOptions()
        post = postprocess_options(ext)

        if req.suffix is None:
            ids = list(prompt) if isinstance(prompt, list) else encode_raw(tok, prompt)
            check_token_ids(ids, tok)
            limits.check_prompt_tokens(len(ids))
            try:
                fit_tokens(ids, max_tokens, max_len)
            except PromptTooLong as exc:
                raise _too_long(exc) from exc
            return _Job(ids, TextFilter, ())

        if isinstance(prompt, list):
            raise APIError(400, "`suffix` needs the prompt as text, not token ids", param="prompt")
        template = state.fim_template
        if template is None:
            return self._prepare_fallback(prompt, req.suffix, max_tokens, post)
        files = [ContextFile(path=f.path, content=f.content) for f in ext.files]
        try:
            # Editors send whole files: a FIM prompt is trimmed to --max-prompt-tokens, not refused.
            window = limits.prompt_window(max_len, max_tokens)
            fit = fit_fim(
                tok, template, prompt, req.suffix, max_tokens=max_tokens, max_model_len=window,
                repo_name=ext.repo_name, path=ext.path, files=files,
            )
        except PromptTooLong as exc:
            if window < max_len:
                # Even the lines at the cursor are over the server's limit, not the model's context.
                limits.check_prompt_tokens(exc.prompt_tokens)
            raise _too_long(exc) from exc
        prefix, suffix = prompt, req.suffix
        return _Job(fit.token_ids, lambda: _PostprocessFilter(prefix, suffix, post), state.stop_token_ids)

    def _prepare_fallback(self, prefix: str, suffix: str, max_tokens: int, post: PostprocessOptions) -> _Job:
        state = self.state
        if state.config.fim_fallback != "instruct":
            raise APIError(
                400,
                f"the model `{state.config.served_model_name}` has no fill-in-the-middle tokens, so `suffix` "
                "cannot be used; start the server with --fim-fallback instruct to answer such requests "
                "with a hole-filling chat prompt, or pick a FIM template with --fim-template",
                code="fim_not_supported",
                param="suffix",
            )
        tok = state.engine.tokenizer
        # The code is a message's content: text, never control tokens.
        ids = encode_chat(tok, build_fill_messages(prefix, suffix), add_generation_prompt=True)
        state.config.limits.check_prompt_tokens(len(ids))
        try:
            fit_tokens(ids, max_tokens, state.engine.info.max_model_len)
        except PromptTooLong as exc:
            raise _too_long(exc) from exc
        return _Job(ids, lambda: _FillFromChatFilter(prefix, suffix, post), ())

    # --- responding -------------------------------------------------------

    async def _collect(
        self, request_id: str, model: str, events: AsyncIterator[ChoiceEvent], n_choices: int,
        timer: FirstTokenTimer, prompt_tokens: int,
    ) -> CompletionResponse:
        texts = [""] * n_choices
        reasons: list[str | None] = [None] * n_choices
        completion = [0] * n_choices
        async for ev in events:
            timer.saw(ev.text)
            texts[ev.index] += ev.text
            completion[ev.index] = ev.completion_tokens
            if ev.finish_reason:
                reasons[ev.index] = ev.finish_reason
        timer.done()
        return CompletionResponse(
            id=request_id,
            created=now(),
            model=model,
            choices=[CompletionChoice(index=i, text=t, finish_reason=reasons[i]) for i, t in enumerate(texts)],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=sum(completion),
                total_tokens=prompt_tokens + sum(completion),
            ),
        )

    async def _stream(
        self, request_id: str, model: str, first: ChoiceEvent | None, events: AsyncIterator[ChoiceEvent],
        timer: FirstTokenTimer, prompt_tokens: int, include_usage: bool,
    ) -> AsyncIterator[str]:
        created = now()
        completion: dict[int, int] = {}
        try:
            async for ev in stream_with_first(first, events):
                timer.saw(ev.text)
                completion[ev.index] = ev.completion_tokens
                if not ev.text and ev.finish_reason is None:
                    continue
                chunk = {
                    "id": request_id,
                    "object": "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": ev.index, "text": ev.text, "logprobs": None, "finish_reason": ev.finish_reason}
                    ],
                }
                yield sse(chunk)
            if include_usage:
                used = sum(completion.values())
                yield sse({
                    "id": request_id, "object": "text_completion", "created": created, "model": model,
                    "choices": [],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": used,
                              "total_tokens": prompt_tokens + used},
                })
        except APIError as exc:
            yield sse_error(exc)
        finally:
            timer.done()
        yield DONE


def postprocess_options(ext: CodefillOptions) -> PostprocessOptions:
    """The post-processing a request asks for in its `codefill` field."""
    try:
        check_rules(ext.rules)
    except UnknownRule as exc:
        raise APIError(400, f"codefill.rules: {exc}", code="invalid_request", param="codefill.rules") from exc
    return PostprocessOptions(
        enabled=ext.postprocess,
        multiline=ext.multiline,
        disabled_rules=frozenset(name for name, on in ext.rules.items() if not on),
        language=grammar_name(ext.language, ext.path),
    )


def _too_long(exc: PromptTooLong) -> APIError:
    return APIError(400, str(exc), code="context_length_exceeded", param="prompt")


async def _first(events: AsyncIterator[ChoiceEvent]) -> ChoiceEvent | None:
    """Start generation before the 200 goes out, so early failures keep their status."""
    try:
        return await events.__anext__()
    except StopAsyncIteration:
        return None

