"""The client's side of a raw FIM prompt (`--raw-fim-template`): where the text it gets back ends.

A server without `suffix` support knows nothing of the template, so it does not
stop at the template's control tokens; `codefill eval` and `codefill bench` cut
its text here, the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codefill.model.templates.fim import FimTemplate


def template_markers(template: FimTemplate) -> tuple[str, ...]:
    """A FIM template's control/stop token strings, each once, in order."""
    return tuple(dict.fromkeys(template.stop_tokens + template.required_tokens))


def cut_at_markers(text: str, markers: tuple[str, ...]) -> str:
    """`text` up to the first occurrence of any marker (a control/stop token string)."""
    cut = len(text)
    for m in markers:
        i = text.find(m)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
