"""/v1/next_edit: the editable window rewritten with the edit the user is about to make.

The request's window, cursor, recent edits and context files become the model family's
prompt (model/templates/next_edit.py); the answer, cut at the region's end marker, is the
rewritten window, and model/next_edit_edits.py turns it into the few edits that make it.
Admission, priorities, time to first token and latency go the way of /v1/completions; a
next edit is interactive editor work, so it runs at fill-in-the-middle's priority.
"""

from __future__ import annotations

from codefill.model.context_window import PromptTooLong, fit_tokens
from codefill.model.engines import SamplingOptions
from codefill.model.next_edit_edits import align_final_break, compute_edits, drop_whitespace_changes, split_lines
from codefill.model.templates.encoding import encode_text
from codefill.model.templates.fim import special_token_id
from codefill.model.templates.fim_prompt import ContextFile
from codefill.model.templates.next_edit import (
    EditEvent,
    NextEditFormat,
    NextEditInput,
    detect_next_edit_format,
    get_next_edit_format,
)
from codefill.model.utf16 import utf16_len, utf16_to_index
from codefill.server.choice_streams import FirstTokenTimer, TextFilter, choice_stream
from codefill.server.errors import APIError
from codefill.server.priorities import request_priority
from codefill.server.protocol import Usage, new_id, now
from codefill.server.protocol_next_edit import (
    MAX_WINDOW_LINES,
    UNSUPPORTED_NEXT_EDIT_FIELDS,
    NextEditRequest,
    NextEditResponse,
    PositionOut,
    RangeOut,
    TextEditOut,
    WindowOut,
)
from codefill.server.state import ServingState
from codefill.server.validation import choice_seed, reject_unsupported, request_chars

ENDPOINT = "next_edit"
# Room beyond the window's own tokens for what the edit adds (a new line, longer names).
_MARGIN_TOKENS = 32
# Chat models end their turn with one of these after the region; not every vocabulary has both.
_END_TOKENS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")


class _UntilRegionEnd(TextFilter):
    """Hold the answer back and stop the engine once the region is closed: nothing after the end
    marker is of use, and the answer is only usable whole."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self.text = ""

    def feed(self, delta: str) -> tuple[str, bool]:
        self.text += delta
        return "", any(s in self.text[-len(delta) - 64:] for s in self._stops)


class _Job:
    def __init__(self, prompt_ids: list[int], inp: NextEditInput, fmt: NextEditFormat, max_tokens: int) -> None:
        self.prompt_ids, self.inp, self.fmt, self.max_tokens = prompt_ids, inp, fmt, max_tokens


class NextEditService:
    def __init__(self, state: ServingState) -> None:
        self.state = state

    async def create(self, req: NextEditRequest) -> NextEditResponse:
        state = self.state
        lora = state.check_model(req.model)
        engine = state.require_ready()
        reject_unsupported(req.model_dump(), UNSUPPORTED_NEXT_EDIT_FIELDS)  # no streaming: only a whole answer helps
        state.config.limits.check_max_tokens(req.max_tokens)
        inp = _input(req)
        job = await state.prepare(self._prepare, req, inp, chars=request_chars(req))
        temperature = req.temperature if req.temperature is not None else state.config.default_temperature
        request_id = new_id("nextedit")
        options = SamplingOptions(
            max_tokens=job.max_tokens,
            temperature=temperature,
            top_p=1.0,
            # No engine stop strings: engines leave a stop string out of the text, and the end marker
            # is how a whole rewrite is told from a cut-off one; the filter stops the engine there.
            stop_token_ids=_end_token_ids(engine.tokenizer),
            seed=choice_seed(req.seed, 0),
            lora=lora,
            priority=request_priority(req.priority, fim=True, enabled=state.config.priorities),
        )
        answer = _UntilRegionEnd(job.fmt.stop)
        timer = FirstTokenTimer(state.metrics, ENDPOINT)
        reason, completion_tokens = None, 0
        try:
            # No time to first token: the answer is held back until it is whole.
            async for ev in choice_stream(engine, 0, job.prompt_ids, options, request_id, answer, state.metrics,
                                          admission=state.admission):
                completion_tokens = ev.completion_tokens
                reason = ev.finish_reason or reason
        finally:
            timer.done()
        rewrite = job.fmt.extract(answer.text)
        if rewrite is None:  # the answer never closed the region: a cut-off rewrite would delete the rest
            rewrite, reason = inp.window, ("length" if reason == "length" else "stop")
        else:
            rewrite, reason = align_final_break(inp.window, rewrite), "stop"
            if req.postprocess:
                rewrite = drop_whitespace_changes(inp.window, rewrite, [e.diff for e in req.events])
        edits = compute_edits(inp.window, rewrite, req.window.start_line)
        if not edits:
            rewrite = inp.window
        prompt_tokens = len(job.prompt_ids)
        return NextEditResponse(
            id=request_id, created=now(), model=req.model,
            window=WindowOut(text=rewrite, start_line=req.window.start_line),
            edits=[TextEditOut(range=RangeOut(start=PositionOut(line=e.start.line, character=e.start.character),
                                              end=PositionOut(line=e.end.line, character=e.end.character)),
                               text=e.text) for e in edits],
            finish_reason=reason,
            usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                        total_tokens=prompt_tokens + completion_tokens),
        )

    def _format(self, req: NextEditRequest) -> NextEditFormat:
        name = req.format or self.state.config.next_edit_format
        return get_next_edit_format(name) if name else detect_next_edit_format(self.state.config.model_path)

    def _prepare(self, req: NextEditRequest, inp: NextEditInput) -> _Job:
        """The prompt's ids, in a prompt thread. Too long for the context, the context files go
        first (last first), then the oldest edits; the window and cursor are never cut."""
        state = self.state
        tok = state.engine.tokenizer
        limits = state.config.limits
        fmt = self._format(req)
        window_tokens = len(encode_text(tok, inp.window))
        if limits.max_tokens and window_tokens + 1 > limits.max_tokens:
            raise APIError(400, f"the window is {window_tokens} tokens, and its rewrite would be more than this "
                           f"server's --max-tokens-limit of {limits.max_tokens}; send fewer lines",
                           code="window_too_long", param="window.text")
        max_tokens = req.max_tokens or limits.clamp_max_tokens(window_tokens + window_tokens // 2 + _MARGIN_TOKENS)
        max_len = state.engine.info.max_model_len
        budget = limits.prompt_window(max_len, max_tokens)
        files, events = list(inp.files), list(inp.events)
        while True:
            trial = NextEditInput(inp.window, inp.cursor, inp.path, inp.language, inp.start_line, events, files)
            ids = fmt.encode(tok, trial)
            if len(ids) + max_tokens <= budget or not (files or events):
                break
            if files:
                files.pop()
            else:
                events.pop(0)
        limits.check_prompt_tokens(len(ids), "window")  # even the window alone is over --max-prompt-tokens
        try:
            fit_tokens(ids, max_tokens, max_len)
        except PromptTooLong as exc:
            raise APIError(400, str(exc), code="context_length_exceeded", param="window") from exc
        return _Job(ids, trial, fmt, max_tokens)


def _input(req: NextEditRequest) -> NextEditInput:
    """The request's window and cursor as the template reads them; 400 for a cursor outside the window."""
    text, start = req.window.text, req.window.start_line
    lines = split_lines(text)
    if len(lines) > MAX_WINDOW_LINES:
        raise APIError(400, f"the window has {len(lines)} lines; at most {MAX_WINDOW_LINES}", param="window.text")
    # The line after a final line break is in the window too (the cursor may sit at its start).
    rows = len(lines) + (1 if not lines or lines[-1].endswith(("\n", "\r")) else 0)
    line = req.cursor.line - start
    if not 0 <= line < rows:
        raise APIError(400, f"the cursor's line {req.cursor.line} is outside the window (lines {start} to "
                       f"{start + rows - 1})", code="cursor_outside_window", param="cursor.line")
    content = lines[line].rstrip("\r\n") if line < len(lines) else ""
    if req.cursor.character > utf16_len(content):
        raise APIError(400, f"the cursor's character {req.cursor.character} is past the end of its line "
                       f"({utf16_len(content)} UTF-16 code units)", code="cursor_outside_window",
                       param="cursor.character")
    offset = sum(len(s) for s in lines[:line]) + utf16_to_index(content, req.cursor.character)
    return NextEditInput(
        window=text, cursor=offset, path=req.path, language=req.language, start_line=start,
        events=[EditEvent(e.path, e.diff) for e in req.events],
        files=[ContextFile(path=f.path, content=f.content) for f in req.files],
    )


def _end_token_ids(tokenizer: object) -> tuple[int, ...]:
    ids = [tid for t in _END_TOKENS if (tid := special_token_id(tokenizer, t)) is not None]
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None and int(eos) not in ids:
        ids.append(int(eos))
    return tuple(ids)
