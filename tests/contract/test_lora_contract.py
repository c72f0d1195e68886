"""LoRA adapters, the same on every engine: each request gets its own adapter or the base model.

The adapters are random (tests/adapters.py), so what matters is behaviour: an
adapter changes the text, two adapters differ, the base model is untouched by
adapters being loaded beside it, and requests for different adapters running
at the same time do not leak into each other.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from codefill.model.engines import Engine, EngineRequestError, SamplingOptions, vllm_available
from codefill.model.engines.lora import load_adapters
from tests.adapters import make_adapter

PROMPT = "def fibonacci(n):\n    "


@pytest.fixture(scope="session")
def tiny_adapters(tiny_model_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    specs = [f"{name}={make_adapter(tiny_model_path, root / name, seed=seed)}"
             for name, seed in (("alpha", 1), ("beta", 2))]
    return load_adapters(specs, tiny_model_path)


@pytest.fixture(scope="module")
async def hf_lora_engine(tiny_model_path, tiny_adapters):
    from codefill.model.engines.hf_engine import HfEngine

    engine = HfEngine(tiny_model_path, max_model_len=2048, loras=tiny_adapters)
    await engine.start()
    yield engine
    await engine.shutdown()


@pytest.fixture(scope="module")
async def vllm_lora_engine(tiny_model_path, tiny_adapters):
    if not vllm_available():
        pytest.skip("vLLM is not installed")
    from codefill.model.engines.vllm_engine import VllmEngine

    engine = VllmEngine(tiny_model_path, max_model_len=2048, max_num_seqs=8, loras=tiny_adapters)
    await engine.start()
    yield engine
    await engine.shutdown()


@pytest.fixture(params=["hf", "vllm"])
def lora_engine(request):
    return request.getfixturevalue(f"{request.param}_lora_engine")


async def greedy(engine: Engine, lora: str | None, max_tokens: int = 16) -> str:
    ids = engine.tokenizer(PROMPT).input_ids
    options = SamplingOptions(max_tokens=max_tokens, temperature=0, ignore_eos=True, lora=lora)
    deltas = [d async for d in engine.generate(ids, options, uuid.uuid4().hex)]
    assert deltas[-1].finish_reason == "length" and deltas[-1].completion_tokens == max_tokens
    return "".join(d.text for d in deltas)


async def test_each_adapter_changes_the_text_in_its_own_way(lora_engine):
    base, alpha, beta = [await greedy(lora_engine, name) for name in (None, "alpha", "beta")]
    assert base and alpha and beta
    assert len({base, alpha, beta}) == 3
    assert await greedy(lora_engine, "alpha") == alpha  # and the same way every time


async def test_the_base_model_is_untouched_by_adapters_beside_it(lora_engine, request):
    plain = request.getfixturevalue(f"{lora_engine.name}_engine")
    assert await greedy(lora_engine, None) == await greedy(plain, None)


async def test_concurrent_requests_each_keep_their_adapter(lora_engine):
    names = [None, "alpha", "beta", "alpha", None, "beta"]
    alone = {name: await greedy(lora_engine, name, 12) for name in set(names)}
    together = await asyncio.gather(*(greedy(lora_engine, name, 12) for name in names))
    assert together == [alone[name] for name in names]


async def test_an_unknown_adapter_is_a_request_error(lora_engine):
    ids = lora_engine.tokenizer(PROMPT).input_ids
    with pytest.raises(EngineRequestError, match="unknown LoRA adapter 'gamma'.*alpha, beta"):
        async for _ in lora_engine.generate(ids, SamplingOptions(max_tokens=4, lora="gamma"), uuid.uuid4().hex):
            pass
    assert lora_engine.is_healthy()


async def test_an_engine_without_adapters_refuses_one(engine):
    ids = engine.tokenizer(PROMPT).input_ids
    with pytest.raises(EngineRequestError, match="unknown LoRA adapter 'alpha'; this engine serves none"):
        async for _ in engine.generate(ids, SamplingOptions(max_tokens=4, lora="alpha"), uuid.uuid4().hex):
            pass
