"""Held-out evaluation: batched scoring agrees with one-at-a-time scoring and with the serving engine."""

from __future__ import annotations

import pytest

from codefill.model.engines import SamplingOptions
from codefill.jobs.training.batches import collate
from codefill.jobs.training.dataset import build_dataset
from codefill.jobs.training.eval_results import EvalResult, EvalRow, comparison_markdown, line_cut_equal
from codefill.jobs.training.evaluate import (
    LOGIT_POSITIONS,
    could_still_match,
    end_token_ids,
    eval_batches,
    evaluate,
    select_examples,
)
from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example
from codefill.jobs.training.loss import middle_loss_sum
from tests.unit.training_repo import make_repo


@pytest.fixture(scope="module")
def cases(tmp_path_factory, qwen_tokenizer):
    """FIM examples of several prompt and middle lengths (training ones carry their middle text too)."""
    repo = make_repo(tmp_path_factory.mktemp("shop"))
    report = build_dataset(repo, qwen_tokenizer, "qwen", seq_len=384, holdout_fraction=0.3, seed=3, progress=False)
    fim = [e for e in report.train + report.eval if e.middle]
    assert len(fim) >= 5
    return fim


@pytest.fixture(scope="module")
def model(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def stop_ids(model, qwen_tokenizer):
    from codefill.model.templates.fim import get_fim_template

    return end_token_ids(model, qwen_tokenizer, get_fim_template("qwen"))


@pytest.mark.parametrize("generated, middle, equal", [
    ('of erase")\n    time', 'of erase")', True),  # the right line, then more: a line-end stop shows it right
    ("    return a\n    b = 1\nprint(b)", "return a\n    b = 1", True),
    ("return a\n", "return a", True),
    ("_stderr: Optional[", "_stderr: Optional", False),  # wrong inside the line
    ("return a", "return a\n    b = 1", False),  # too short
])
def test_line_cut_equal(generated, middle, equal):
    assert line_cut_equal(generated, middle) is equal


@pytest.mark.parametrize("text, middle, possible", [
    ("", "return a + b", True),
    ("  retu", "return a + b", True),
    ("return a + b", "return a + b\n", True),
    ("return a + b  \n", "return a + b", True),  # trailing whitespace may still be stripped away
    ("return a + b\nprint", "return a + b", False),
    ("return a - ", "return a + b", False),
    ("x = \"caf\ufffd", "x = \"café\"", True),  # half a UTF-8 character is not a mismatch yet
])
def test_could_still_match(text, middle, possible):
    assert could_still_match(text, middle) is possible


def test_batched_scoring_equals_scoring_one_at_a_time(model, qwen_tokenizer, cases, stop_ids):
    together = evaluate(model, qwen_tokenizer, cases, stop_ids=stop_ids, batch_size=4, show_progress=False)
    alone = evaluate(model, qwen_tokenizer, cases, stop_ids=stop_ids, batch_size=1, show_progress=False)
    assert together.n == alone.n == len(cases)
    for a, b in zip(together.rows, alone.rows):
        assert (a.path, a.kind, a.tokens) == (b.path, b.kind, b.tokens)
        assert a.generated == b.generated and a.stopped == b.stopped and a.exact == b.exact
        assert a.loss == pytest.approx(b.loss, rel=1e-4)


def test_the_loss_is_the_teacher_forced_loss_of_the_middle(model, qwen_tokenizer, cases, stop_ids):
    import torch

    result = evaluate(model, qwen_tokenizer, cases[:3], stop_ids=stop_ids, batch_size=3, show_progress=False)
    for row, example in zip(result.rows, cases[:3]):
        with torch.no_grad():
            total, tokens = middle_loss_sum(model, collate([example], pad_id=0))
        assert row.tokens == int(tokens) == len(example.input_ids) - example.prompt_length
        assert row.loss == pytest.approx(float(total), rel=1e-4)


async def test_generation_is_what_the_serving_engine_writes(tiny_model_path, model, qwen_tokenizer, cases, stop_ids):
    from codefill.model.engines.hf_engine import HfEngine

    result = evaluate(model, qwen_tokenizer, cases, stop_ids=stop_ids, batch_size=4, show_progress=False)
    engine = HfEngine(tiny_model_path, max_model_len=2048, dtype="float32")
    await engine.start()
    try:
        for i, (row, example) in enumerate(zip(result.rows, cases)):
            options = SamplingOptions(max_tokens=row.tokens + 8, temperature=0, stop_token_ids=tuple(stop_ids))
            deltas = [d async for d in engine.generate(example.input_ids[:example.prompt_length], options, f"r{i}")]
            served = "".join(d.text for d in deltas)
            # Evaluation stops a row once it cannot match any more; until then it wrote what the server writes.
            assert served.startswith(row.generated)
            if row.stopped == "stop":
                assert served == row.generated
    finally:
        await engine.shutdown()


def test_batches_group_similar_prompts_and_cap_the_logits_of_a_pass():
    def example(prompt: int, middle: int) -> Example:
        return Example(kind="inline", path="a.py", input_ids=[1] * (prompt + middle),
                       labels=[IGNORE_INDEX] * prompt + [1] * middle)

    examples = [example(300, 5), example(100, 5), example(200, 600), example(110, 5), example(310, 5)]
    batches = eval_batches(examples, 2)
    assert sorted(i for b in batches for i in b) == list(range(5))
    assert batches[0] == [1, 3]  # the two shortest prompts together
    assert [2] in batches  # 600 middle tokens: a pass of its own (2 x 600 > LOGIT_POSITIONS)
    assert all(len(b) * max(len(examples[i].input_ids) - examples[i].prompt_length for i in b) <= LOGIT_POSITIONS
               or len(b) == 1 for b in batches)


def test_a_limit_draws_the_same_subset_every_time(cases):
    first = select_examples(cases, 3, seed=5)
    assert len(first) == 3 and first == select_examples(cases, 3, seed=5)
    assert [cases.index(e) for e in first] == sorted(cases.index(e) for e in first)
    assert select_examples(cases, None, seed=5) == cases


def test_the_table_compares_before_and_after():
    def row(i: int, kind: str, exact: bool, loss: float) -> EvalRow:
        return EvalRow(index=i, path="a.py", kind=kind, exact=exact, loss=loss, tokens=2, middle="x",
                       generated="x" if exact else "y", stopped="stop")

    before = EvalResult("before", [row(0, "inline", False, 4.0), row(1, "block", False, 6.0)], 3.0, 10)
    after = EvalResult("after", [row(0, "inline", True, 1.0), row(1, "block", False, 3.0)], 2.0, 10)
    table = comparison_markdown(before, after)
    assert "| FIM exact match | 0.0% | 50.0% | +50.0 points |" in table
    assert "| mean middle loss (nats/token) | 2.500 | 1.000 | -1.500 |" in table
    assert "| exact match, inline (1) | 0.0% | 100.0% | +100.0 points |" in table
    assert "| answers closed with the end token | 100.0% | 100.0% | +0.0 points |" in table
    assert after.summary()["stopped"] == {"stop": 2}
    assert "2 held-out FIM examples (of 10)" in table
