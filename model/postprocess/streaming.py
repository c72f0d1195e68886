"""Post-processing while the model is still writing.

Emits each piece of the output as soon as no later text can change it, and
says when the output is final so the server can stop the generation (and
free the engine) instead of letting the model write text that would be cut.

Invariant: "".join(texts from feed) + finish() == postprocess(whole completion).
"""

from __future__ import annotations

from model.postprocess.context import build_context
from model.postprocess.options import PostprocessOptions
from model.postprocess.runner import RuleRunner
from model.postprocess.scope import decide_multiline


class StreamingPostprocessor:
    def __init__(self, prefix: str, suffix: str, options: PostprocessOptions) -> None:
        self._enabled = options.enabled
        multiline = options.multiline if options.multiline is not None else decide_multiline(prefix, suffix)
        self._runner = RuleRunner(build_context(prefix, suffix, multiline))
        self._partial = ""  # the unfinished last line
        self._emitted = 0
        self._finished = False

    def feed(self, delta: str) -> tuple[str, bool]:
        """(text safe to emit now, stop_generation_now)."""
        if not self._enabled:
            return delta, False
        if self._finished:
            return "", True
        *complete, self._partial = (self._partial + delta).split("\n")
        for line in complete:
            self._runner.push_line(line)
            if self._runner.cut:
                self._finished = True
                return self._emit(self._runner.final_text(None)), True
        if self._runner.ends_before(self._partial):
            self._finished = True
            return self._emit(self._runner.final_text(None)), True
        return self._emit(self._runner.stable_text(self._partial)), False

    def finish(self) -> str:
        """What is left to emit once the generation has ended."""
        if not self._enabled or self._finished:
            return ""
        self._finished = True
        return self._emit(self._runner.final_text(self._partial))

    def _emit(self, text: str) -> str:
        if len(text) <= self._emitted:
            return ""
        piece = text[self._emitted:]
        self._emitted = len(text)
        return piece
