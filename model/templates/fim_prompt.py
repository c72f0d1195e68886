"""The shape of a fill-in-the-middle prompt: text pieces and control tokens.

A prompt is kept as segments instead of one string because control tokens
must reach the model as their ids. If the prompt were one string, code that
happens to contain "<|fim_middle|>" would be tokenized as the control token
and could steer the model (prompt injection through the user's own file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    text: str
    special: bool  # True: a single special token, encoded by id, never split


@dataclass(frozen=True)
class FimPrompt:
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


@dataclass(frozen=True)
class ContextFile:
    """Another file of the repository, shown to the model as context.

    The API's `codefill.files` entries (codefill.server.protocol.RepoFile) carry the
    same two fields but are a pydantic model that validates a request; this
    is what a template reads, whoever built the prompt (server, LSP, training).
    """

    path: str
    content: str


def token(text: str) -> Segment:
    return Segment(text, special=True)


def plain(text: str) -> Segment:
    return Segment(text, special=False)


def join_segments(segments: Iterable[Segment]) -> FimPrompt:
    """Merge neighbouring text pieces and drop empty ones.

    Text segments are tokenized one by one, so two neighbours would be split
    at a boundary the model never saw in training; merging them keeps the
    tokenization identical to tokenizing the whole text at once.
    """
    merged: list[Segment] = []
    for seg in segments:
        if not seg.special and not seg.text:
            continue
        if not seg.special and merged and not merged[-1].special:
            merged[-1] = plain(merged[-1].text + seg.text)
        else:
            merged.append(seg)
    return FimPrompt(tuple(merged))
