"""Speculative decoding changes how fast text comes, never which text: greedy output with
n-gram prompt lookup (vLLM's and our long-match proposer) is token for token the output without it.

In float32. In bfloat16 (what codefill serves on CPUs with AVX512-BF16) the target model
scores a draft of k tokens in one pass and a plain decode one token at a time: the sums
round differently, and where two tokens are nearly tied greedy can pick the other one, as
it can between the same request alone and in a batch (on 2026-12-02, 3 of these 4 prompts
came out the same in bfloat16 on the embedded model, the fourth from its 18th token on:
`f"a: {self.a}"` for `f"a = {self.a}"`). So identity is asserted in float32."""

from __future__ import annotations

import uuid

import pytest

from codefill.model.engines import SamplingOptions
from codefill.model.engines.speculative import Speculative

# Prompts that repeat themselves, so prompt lookup has drafts to propose (and the target
# model to reject), as code completion does: copies from the suffix and the lines above.
PROMPTS = [
    "def area(w, h):\n    return w * h\n\n\ndef volume(w, h, d):\n    return w * h * d\n\n\ndef area(",
    "for i in range(10):\n    print(i)\nfor j in range(10):\n    print(j)\nfor k in range(",
    "<|fim_prefix|>x = [1, 2, 3]\ny = [1, 2, 3]\nz = [<|fim_suffix|>]\n<|fim_middle|>",
    "class A:\n    def __init__(self):\n        self.a = 1\n        self.b = 2\n        self.",
]


async def _greedy(model_path: str, speculative: Speculative | None, max_tokens: int,
                  dtype: str = "float32") -> list[tuple[str, int]]:
    from codefill.model.engines.vllm_engine import VllmEngine

    engine = VllmEngine(model_path, max_model_len=2048, speculative=speculative, dtype=dtype)
    await engine.start()
    try:
        out = []
        for prompt in PROMPTS:
            ids = engine.tokenizer(prompt).input_ids
            deltas = [d async for d in engine.generate(ids, SamplingOptions(max_tokens=max_tokens, temperature=0,
                                                                            ignore_eos=True), uuid.uuid4().hex)]
            out.append(("".join(d.text for d in deltas), deltas[-1].completion_tokens))
        return out
    finally:
        await engine.shutdown()


@pytest.fixture(scope="module")
def _vllm_only():
    from codefill.model.engines import vllm_available

    if not vllm_available():
        pytest.skip("vLLM is not installed")


async def test_greedy_output_is_the_same_with_prompt_lookup(_vllm_only, tiny_model_path):
    plain = await _greedy(tiny_model_path, None, 48)
    assert all(count == 48 for _, count in plain)
    for method in ("ngram", "long-ngram"):
        assert await _greedy(tiny_model_path, Speculative(method), 48) == plain, method


@pytest.mark.slow
async def test_greedy_output_is_the_same_with_prompt_lookup_on_the_embedded_model(_vllm_only, embedded_model_path):
    plain = await _greedy(embedded_model_path, None, 64)
    for method in ("ngram", "long-ngram"):
        assert await _greedy(embedded_model_path, Speculative(method), 64) == plain, method
