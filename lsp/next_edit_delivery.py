"""Next edits (`/v1/next_edit`) as editors show them: one of them as an LSP 3.18 inline completion
item whose `range` replaces text near the cursor, or all of them for Copilot-style
`textDocument/copilotInlineEdit` (codefill.lsp.features.inline_edit).

A next edit is asked for only after the user edited: its prompt is their recent edits, so
with no edit since the last request the answer would be the same, and a request per keystroke
would cost the server a whole window's rewrite each. So the inline-completion path asks when
the document has an edit newer than its last next-edit request, once the user has paused
`next_edit_debounce_ms` after it. The request runs in the pipeline's debounced task (one per
document, superseded by the newer request that a newer keystroke brings) and is also cancelled
by the newer edit itself. Its answer is for the version it was asked for and dropped for any
other (codefill.lsp.freshness's rule: never an answer for a stale version); edits computed for
an older text would land in the wrong place.

`ask` is the one place that builds a next-edit request, sends it and checks the answer's version:
the inline-completion path, `textDocument/copilotInlineEdit` and `codefill/nextEdit` all go
through it. Next edits that are shown (`remember`) get ids for `codefill.accepted` /
`codefill.dismissed`, recorded with `kind: "next_edit"` (codefill.lsp.telemetry).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from codefill.lsp.debounce import Debouncer
from codefill.lsp.http_client import CompletionFailed
from codefill.lsp.next_edit import next_edit_body
from codefill.lsp.positions import LineIndex
from codefill.lsp.settings import Settings
from codefill.lsp.telemetry import ShownCompletion, Telemetry

NEXT_EDIT_KIND = "next_edit"  # the `kind` of a next edit's telemetry record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextEditAnswer:
    version: int  # the document version the edits are for
    edits: list[dict[str, Any]]  # [{"range", "text"}] in LSP positions, first to last
    revision: int = -1  # the document revision they are for (codefill.lsp.documents)
    context_key: str = ""  # a hash of the request (telemetry's context_hash)
    asked: float = 0.0  # time.perf_counter() when it was asked


@dataclass(frozen=True)
class InlineEdit:
    """One next edit for `textDocument/inlineCompletion`: replace `range` with `text`."""

    range: dict[str, Any]
    text: str
    version: int
    id: str = ""  # what the client reports back to `codefill.accepted` / `codefill.dismissed`


def _at(position: dict[str, Any]) -> tuple[int, int]:
    return position["line"], position["character"]


def inline_candidate(edits: list[dict[str, Any]], line: int, character: int) -> dict[str, Any] | None:
    """The edit to show as inline completion: the first that ends at or after the cursor, else the
    nearest before it. LSP 3.18 wants an inline completion's range on one line, so edits over
    lines are left to clients that show inline edits; so are deletions (no text to show)."""
    fitting = [e for e in edits if e["range"]["start"]["line"] == e["range"]["end"]["line"] and e["text"]]
    if not fitting:
        return None
    fitting.sort(key=lambda e: _at(e["range"]["start"]))
    for edit in fitting:
        if _at(edit["range"]["end"]) >= (line, character):
            return edit
    return fitting[-1]


def _well_formed(edit: Any) -> bool:
    try:
        return (isinstance(edit["text"], str)
                and all(isinstance(edit["range"][end][k], int) for end in ("start", "end")
                        for k in ("line", "character")))
    except (KeyError, TypeError):
        return False


def accepted_places(text: str, edits: list[dict[str, Any]], offset_at: Any) -> list[tuple[int, str]]:
    """For each edit (in order), where its text stands once the whole suggestion is applied: its
    string index in that text and the rest of its line after it. That is what an acceptance must
    find in the document, as for a FIM completion (codefill.lsp.features.telemetry_commands)."""
    applied, at = _applied(text, edits, offset_at)
    index = LineIndex(applied)
    places = []
    for i, edit in enumerate(edits):
        end = at[i] + len(edit["text"])
        places.append((at[i], applied[end:index.line_end(index.line_of(end))]))
    return places


def accepted_texts(text: str, edits: list[dict[str, Any]], offset_at: Any) -> list[str]:
    """The document as each of `edits` accepted alone would leave it, and as all of them would."""
    texts = [_applied(text, [edit], offset_at)[0] for edit in edits]
    if len(edits) > 1:
        texts.append(_applied(text, edits, offset_at)[0])
    return texts


def _applied(text: str, edits: list[dict[str, Any]], offset_at: Any) -> tuple[str, dict[int, int]]:
    """`text` with `edits` applied, and where each edit's text starts in it."""
    spans = sorted((offset_at(*_at(e["range"]["start"])), offset_at(*_at(e["range"]["end"])), i)
                   for i, e in enumerate(edits))
    pieces: list[str] = []
    at: dict[int, int] = {}
    done, size = 0, 0
    for start, end, i in spans:
        start = max(start, done)  # overlapping edits: the later one starts where the earlier ended
        pieces.append(text[done:start])
        size += start - done
        at[i] = size
        pieces.append(edits[i]["text"])
        size += len(edits[i]["text"])
        done = max(end, start)
    pieces.append(text[done:])
    return "".join(pieces), at


def _request_key(body: Any) -> str:
    encoded = json.dumps(body.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


class NextEditDelivery:
    def __init__(self, store: Any, client: Any, stats: Any, debouncer: Debouncer,
                 telemetry: Telemetry | None = None) -> None:
        self.store, self.client, self.stats, self.debouncer = store, client, stats, debouncer
        self.telemetry = telemetry
        self._edited: dict[str, tuple[int, float]] = {}  # uri -> (revision, monotonic time) of its last edit
        self._asked: dict[str, int] = {}  # uri -> the revision a next edit was last asked for
        self._pending: dict[str, set[asyncio.Future]] = {}  # uri -> the requests under way

    def changed(self, uri: str) -> None:
        doc = self.store.get(uri)
        if doc is not None:
            self._edited[uri] = (doc.revision, time.monotonic())
        for request in self._pending.get(uri, ()):
            request.cancel()  # for a text that is gone

    def closed(self, uri: str) -> None:
        self._edited.pop(uri, None)
        self._asked.pop(uri, None)
        for request in self._pending.pop(uri, ()):
            request.cancel()

    def edited_since_asked(self, uri: str) -> bool:
        edited = self._edited.get(uri)
        return edited is not None and edited[0] != self._asked.get(uri)

    async def inline_edit(self, uri: str, line: int, character: int, settings: Settings, *,
                          invoked: bool, started: float | None = None) -> InlineEdit | None:
        """The next edit to show at (line, character) as inline completion; None: none to show
        (the caller falls back to FIM after checking the document did not change meanwhile)."""
        if not settings.next_edit or not self.edited_since_asked(uri):
            return None
        if not invoked and self.store.focused_uri not in (None, uri):
            return None  # a client asking for every open buffer: the cursor is another buffer's
        doc = self.store.get(uri)
        if doc is None:
            return None
        revision = doc.revision
        if not invoked:
            paused_ms = (time.monotonic() - self._edited[uri][1]) * 1000
            await Debouncer.pause(int(settings.next_edit_debounce_ms - paused_ms))
            if self.store.get(uri) is not doc or doc.revision != revision:
                return None  # typed during the pause: the newer text gets its own request
        answer = await self.ask(uri, line, character, settings)
        if answer is None:
            return None
        edit = inline_candidate(answer.edits, line, character)
        if edit is None:
            return None
        ids = self.remember(uri, answer, [edit], started)
        if ids is None:
            return None
        self.stats.next_edit_shown += 1
        return InlineEdit(range=edit["range"], text=edit["text"], version=answer.version, id=ids[0])

    def is_current(self, uri: str, answer: NextEditAnswer) -> bool:
        """Whether the document is still the text `answer` is for: an answer handed on after an
        await (a debouncer's task) must be checked again."""
        doc = self.store.get(uri)
        return doc is not None and doc.revision == answer.revision

    def remember(self, uri: str, answer: NextEditAnswer, edits: list[dict[str, Any]],
                 started: float | None = None) -> list[str] | None:
        """Ids for `edits` (of `answer`) about to be shown, one each, remembered for telemetry
        (kind "next_edit"; latency from `started`, else from the request); None when the document
        is no longer the text they are for."""
        if not self.is_current(uri, answer):
            return None
        doc = self.store.get(uri)
        ids = [uuid.uuid4().hex for _ in edits]
        if edits:
            # Accepting one is an edit event of its own (codefill.lsp.edit_history says why).
            self.store.offer(uri, answer.revision, accepted_texts(doc.text, edits, doc.offset_at))
        if self.telemetry is not None and edits:
            latency_ms = (time.perf_counter() - (answer.asked if started is None else started)) * 1000
            language = doc.language or doc.language_id or None
            for completion_id, edit, (offset, followed_by) in zip(
                    ids, edits, accepted_places(doc.text, edits, doc.offset_at)):
                self.telemetry.shown(ShownCompletion(completion_id, answer.context_key, edit["text"], language,
                                                     latency_ms, uri=uri, offset=offset, followed_by=followed_by,
                                                     kind=NEXT_EDIT_KIND))
        return ids

    async def edits(self, uri: str, line: int, character: int, settings: Settings) -> NextEditAnswer | None:
        """All next edits at (line, character), in the pipeline's debouncer under a key of their
        own: a client that asks for both inline completions and inline edits gets both."""
        try:
            return await self.debouncer.run((uri, "next-edit"), lambda: self.ask(uri, line, character, settings))
        except Exception:  # noqa: BLE001 - a bug here must cost one suggestion, not the server
            log.exception("next edit at %s:%d:%d failed", uri, line + 1, character + 1)
            return None

    async def ask(self, uri: str, line: int, character: int, settings: Settings) -> NextEditAnswer | None:
        """The server's next edits for the document as it is now; None when it is not open, the
        request failed, or the document changed before the answer came (then counted stale)."""
        doc = self.store.get(uri)
        body = next_edit_body(self.store, uri, line, character, model=settings.model or "")
        if doc is None or body is None:
            return None
        version, revision, asked = doc.version, doc.revision, time.perf_counter()
        self._asked[uri] = revision
        self.stats.next_edit_sent += 1
        request = asyncio.ensure_future(self.client.next_edit(body, settings))
        pending = self._pending.setdefault(uri, set())
        pending.add(request)
        try:
            # Waited on, not awaited: its cancellation by a newer edit is an answer ("stale"),
            # not this request's own cancellation.
            await asyncio.wait([request])
        finally:
            if not request.done():
                request.cancel()  # this request was superseded or cancelled by the client
            pending.discard(request)
            if not pending and self._pending.get(uri) is pending:
                del self._pending[uri]
        if request.cancelled() or self.store.get(uri) is not doc or doc.revision != revision:
            self.stats.stale_dropped += 1
            log.debug("next edit for %s dropped: the document changed while the model answered", uri)
            return None
        failure = request.exception()
        if isinstance(failure, CompletionFailed):
            self.stats.failed += 1
            log.info("no next edit: %s", failure)
            return None
        if failure is not None:
            raise failure
        edits = [e for e in request.result().get("edits", []) if _well_formed(e)]
        return NextEditAnswer(version=version, edits=edits, revision=revision, context_key=_request_key(body),
                              asked=asked)


__all__ = ["NEXT_EDIT_KIND", "InlineEdit", "NextEditAnswer", "NextEditDelivery", "accepted_places",
           "inline_candidate"]
