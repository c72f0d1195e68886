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

from lsp.cache import CompletionCache
from lsp.debounce import Debouncer
from lsp.http_client import CompletionFailed, FimClient
from lsp.settings import Settings
from lsp.telemetry import ShownCompletion, Telemetry
from lsp.trigger import decide, multiline_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Completion:
    id: str  # what the client reports back to `codefill.accepted` / `codefill.dismissed`
    text: str  # inserted at the request's position
    line_prefix: str  # the cursor's line left of the cursor, when asked
    context_key: str
    language: str | None
    latency_ms: float
    source: str  # "model", "cache" or "typed-ahead"


def _request_fingerprint(settings: Settings) -> str:
    """Everything besides the context that shapes the answer."""
    parts = (settings.url, settings.model, settings.max_tokens, settings.temperature, settings.raw_fim_template)
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


class CompletionPipeline:
    def __init__(self, store: Any, settings: Settings, telemetry: Telemetry, client: FimClient | None = None) -> None:
        self.store = store
        self.telemetry = telemetry
        self.client = client or FimClient()
        self.cache = CompletionCache(settings.cache_size)
        self.debouncer = Debouncer()
        self.settings = settings
        self._builder: Any = None
        self._builder_budgets: tuple[int, int] | None = None
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take new settings; the context builder is rebuilt only when its budgets change
        (it may keep caches of its own)."""
        self.settings = settings
        self.cache.resize(settings.cache_size)
        self.telemetry.configure(settings.data_dir, settings.telemetry)
        budgets = (settings.context_tokens, settings.crossfile_tokens)
        if budgets != self._builder_budgets:
            self._builder = None
            self._builder_budgets = budgets

    def _context_builder(self) -> Any:
        if self._builder is None:
            # Imported here so the settings, cache and trigger modules load without tree-sitter.
            from lsp.context import ContextBuilder

            context_tokens, crossfile_tokens = self._builder_budgets or (2048, 1024)
            self._builder = ContextBuilder(self.store, budget_tokens=context_tokens,
                                           crossfile_budget_tokens=crossfile_tokens)
        return self._builder

    async def complete(self, uri: str, line: int, character: int, *, invoked: bool) -> Completion | None:
        """The completion at a position, or None (nothing to say, refused, failed or
        superseded by a newer request for the same document). Never raises but for
        cancellation by the client."""
        started = time.perf_counter()
        try:
            return await self.debouncer.run(uri, lambda: self._complete(uri, line, character, invoked, started))
        except asyncio.CancelledError:
            log.debug("request at %s:%d:%d cancelled by the client", uri, line + 1, character + 1)
            raise
        except Exception:  # noqa: BLE001 - a bug here must cost one completion, not the server
            log.exception("completion at %s:%d:%d failed", uri, line + 1, character + 1)
            return None

    async def _complete(self, uri: str, line: int, character: int, invoked: bool, started: float) -> Completion | None:
        settings = self.settings
        doc = self.store.get(uri)
        if doc is None:
            log.warning("completion asked for %s, which is not open", uri)
            return None
        # Snapshot before any await: the cache anchors the answer to the text it was asked for.
        document, offset = doc.text, doc.offset_at(line, character)
        line_prefix = document[doc.offset_at(line, 0):offset]
        builder = self._context_builder()
        ctx = await asyncio.to_thread(builder.build, uri, line, character)
        decision = decide(ctx.line_suffix, invoked=invoked, max_right_chars=settings.max_right_chars)
        if not decision.allowed:
            log.debug("no request at %s:%d:%d: %s", uri, line + 1, character + 1, decision.reason)
            return None
        multiline = multiline_for(ctx.multiline, server_decides=not settings.raw_fim_template)
        fingerprint = _request_fingerprint(settings)
        key = f"{ctx.key}:{fingerprint}:{multiline}"

        text = self.cache.get(key)
        source = "cache"
        if text is None:
            text = self.cache.typed_ahead(uri=uri, fingerprint=fingerprint, document=document, offset=offset)
            source = "typed-ahead"
        if text is None:
            if not invoked:
                await Debouncer.pause(settings.debounce_ms)
            source = "model"
            asked = time.perf_counter()
            try:
                text = await self.client.complete(ctx, multiline=multiline, settings=settings)
            except CompletionFailed as exc:
                log.warning("no completion at %s:%d:%d: %s", uri, line + 1, character + 1, exc)
                return None
            log.debug("model answered in %.0f ms", (time.perf_counter() - asked) * 1000)
            self.cache.put(key, uri=uri, fingerprint=fingerprint, document=document, offset=offset, text=text)
        if not text.strip():
            return None
        completion = Completion(
            id=uuid.uuid4().hex, text=text, line_prefix=line_prefix, context_key=ctx.key, language=ctx.language,
            latency_ms=(time.perf_counter() - started) * 1000, source=source,
        )
        self.telemetry.shown(ShownCompletion(completion.id, completion.context_key, completion.text,
                                             completion.language, completion.latency_ms))
        log.info("completion at %s:%d:%d from %s in %.0f ms (%d chars; context %.1f ms)", _short(uri),
                 line + 1, character + 1, source, completion.latency_ms, len(text), ctx.build_ms)
        return completion

    async def aclose(self) -> None:
        await self.client.aclose()


def _short(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]
