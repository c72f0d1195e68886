"""One edit session typed through one asker, the way a user at an editor types it.

Keys go in one by one at the typist's rhythm, each an incremental change at the
cursor. After a key followed by a pause of at least the debounce, the editor asks
for a completion (a request still in flight is cancelled: its answer would be for
older text). The user does not wait: typing goes on while the model thinks, and an
answer is judged against the document as it is when it arrives (codefill.jobs.bench.
replay.judge): shown when it fits that text; outdated when it fits only a text the
editor had since it asked (it crossed a keystroke on its way, and the editor, knowing
its document changed since, drops it: not shown, not stale); stale when it fits none.
A suggestion right to show that the user was about to type anyway is accepted as an
editor applies it (one change inserting it), and typing goes on after it; a stale or
outdated one never is.

Latency is from the key before the pause to the answer's arrival, as the user sees it.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any

from codefill.jobs.bench.replay.askers import Asker, Asking, settle
from codefill.jobs.bench.replay.histories import EditSession
from codefill.jobs.bench.replay.judge import first_line_match, judge, outdated_by, whole_match
from codefill.jobs.bench.replay.positions import position_of
from codefill.jobs.bench.replay.typist import Rhythm, next_key

SETTLE_S = 2.0


@dataclass
class AskRecord:
    typed: int  # characters of the session's text typed when the request went out
    position: float  # the same, as a share of the text
    outcome: str = "pending"  # shown | outdated | stale | empty | cancelled | failed | unanswered
    latency_s: float | None = None  # key before the pause -> answer (any answer that arrived)
    suggestion: str = ""
    whole: bool = False  # the user was about to type the whole suggestion
    first_line: bool = False  # ... or at least its first line
    accepted: bool = False
    error: str | None = None
    behind: int | None = None  # outdated: keystrokes the document had gone on past the text the answer fits
    item: dict[str, Any] | None = None  # stale or outdated: the item as it came, to tell why


@dataclass
class SessionResult:
    session: str
    client: str
    language: str
    typed_chars: int  # the text the user meant to type
    keystrokes: int = 0
    accepted_chars: int = 0
    wall_s: float = 0.0
    final_ok: bool = False  # the document ended as the newer file: nothing corrupted it
    asks: list[AskRecord] = field(default_factory=list)
    engine: dict[str, float] | None = None  # /metrics counters this session moved
    engine_after_first: dict[str, float] | None = None  # the same, from the engine taking the first prompt on
    sent: int | None = None  # HTTP requests that reached the server (None: not known)
    lsp: dict[str, Any] | None = None  # what the language server's own counters did in this session

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report: superseded requests (most of them, on a slow server) only
        as where they were made, so the report stays small."""
        out = asdict(self)
        out["asks"] = [asdict(a) for a in self.asks if a.outcome != "cancelled"]
        out["cancelled_at"] = [a.typed for a in self.asks if a.outcome == "cancelled"]
        return out


@dataclass
class Options:
    rhythm: Rhythm
    pause_s: float  # a pause at least this long makes the editor ask (the debounce)
    accept: bool = True
    answer_timeout_s: float = 15.0  # how long the user waits at the end for an answer still coming


class _Replay:
    def __init__(self, session: EditSession, asker: Asker, uri: str, options: Options) -> None:
        self.s = session
        self.asker = asker
        self.uri = uri
        self.o = options
        self.loop = asyncio.get_running_loop()
        self.doc = session.document
        self.cursor = len(session.before)
        self.version = 1
        self.typed = 0
        self.result = SessionResult(session.id, asker.name, session.language, len(session.text))
        self.pending: tuple[Asking, AskRecord, float] | None = None
        self.since: list[tuple[str, int]] = []  # (document, cursor) of each version since the request, bar the last

    async def insert(self, text: str) -> None:
        at = position_of(self.doc, self.cursor)
        if self.pending is not None:
            self.since.append((self.doc, self.cursor))
        self.doc = self.doc[:self.cursor] + text + self.doc[self.cursor:]
        self.cursor += len(text)
        self.typed += len(text)
        self.version += 1
        await self.asker.edit(self.uri, self.version, at, text)

    async def ask(self, key_t: float) -> None:
        if self.pending is not None:
            asking, record, _ = self.pending
            record.outcome = "cancelled"
            await self.asker.cancel(asking)
        record = AskRecord(self.typed, self.typed / max(1, len(self.s.text)))
        self.result.asks.append(record)
        self.since = []
        self.pending = (self.asker.ask(self.uri, self.version, self.doc, self.cursor), record, key_t)

    def take_answer(self) -> str | None:
        """Judge the answer that arrived; the text to accept, if the user takes it."""
        assert self.pending is not None
        asking, record, key_t = self.pending
        earlier, self.since = self.since, []
        self.pending = None
        record.latency_s = self.loop.time() - key_t
        if asking.task.cancelled():
            record.outcome = "cancelled"
            return None
        if asking.task.exception() is not None:
            record.outcome, record.error = "failed", str(asking.task.exception())[:300]
            return None
        item = asking.task.result()
        if item is None:
            record.outcome = "empty"
            return None
        verdict = judge(item, self.doc, self.cursor)
        if verdict.stale:
            record.behind = outdated_by(item, earlier)
            record.outcome = "stale" if record.behind is None else "outdated"
            record.item = {"insertText": item.insert_text, "start": list(item.start), "end": list(item.end)}
            return None
        if not verdict.text.strip():
            record.outcome = "empty"
            return None
        upcoming = self.s.text[self.typed:]
        record.outcome, record.suggestion = "shown", verdict.text
        record.whole = whole_match(verdict.text, upcoming)
        record.first_line = record.whole or first_line_match(verdict.text, upcoming)
        record.accepted = record.whole and self.o.accept
        return verdict.text if record.accepted else None

    async def wait_answer(self, deadline: float) -> bool:
        """Until the pending answer arrives or the deadline passes; whether it arrived."""
        if self.pending is None:
            return False
        remaining = deadline - self.loop.time()
        if remaining > 0:
            await asyncio.wait({self.pending[0].task}, timeout=remaining)
        return self.pending[0].task.done()

    async def after_event(self, event: str) -> None:
        """The pause after a key (or an accepted suggestion), answers arriving meanwhile."""
        key_t = self.loop.time()
        gap = self.o.rhythm.gap_s(event, self.s.id, self.typed)
        deadline = key_t + gap
        if self.typed < len(self.s.text) and gap >= self.o.pause_s:
            await self.ask(key_t)
        while await self.wait_answer(deadline):
            accepted = self.take_answer()
            if accepted is not None:
                await self.insert(accepted)
                self.result.accepted_chars += len(accepted)
                await self.after_event(accepted)
                return
        await asyncio.sleep(max(0.0, deadline - self.loop.time()))

    async def run(self) -> SessionResult:
        started = self.loop.time()
        await self.asker.open(self.uri, self.s.language, self.doc)
        try:
            while self.typed < len(self.s.text):
                key = next_key(self.s.text, self.typed)
                await self.insert(key)
                self.result.keystrokes += 1
                await self.after_event(key)
            if self.pending is not None:  # the user stops typing; an answer still coming is still measured
                if await self.wait_answer(self.loop.time() + self.o.answer_timeout_s):
                    self.take_answer()
                else:
                    asking, record, _ = self.pending
                    record.outcome = "unanswered"
                    await self.asker.cancel(asking)
                    await settle(asking, SETTLE_S)
                    self.pending = None
        finally:
            if self.pending is not None:
                await self.asker.cancel(self.pending[0])
            await self.asker.close(self.uri)
        self.result.final_ok = self.doc == self.s.final
        self.result.wall_s = round(self.loop.time() - started, 3)
        return self.result


async def replay_session(session: EditSession, asker: Asker, uri: str, options: Options) -> SessionResult:
    return await _Replay(session, asker, uri, options).run()
