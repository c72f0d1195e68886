"""Counters of what the completion pipeline did, for `codefill.stats` and benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class PipelineStats:
    requests: int = 0  # completion requests from the client
    skipped: int = 0  # refused by a cheap check: trigger policy, not the focused document
    cache_hits: int = 0  # the same context was answered before
    typed_ahead_hits: int = 0  # the user typed into a cached answer
    in_flight_hits: int = 0  # waited for a model request already under way for the text typed since
    sent: int = 0  # HTTP requests to the model
    superseded: int = 0  # replaced by a newer request for the same document
    cancelled: int = 0  # cancelled by the client ($/cancelRequest)
    failed: int = 0  # the server could not answer
    empty: int = 0  # the model answered nothing
    stale_dropped: int = 0  # answered for text that is gone
    stale_adjusted: int = 0  # the user typed the answer's start meanwhile: the rest was shown
    shown: int = 0  # completions returned
    next_edit_sent: int = 0  # HTTP requests for a next edit (codefill.lsp.next_edit_delivery)
    next_edit_shown: int = 0  # next edits returned as inline completion

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
