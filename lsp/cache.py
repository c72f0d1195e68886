"""An LRU of completions, keyed on the context that produced them.

Two kinds of hit, neither sends a request:

* exact: the same context key (the same text would be sent), e.g. the cursor
  came back to where it was, or the client asked again after a dismissal;
* typed ahead: the user typed the first characters of a cached completion. The
  document around the original cursor must be unchanged (compared on a window of
  `ANCHOR_CHARS` each side), and the rest of the completion is the answer. This is
  what makes ghost text feel instant while typing through it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

# Text compared each side of the cursor for a typed-ahead hit: enough to be sure
# it is the same place in the same code, small enough to compare per keystroke.
ANCHOR_CHARS = 1000


@dataclass(frozen=True)
class CacheEntry:
    key: str
    uri: str
    fingerprint: str  # what else shaped the answer (server, model, sampling)
    offset: int  # cursor offset in the document when the completion was asked for
    before: str  # up to ANCHOR_CHARS of the document before that cursor
    after: str  # up to ANCHOR_CHARS after it
    text: str


class CompletionCache:
    def __init__(self, max_entries: int = 256) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def resize(self, max_entries: int) -> None:
        self._max = max_entries
        self._evict()

    def clear(self) -> None:
        self._entries.clear()

    def put(self, key: str, *, uri: str, fingerprint: str, document: str, offset: int, text: str) -> None:
        # An empty answer is kept too: asking again for the same context would get it again.
        if self._max <= 0:
            return
        self._entries[key] = CacheEntry(
            key=key, uri=uri, fingerprint=fingerprint, offset=offset,
            before=document[max(0, offset - ANCHOR_CHARS):offset],
            after=document[offset:offset + ANCHOR_CHARS], text=text,
        )
        self._entries.move_to_end(key)
        self._evict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.text

    def typed_ahead(self, *, uri: str, fingerprint: str, document: str, offset: int) -> str | None:
        """The rest of a cached completion whose first characters were typed since."""
        for entry in reversed(self._entries.values()):  # newest first: the one just shown
            if entry.uri != uri or entry.fingerprint != fingerprint:
                continue
            typed = offset - entry.offset
            if typed <= 0 or typed >= len(entry.text):
                continue
            if not entry.text.startswith(document[entry.offset:offset]):
                continue
            if document[entry.offset - len(entry.before):entry.offset] != entry.before:
                continue
            if document[offset:offset + len(entry.after)] != entry.after:
                continue
            self._entries.move_to_end(entry.key)
            return entry.text[typed:]
        return None

    def _evict(self) -> None:
        while len(self._entries) > max(self._max, 0):
            self._entries.popitem(last=False)
