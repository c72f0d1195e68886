"""Request and response types of `/v1/next_edit` (codefill's own endpoint, OpenAI-shaped).

Positions are LSP's: zero-based lines of the document, characters in UTF-16 code units. The
window is whole lines of the document starting at `start_line`, as they are now; the answer
is the window rewritten and the edits that make it (model/next_edit_edits.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field

from codefill.server.protocol import (
    PRIORITY_DESCRIPTION,
    Int,
    PositiveInt,
    Priority,
    RepoFile,
    Usage,
    _integral,
    _Strict,
)

MAX_EVENTS = 32  # recent edits per request; /openapi.json says so too
MAX_WINDOW_LINES = 400  # the answer repeats the window: a longer one costs seconds of generation
NEXT_EDIT_FORMAT_NAMES = ("codefill", "zeta")  # model/templates/next_edit.py

# name -> the only value accepted (server/validation.reject_unsupported)
UNSUPPORTED_NEXT_EDIT_FIELDS = {"stream": False}

Line = Annotated[int, Field(ge=0), BeforeValidator(_integral)]


class WindowIn(_Strict):
    text: str = Field(description="Whole lines of the document, as they are now (the last may lack its line "
                      f"break); at most {MAX_WINDOW_LINES} lines.")
    start_line: Line = Field(0, description="The window's first line in the document (zero-based).")


class CursorIn(_Strict):
    line: Line
    character: Line = Field(description="UTF-16 code units from the line's start, as in LSP.")


class EditEventIn(_Strict):
    path: str
    diff: str = Field(description="Unified diff of the edit (`---`/`+++` headers optional).")


class NextEditRequest(_Strict):
    model: str
    path: str | None = Field(None, description="Path of the file being edited.")
    language: str | None = Field(None, description="Language of the file (a tree-sitter or editor language id).")
    window: WindowIn
    cursor: CursorIn = Field(description="The cursor in document coordinates; it must lie in the window.")
    events: list[EditEventIn] = Field(default_factory=list, max_length=MAX_EVENTS,
                                      description="Recent edits, oldest first.")
    files: list[RepoFile] = Field(default_factory=list, description="Other files, as context.")
    max_tokens: PositiveInt | None = Field(None, description="Default: the window's tokens and a margin.")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    format: Literal["codefill", "zeta"] | None = Field(
        None, description="The prompt format (model/templates/next_edit.py); default: the model's."
    )
    postprocess: bool = Field(True, description="Put back whitespace-only changes the recent edits did not start "
                              "(model/next_edit_edits.py); false: the model's rewrite as it is.")
    stream: bool | None = False  # the answer is only usable whole (UNSUPPORTED_NEXT_EDIT_FIELDS)
    seed: Int | None = None
    priority: Priority | None = Field(None, description=PRIORITY_DESCRIPTION.replace(
        "0 for fill-in-the-middle", "0 for next edits and fill-in-the-middle"))
    user: str | None = None


class PositionOut(BaseModel):
    line: int
    character: int


class RangeOut(BaseModel):
    start: PositionOut
    end: PositionOut


class TextEditOut(BaseModel):
    range: RangeOut
    text: str


class WindowOut(BaseModel):
    text: str
    start_line: int


class NextEditResponse(BaseModel):
    id: str
    object: Literal["next_edit"] = "next_edit"
    created: int
    model: str
    window: WindowOut = Field(description="The window rewritten (the request's when no edit is proposed).")
    edits: list[TextEditOut] = Field(description="What changed, first to last, in document coordinates; empty "
                                     "when the model proposes no change.")
    finish_reason: Literal["stop", "length"] = Field(
        description="`length`: the answer ran out of tokens before it closed the region; an answer that never "
        "closes the region proposes no edits.")
    usage: Usage


__all__ = ["MAX_EVENTS", "MAX_WINDOW_LINES", "UNSUPPORTED_NEXT_EDIT_FIELDS", "NextEditRequest", "NextEditResponse"]
