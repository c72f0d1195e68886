"""Prompt lookup whose draft grows with the match: a vLLM proposer (`custom_class`).

vLLM's n-gram proposer drafts a fixed number of tokens after the earliest place where the
text's last 2-4 tokens occur before. That is right for fill-in-the-middle, where a short
match is weak evidence and a long draft mostly wasted; it is wrong for a next edit, where the
answer copies the window token for token: the earliest 4-token match is often in the prompt's
worked example or in an edit event's diff, not in the window, and 5 tokens a step caps the
copy at 6 tokens per forward pass.

So, first, the longest match of `long_min`..`long_max` tokens (a text copied that far is
almost surely being copied on), drafting `long_tokens` tokens after it; only where there is
none, vLLM's own lookup as before (`min`..`max` tokens, `tokens` drafted). Greedy output stays
the model's own: every drafted token is checked by the target model, as for any drafter.

vLLM builds the proposer in its engine process from this class's import path, with no
settings of its own: they come from the environment variable `CODEFILL_LONG_MATCH` (JSON of
`LongMatchSettings`; the engine process inherits it from the server), defaults without it.
`codefill serve --speculative long-ngram` sets both (model/engines/speculative.py);
benchmarks/README.md has what it gains and where.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

ENV = "CODEFILL_LONG_MATCH"


@dataclass(frozen=True)
class LongMatchSettings:
    tokens: int = 5  # drafted after a short match, as vLLM's ngram
    min: int = 2
    max: int = 4
    long_tokens: int = 12  # drafted after a long match
    long_min: int = 8
    long_max: int = 32

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> LongMatchSettings:
        raw = os.environ.get(ENV)
        return cls(**json.loads(raw)) if raw else cls()


class LongMatchNgramProposer:
    """The object vLLM's model runner calls: `propose` for each step's batch, `load_model` once."""

    def __init__(self, vllm_config: Any) -> None:
        from vllm.v1.spec_decode.ngram_proposer import _find_longest_matched_ngram_and_propose_tokens

        self._find = _find_longest_matched_ngram_and_propose_tokens
        self.settings = LongMatchSettings.from_env()
        # vLLM schedules room for num_speculative_tokens drafts a request; never draft more.
        self.limit = vllm_config.speculative_config.num_speculative_tokens
        self.max_model_len = vllm_config.model_config.max_model_len
        import numpy as np

        self._find(np.zeros(64, dtype=np.int32), 2, 4, 1024, 4)  # compile the numba function now, not mid-request

    def draft(self, context: Any) -> list[int]:
        s = self.settings
        found = self._find(context, s.long_min, s.long_max, self.max_model_len, min(s.long_tokens, self.limit))
        if len(found) == 0:
            found = self._find(context, s.min, s.max, self.max_model_len, min(s.tokens, self.limit))
        return found.tolist()

    def propose(self, sampled_token_ids: list[list[int]], num_tokens_no_spec: Any, token_ids_cpu: Any,
                slot_mappings: Any = None) -> list[list[int]]:
        drafts = []
        for i, sampled in enumerate(sampled_token_ids):
            n = int(num_tokens_no_spec[i])
            if not sampled or n >= self.max_model_len:  # no token this step (a partial prefill), or full
                drafts.append([])
                continue
            drafts.append(self.draft(token_ids_cpu[i, :n]))
        return drafts

    def load_model(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to load: the drafts come from the text itself."""


def supported() -> bool:
    """Whether the installed vLLM builds proposers from a class path (0.32 does; older GPU builds may not)."""
    try:
        from typing import get_args

        from vllm.config.speculative import SpeculativeMethod
    except ImportError:
        return False
    return "custom_class" in _flat(get_args(SpeculativeMethod))


def _flat(args: tuple) -> set[str]:
    from typing import get_args

    out: set[str] = set()
    for a in args:
        out |= _flat(get_args(a)) if get_args(a) else {a}
    return out


__all__ = ["ENV", "LongMatchNgramProposer", "LongMatchSettings", "supported"]
