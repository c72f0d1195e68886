"""From a cursor position to a completion: context, trigger policy, cache, debounce, model.

Both completion features (inline and item) go through `CompletionPipeline.complete`,
so they share the cache, the cancellation of older requests and the telemetry ids.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from codefill.lsp.cache import CompletionCache
from codefill.lsp.debounce import Debouncer
from codefill.lsp.editor_status import EditorStatus
from codefill.lsp.http_client import CompletionFailed, FimClient
from codefill.lsp.model_calls import ModelCall, ModelCalls
from codefill.lsp.next_edit_delivery import InlineEdit, NextEditDelivery
from codefill.lsp.freshness import rebase
from codefill.lsp.settings import Settings
from codefill.lsp.stats import PipelineStats
from codefill.lsp.telemetry import ShownCompletion, Telemetry
from codefill.lsp.trigger import decide, multiline_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    id: str  # what the client reports back to `codefill.accepted` / `codefill.dismissed`
    text: str  # inserted at (line, character)
    line: int  # where, in the document's current version (the user may have typed since the request)
    character: int  # UTF-16 column
    line_prefix: str  # the line left of (line, character), in that version
    version: int  # the document version the position and the text are for
    context_key: str
    language: str | None
    latency_ms: float
    source: str  # "model", "cache" or "typed-ahead"


def _request_fingerprint(settings: Settings) -> str:
    """Everything besides the context that shapes the answer."""
    parts = (settings.url, settings.model, settings.max_tokens, settings.temperature, settings.raw_fim_template)
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


class CompletionPipeline:
    def __init__(self, store: Any, settings: Settings, telemetry: Telemetry, client: FimClient | None = None,
                 status: EditorStatus | None = None) -> None:
        self.store = store
        self.telemetry = telemetry
        self.client = client or FimClient()
        self.status = status if status is not None else EditorStatus()  # what the editor is shown
        self.cache = CompletionCache(settings.cache_size)
        self.debouncer = Debouncer()
        self.stats = PipelineStats()
        self.calls = ModelCalls()
        self.next_edits = NextEditDelivery(store, self.client, self.stats, self.debouncer, telemetry)
        self._invoked: dict[str, int] = {}  # explicit requests running, per document
        self.settings = settings
        self._builder: Any = None
        self._builder_budgets: tuple[int, int, int, int] | None = None
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take new settings; the context builder is rebuilt only when its budgets change
        (it may keep caches of its own)."""
        self.settings = settings
        self.cache.resize(settings.cache_size)
        self.telemetry.configure(settings.data_dir, settings.telemetry)
        budgets = (settings.context_tokens, settings.crossfile_tokens, settings.window_snap_lines,
                   settings.suffix_percent)
        if budgets != self._builder_budgets:
            self._builder = None
            self._builder_budgets = budgets

    def _context_builder(self) -> Any:
        if self._builder is None:
            # Imported here so the settings, cache and trigger modules load without tree-sitter.
            from codefill.lsp.context import ContextBuilder

            assert self._builder_budgets is not None  # configure() ran in __init__
            context_tokens, crossfile_tokens, snap_lines, suffix_percent = self._builder_budgets
            self._builder = ContextBuilder(self.store, budget_tokens=context_tokens,
                                           crossfile_budget_tokens=crossfile_tokens, snap_lines=snap_lines,
                                           suffix_share=suffix_percent / 100)
        return self._builder

    async def complete(self, uri: str, line: int, character: int, *, invoked: bool,
                       next_edit: bool = False) -> Completion | InlineEdit | None:
        """The completion at a position, or None (nothing to say, refused, failed or
        superseded by a newer request for the same document). Never raises but for
        cancellation by the client. `next_edit`: the caller can show an edit near the cursor
        (inline completion's `range`), which is asked first where the settings and the user's
        edits call for one (codefill.lsp.next_edit_delivery)."""
        started = time.perf_counter()
        if not invoked and uri in self._invoked:
            # The user asked on purpose (a key); an automatic request must not supersede that.
            self.stats.requests += 1
            self.stats.skipped += 1
            return None
        if invoked:
            self._invoked[uri] = self._invoked.get(uri, 0) + 1
        try:
            work = self._next_edit_or_complete if next_edit else self._complete
            return await self.debouncer.run(uri, lambda: work(uri, line, character, invoked, started))
        except asyncio.CancelledError:
            self.stats.cancelled += 1
            log.debug("request at %s:%d:%d cancelled by the client", uri, line + 1, character + 1)
            raise
        except Exception:  # noqa: BLE001 - a bug here must cost one completion, not the server
            log.exception("completion at %s:%d:%d failed", uri, line + 1, character + 1)
            return None
        finally:
            if invoked:
                left = self._invoked.pop(uri) - 1
                if left:
                    self._invoked[uri] = left

    async def _next_edit_or_complete(self, uri: str, line: int, character: int, invoked: bool,
                                     started: float) -> Completion | InlineEdit | None:
        doc = self.store.get(uri)
        revision = doc.revision if doc is not None else None
        found = await self.next_edits.inline_edit(uri, line, character, self.settings, invoked=invoked,
                                                 started=started)
        if found is not None:
            self.stats.requests += 1
            return found
        if doc is not None and (self.store.get(uri) is not doc or doc.revision != revision):
            return None  # the position is for text that is gone: the newer text gets its own request
        # No next edit to show: the completion at the cursor, so turning next edits on never gives less.
        return await self._complete(uri, line, character, invoked, started)

    async def _complete(self, uri: str, line: int, character: int, invoked: bool, started: float) -> Completion | None:
        settings = self.settings
        stats = self.stats
        stats.requests += 1
        doc = self.store.get(uri)
        if doc is None:
            log.warning("completion asked for %s, which is not open", uri)
            return None
        # Snapshot before any await: the answer is checked against it when it comes back.
        document, revision, offset = doc.text, doc.revision, doc.offset_at(line, character)
        where = f"{_short(uri)}:{line + 1}:{character + 1}"

        # Cheap checks first: nothing below costs a parse, a context build or a request.
        if not invoked and not self._is_where_the_user_types(uri, doc, offset):
            stats.skipped += 1
            log.debug("no request at %s: not the document being edited, nor its last edit", where)
            return None
        line_suffix = document[offset:doc.index.line_end(doc.index.line_of(offset))]
        decision = decide(line_suffix, invoked=invoked, max_right_chars=settings.max_right_chars)
        if not decision.allowed:
            stats.skipped += 1
            log.debug("no request at %s: %s", where, decision.reason)
            return None
        fingerprint = _request_fingerprint(settings)
        text = self.cache.typed_ahead(uri=uri, fingerprint=fingerprint, document=document, offset=offset)
        if text is not None:
            stats.typed_ahead_hits += 1
            return self._shown(uri, text, offset, "typed-ahead", "", doc.language, started, document)
        call = self.calls.joinable(uri, document, offset)
        if call is not None:
            stats.in_flight_hits += 1
            text = await self._answer(call)
            if text is not None and (doc.revision != revision
                                     or rebase(text, call.document, call.offset, document) is not None):
                return self._shown(uri, text, call.offset, "in-flight", call.context_key, doc.language, started,
                                   call.document)
            if doc.revision != revision:
                return None
            # It failed, was aborted, or answered something other than what was typed since it was
            # asked (joining it was a bet on the answer), and the text is still as this request saw
            # it: ask anew. Answering nothing here would leave the user nothing until the next key:
            # editors do not ask again at a position they got an empty answer for.
            if text is not None:
                stats.stale_dropped += 1
        if not invoked:
            await Debouncer.pause(settings.debounce_ms)
            if doc.revision != revision or self.store.get(uri) is not doc:
                return None  # typed during the pause: the newer text gets its own request

        builder = self._context_builder()
        ctx = await asyncio.to_thread(builder.build, uri, line, character)
        if doc.revision != revision:
            return None  # the context was built from newer text than the position is for
        multiline = multiline_for(ctx.multiline, server_decides=not settings.raw_fim_template)
        key = f"{ctx.key}:{fingerprint}:{multiline}"
        text = self.cache.get(key)
        source = "cache"
        if text is not None:
            stats.cache_hits += 1
        else:
            source = "model"
            call = self.calls.start(uri, document, offset,
                                    lambda call: self._ask_model(call, ctx, multiline, key, fingerprint, where))
            call.context_key = ctx.key
            text = await self._answer(call)
            if text is None:
                return None
        return self._shown(uri, text, offset, source, ctx.key, ctx.language, started, document,
                           build_ms=ctx.build_ms)

    async def _ask_model(self, call: ModelCall, ctx: Any, multiline: bool | None, key: str, fingerprint: str,
                         where: str) -> str:
        """The model request itself, in the call's own task (see codefill.lsp.model_calls)."""
        settings, stats = self.settings, self.stats
        stats.sent += 1
        asked = time.perf_counter()

        def so_far(text: str) -> None:
            call.so_far = text

        try:
            async with self.status.pending(call.uri):
                text = await self.client.complete(ctx, multiline=multiline, settings=settings, on_text=so_far)
        except CompletionFailed as exc:
            stats.failed += 1
            self.status.failed(exc)
            log.warning("no completion at %s: %s", where, exc)
            raise
        self.status.succeeded()
        log.debug("model answered in %.0f ms", (time.perf_counter() - asked) * 1000)
        # Cached for the text it was asked for: the cache checks that text before it answers.
        self.cache.put(key, uri=call.uri, fingerprint=fingerprint, document=call.document, offset=call.offset,
                       text=text)
        return text

    @staticmethod
    async def _answer(call: ModelCall) -> str | None:
        try:
            return await call.answer()
        except CompletionFailed:
            return None

    def document_changed(self, uri: str) -> None:
        """After every change: a model request whose answer the new text contradicts is aborted."""
        doc = self.store.get(uri)
        if doc is not None:
            self.calls.changed(uri, doc.text)
        self.next_edits.changed(uri)

    def document_closed(self, uri: str) -> None:
        self.calls.closed(uri)
        self.next_edits.closed(uri)

    def _is_where_the_user_types(self, uri: str, doc: Any, offset: int) -> bool:
        """Some clients ask for every open buffer at once; only the document being edited,
        or another one at the very place it was last edited, is worth a model request."""
        focused = self.store.focused_uri
        return focused is None or focused == uri or doc.last_edit_offset == offset

    def _shown(self, uri: str, text: str, offset: int, source: str, context_key: str, language: str | None,
               started: float, asked_text: str, build_ms: float = 0.0) -> Completion | None:
        """The answer as a completion of the document as it is now (see codefill.lsp.freshness)."""
        stats = self.stats
        if not text.strip():
            stats.empty += 1
            return None
        doc = self.store.get(uri)
        if doc is None:
            return None
        rebased = rebase(text, asked_text, offset, doc.text)
        if rebased is None:
            stats.stale_dropped += 1
            log.debug("answer for %s dropped: the document changed while the model answered", _short(uri))
            return None
        if rebased.typed:
            stats.stale_adjusted += 1
            text = rebased.text
            if not text.strip():
                return None
        line, character = doc.position_of(rebased.offset)
        line_prefix = doc.text[doc.index.line_start(line):rebased.offset]
        followed_by = doc.text[rebased.offset:doc.index.line_end(line)]
        completion = Completion(
            id=uuid.uuid4().hex, text=text, line=line, character=character, line_prefix=line_prefix,
            version=doc.version, context_key=context_key, language=language,
            latency_ms=(time.perf_counter() - started) * 1000, source=source,
        )
        stats.shown += 1
        self.telemetry.shown(ShownCompletion(completion.id, completion.context_key, completion.text,
                                             completion.language, completion.latency_ms, uri=uri,
                                             offset=rebased.offset, followed_by=followed_by))
        log.info("completion at %s:%d:%d from %s in %.0f ms (%d chars; context %.1f ms)", _short(uri),
                 line + 1, character + 1, source, completion.latency_ms, len(text), build_ms)
        return completion

    def stats_snapshot(self) -> dict[str, int]:
        self.stats.superseded = self.debouncer.superseded
        return self.stats.as_dict()

    async def aclose(self) -> None:
        self.calls.abort_all()
        await self.client.aclose()


def _short(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]
