"""Post-processing of FIM completions: cut what the editor must not insert.

One module per rule (repeat_suffix, closing_line, scope, syntax, repeat_ending,
whitespace); the runner applies them in a fixed, documented order, and
`streaming` applies the same rules while the model is still writing.
"""

from __future__ import annotations

from codefill.model.postprocess.options import RULES, PostprocessOptions, UnknownRule, check_rules
from codefill.model.postprocess.scope import decide_multiline
from codefill.model.postprocess.streaming import StreamingPostprocessor
from codefill.model.postprocess.syntax import grammar_name

__all__ = [
    "RULES", "PostprocessOptions", "StreamingPostprocessor", "UnknownRule", "check_rules", "decide_multiline",
    "grammar_name", "postprocess",
]


def postprocess(completion: str, prefix: str, suffix: str, options: PostprocessOptions) -> str:
    """The completion as the editor should insert it between `prefix` and `suffix`."""
    if not options.enabled:
        return completion
    # The same code path as streaming, fed in one piece, so both always agree.
    stream = StreamingPostprocessor(prefix, suffix, options)
    head, _stop = stream.feed(completion)
    return head + stream.finish()
