"""The engine contract: every engine behaves the same way on these.

Run against a tiny random model, so texts are gibberish but deterministic;
the assertions are about behaviour (streaming, counts, stops, aborts), not
about what the model writes.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from codefill.model.engines import Delta, Engine, SamplingOptions

PROMPT = "def fibonacci(n):\n    "


def ids(engine: Engine, text: str = PROMPT) -> list[int]:
    return engine.tokenizer(text).input_ids


def rid() -> str:
    return uuid.uuid4().hex


async def run(engine: Engine, options: SamplingOptions, prompt: str = PROMPT) -> list[Delta]:
    return [d async for d in engine.generate(ids(engine, prompt), options, rid())]


def text_of(deltas: list[Delta]) -> str:
    return "".join(d.text for d in deltas)


async def wait_idle(engine: Engine, seconds: float = 10.0) -> int:
    for _ in range(int(seconds / 0.05)):
        if engine.num_in_flight() == 0:
            return 0
        await asyncio.sleep(0.05)
    return engine.num_in_flight()


async def test_streams_deltas_with_final_counts(engine):
    deltas = await run(engine, SamplingOptions(max_tokens=12, temperature=0, ignore_eos=True))
    assert len([d for d in deltas if d.text]) >= 2, "text should arrive in several deltas"
    assert all(d.finish_reason is None for d in deltas[:-1])
    last = deltas[-1]
    assert last.finish_reason == "length"
    assert last.prompt_tokens == len(ids(engine))
    assert last.completion_tokens == 12
    counts = [d.completion_tokens for d in deltas]
    assert counts == sorted(counts), "token counts are cumulative"


async def test_max_tokens_bounds_the_completion(engine):
    for n in (1, 5):
        deltas = await run(engine, SamplingOptions(max_tokens=n, temperature=0, ignore_eos=True))
        assert deltas[-1].completion_tokens == n
        assert deltas[-1].finish_reason == "length"


async def test_temperature_zero_is_deterministic(engine):
    opts = SamplingOptions(max_tokens=16, temperature=0, ignore_eos=True)
    first = text_of(await run(engine, opts))
    second = text_of(await run(engine, opts))
    assert first and first == second


async def test_same_seed_same_sample(engine):
    opts = SamplingOptions(max_tokens=16, temperature=1.0, seed=1234, ignore_eos=True)
    assert text_of(await run(engine, opts)) == text_of(await run(engine, opts))


async def test_seeded_requests_beside_long_prompts_complete(engine):
    # Several long prompts at once make vLLM split prefills over steps; on its CPU
    # build that used to kill the engine for any request carrying a seed.
    prompts = [f"# file {i}\n" + "def f(x):\n    return x + 1\n" * 110 for i in range(4)]
    assert len(ids(engine, prompts[0])) > 1000
    opts = SamplingOptions(max_tokens=8, temperature=1.0, seed=7, ignore_eos=True)
    together = await asyncio.gather(*(run(engine, opts, p) for p in prompts))
    assert [d[-1].completion_tokens for d in together] == [8] * 4
    alone = [text_of(await run(engine, opts, p)) for p in prompts]
    assert [text_of(d) for d in together] == alone, "a seed gives the same sample in a batch or alone"


async def test_stop_string_ends_generation_and_is_not_returned(engine):
    full = text_of(await run(engine, SamplingOptions(max_tokens=24, temperature=0, ignore_eos=True)))
    assert len(full) > 12
    stop = full[6:9]
    expected = full[: full.index(stop)]
    deltas = await run(engine, SamplingOptions(max_tokens=24, temperature=0, ignore_eos=True, stop=(stop,)))
    assert text_of(deltas) == expected
    assert deltas[-1].finish_reason == "stop"


async def test_concurrent_requests_all_complete(engine):
    prompts = [PROMPT, "class Stack:\n", "import os\n", "// hello\n", "SELECT * FROM", "fn main() {"]
    opts = SamplingOptions(max_tokens=10, temperature=0, ignore_eos=True)
    results = await asyncio.gather(*(run(engine, opts, p) for p in prompts))
    for deltas in results:
        assert deltas[-1].finish_reason == "length"
        assert deltas[-1].completion_tokens == 10
    assert await wait_idle(engine) == 0


async def test_abort_mid_stream_frees_the_request(engine):
    request_id = rid()
    opts = SamplingOptions(max_tokens=400, temperature=0, ignore_eos=True)
    seen: list[Delta] = []
    async for delta in engine.generate(ids(engine), opts, request_id):
        seen.append(delta)
        if len(seen) == 3:
            assert engine.num_in_flight() >= 1
            await engine.abort(request_id)
    assert seen[-1].finish_reason == "abort"
    assert seen[-1].completion_tokens < 400
    assert await wait_idle(engine) == 0


async def test_closing_the_stream_early_frees_the_request(engine):
    opts = SamplingOptions(max_tokens=400, temperature=0, ignore_eos=True)
    stream = engine.generate(ids(engine), opts, rid())
    got = 0
    async for delta in stream:
        got += bool(delta.text)
        if got == 2:
            break
    await stream.aclose()
    assert await wait_idle(engine) == 0


async def test_engine_keeps_serving_after_aborts(engine):
    opts = SamplingOptions(max_tokens=6, temperature=0, ignore_eos=True)
    before = text_of(await run(engine, opts))
    streams = [engine.generate(ids(engine), SamplingOptions(max_tokens=300, ignore_eos=True), rid()) for _ in range(3)]
    for s in streams:
        await s.__anext__()
        await s.aclose()
    assert await wait_idle(engine) == 0
    assert text_of(await run(engine, opts)) == before
    assert engine.is_healthy()


async def test_a_vanishing_temperature_decodes_greedily(engine):
    # Clients send 1e-9 and the like for "almost greedy"; dividing logits by it must not fail.
    greedy = text_of(await run(engine, SamplingOptions(max_tokens=8, temperature=0, ignore_eos=True)))
    for temperature in (1e-30, 1e-7):
        tiny = await run(engine, SamplingOptions(max_tokens=8, temperature=temperature, ignore_eos=True, seed=1))
        assert tiny[-1].finish_reason == "length" and text_of(tiny) == greedy


async def test_seeds_across_the_range_the_server_passes_are_accepted(engine):
    # codefill.server.validation.choice_seed folds any client seed into [0, 2**63).
    for seed in (0, 2**63 - 1):
        deltas = await run(engine, SamplingOptions(max_tokens=2, temperature=1.0, seed=seed))
        assert deltas[-1].finish_reason in ("stop", "length")
