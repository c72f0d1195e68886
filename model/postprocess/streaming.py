"""Post-processing while the model is still writing.

Emits each piece of the output as soon as no later text can change it, and
says when the output is final so the server can stop the generation (and
free the engine) instead of letting the model write text that would be cut.

Invariant: "".join(texts from feed) + finish() == postprocess(whole completion).
"""

from __future__ import annotations

from codefill.model.postprocess.context import build_context
from codefill.model.postprocess.options import PostprocessOptions
from codefill.model.postprocess.runner import RuleRunner
from codefill.model.postprocess.scope import decide_multiline
from codefill.model.postprocess.syntax import SyntaxCheck, grammar_name


class StreamingPostprocessor:
    def __init__(self, prefix: str, suffix: str, options: PostprocessOptions) -> None:
        self._enabled = options.enabled
        auto = options.multiline is None
        multiline = decide_multiline(prefix, suffix) if auto else bool(options.multiline)
        ctx = build_context(prefix, suffix, multiline, multiline_auto=auto)
        syntax = None
        if self._enabled and options.language and options.rule_on("syntax"):
            grammar = grammar_name(options.language)
            syntax = SyntaxCheck(prefix, suffix, grammar) if grammar else None
        self._runner = RuleRunner(ctx, options, syntax)
        self._partial = ""  # the unfinished last line
        # Set when the generation may be ended early (a time budget): a multi-line output
        # then grows by whole lines only, so what was streamed is what finish_early keeps.
        self.whole_lines = False
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
        partial = "" if self.whole_lines and self._runner.multiline else self._partial
        return self._emit(self._runner.stable_text(partial)), False

    def finish(self) -> str:
        """What is left to emit once the generation has ended."""
        if not self._enabled or self._finished:
            return ""
        self._finished = True
        return self._emit(self._runner.final_text(self._partial))

    def finish_early(self) -> str:
        """What is left to emit when the generation is ended before the model ended it
        (a time budget): a multi-line completion keeps its whole lines only, a single
        line what it has (the start of the right line beats nothing)."""
        if not self._enabled or self._finished:
            return ""
        self._finished = True
        return self._emit(self._runner.final_text(None if self._runner.multiline else self._partial))

    def _emit(self, text: str) -> str:
        if len(text) <= self._emitted:
            return ""
        piece = text[self._emitted:]
        self._emitted = len(text)
        return piece
