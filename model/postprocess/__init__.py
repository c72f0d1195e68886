"""Post-processing of FIM completions: cut what the editor must not insert.

One module per rule (repeat_suffix, closing_line, scope, whitespace); the
runner applies them in a fixed, documented order, and `streaming` applies
the same rules while the model is still writing.
"""

from __future__ import annotations

from model.postprocess.options import PostprocessOptions
from model.postprocess.scope import decide_multiline
from model.postprocess.streaming import StreamingPostprocessor

__all__ = ["PostprocessOptions", "StreamingPostprocessor", "decide_multiline", "postprocess"]


def postprocess(completion: str, prefix: str, suffix: str, options: PostprocessOptions) -> str:
    """The completion as the editor should insert it between `prefix` and `suffix`."""
    if not options.enabled:
        return completion
    # The same code path as streaming, fed in one piece, so both always agree.
    stream = StreamingPostprocessor(prefix, suffix, options)
    head, _stop = stream.feed(completion)
    return head + stream.finish()
