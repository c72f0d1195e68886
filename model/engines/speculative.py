"""Speculative decoding settings, as vLLM's `speculative_config` takes them.

Code completion copies a lot: from the code after the cursor, from other files, from
the lines just typed. n-gram prompt lookup drafts from the prompt itself, costs no
second model, and on greedy requests changes no output token (the target model
checks every drafted token). `suffix` (Arctic Inference's suffix decoding) and
`draft-model` (a small model of the same tokenizer) are vLLM's other drafters that
need nothing trained for the served model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

METHODS = ("off", "ngram", "suffix", "draft-model")
DEFAULT_METHOD = "ngram"
# vLLM's own example values for prompt lookup; measured on the embedded model (benchmarks/README.md).
DEFAULT_TOKENS = 5
DEFAULT_LOOKUP_MIN = 2
DEFAULT_LOOKUP_MAX = 4


class SpeculativeError(ValueError):
    """Settings that cannot work, said before the engine loads."""


@dataclass(frozen=True)
class Speculative:
    method: str = DEFAULT_METHOD
    tokens: int = DEFAULT_TOKENS
    lookup_min: int = DEFAULT_LOOKUP_MIN
    lookup_max: int = DEFAULT_LOOKUP_MAX
    draft_model: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpeculativeError(f"--speculative is one of {', '.join(METHODS)}, got {self.method!r}")
        if self.tokens < 1:
            raise SpeculativeError(f"--speculative-tokens must be at least 1, got {self.tokens}")
        if not 1 <= self.lookup_min <= self.lookup_max:
            raise SpeculativeError("--prompt-lookup-min and --prompt-lookup-max need 1 <= min <= max, got "
                                   f"{self.lookup_min} and {self.lookup_max}")
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
        if self.method == "suffix":
            return {"method": "suffix", "num_speculative_tokens": self.tokens}
        return {"method": "draft_model", "model": self.draft_model, "num_speculative_tokens": self.tokens}

    def describe(self) -> str:
        if self.method == "off":
            return "off"
        if self.method == "ngram":
            return f"ngram ({self.tokens} tokens, lookup {self.lookup_min}-{self.lookup_max})"
        if self.method == "suffix":
            return f"suffix ({self.tokens} tokens)"
        return f"draft model {self.draft_model} ({self.tokens} tokens)"
