"""Self-validation: responses run with their own tests; a passing one is kept, failing ones dropped."""

from __future__ import annotations

import pytest

from codefill.jobs.instruct_data.evolve import Instruction
from codefill.jobs.instruct_data.sandbox import SandboxLimits
from codefill.jobs.instruct_data.seeds import Seed
from codefill.jobs.instruct_data.dataset import build_examples
from codefill.jobs.instruct_data.validate import Candidate, ExecutionStore, validate
from tests.instruct_fakes import response_text

LIMITS = SandboxLimits(timeout_s=5, memory_mb=512)  # roomy: a loaded machine starts Python slowly

LOOP = ("[Implementation]\n```python\ndef spin():\n    while True:\n        pass\n```\n"
        "[Tests]\n```python\nassert spin() is None\n```")


def candidates() -> list[Candidate]:
    return [
        Candidate("good", 0, response_text("ok_a", 0)),
        Candidate("good", 1, response_text("ok_a", 1)),  # same program as index 0: run once
        Candidate("bad", 0, response_text("bad_b", 0)),
        Candidate("bad", 1, response_text("bad_b", 1)),
        Candidate("mixed", 0, response_text("mixed_c", 0)),  # fails
        Candidate("mixed", 1, response_text("mixed_c", 1)),  # passes: the one kept
        Candidate("untested", 0, response_text("notests_d", 0)),
        Candidate("untested", 1, "I cannot write this."),
        Candidate("loop", 0, LOOP),
    ]


def test_a_passing_response_is_kept_and_failing_ones_are_dropped(sandbox, tmp_path):
    outcomes, kept, stats = validate(candidates(), limits=LIMITS, sandbox=sandbox,
                                     store=ExecutionStore(tmp_path / "executions.jsonl"), workers=2)
    assert [(o.instruction_id, o.index, o.outcome) for o in outcomes] == [
        ("good", 0, "passed"), ("good", 1, "passed"), ("bad", 0, "failed"), ("bad", 1, "failed"),
        ("mixed", 0, "failed"), ("mixed", 1, "passed"), ("untested", 0, "no_tests"), ("untested", 1, "no_code"),
        ("loop", 0, "timeout"),
    ]
    assert {k: o.index for k, o in kept.items()} == {"good": 0, "mixed": 1}
    assert stats.outcomes == {"no_code": 1, "no_tests": 1, "no_assertions": 0, "copies_instruction": 0,
                              "copies_example": 0, "off_task": 0, "passed": 3, "failed": 3, "timeout": 1,
                              "memory": 0, "blocked": 0, "pruned": 0}
    assert (stats.responses, stats.run, stats.instructions, stats.instructions_kept) == (9, 7, 5, 2)
    assert stats.response_pass_rate == pytest.approx(3 / 7)
    assert stats.instruction_pass_rate == pytest.approx(2 / 5)
    assert stats.to_dict()["response_pass_rate"] == round(3 / 7, 4)
    assert "AssertionError" in outcomes[2].result.stderr_tail

    # The examples built from it: one per instruction with a passing response.
    insts = [Instruction(i, "s1", f"Do {i}.", "c") for i in ("good", "bad", "mixed", "untested", "loop")]
    seed = Seed("s1", "a.py", "f", 1, "def f(): ...\n", "Doc.")
    examples = build_examples(insts, kept, {"s1": seed}, responses_per_instruction=2, model="m")
    assert [e["meta"]["id"] for e in examples] == ["good", "mixed"]
    assert examples[1]["messages"] == [{"role": "user", "content": "Do mixed."},
                                       {"role": "assistant", "content": response_text("mixed_c", 1)}]
    assert examples[1]["meta"]["response_index"] == 1 and examples[1]["meta"]["source"]["path"] == "a.py"


def test_programs_run_once_and_reruns_come_from_the_store(sandbox, tmp_path):
    store_path = tmp_path / "executions.jsonl"
    validate(candidates(), limits=LIMITS, sandbox=sandbox, store=ExecutionStore(store_path), workers=2)
    assert len(store_path.read_text().splitlines()) == 5  # 7 runs of 5 different programs
    outcomes, kept, stats = validate(candidates(), limits=LIMITS, sandbox=sandbox,
                                     store=ExecutionStore(store_path), workers=2)
    assert stats.executions_cached == 7
    assert len(store_path.read_text().splitlines()) == 5
    assert {k: o.index for k, o in kept.items()} == {"good": 0, "mixed": 1}
    # other limits are other runs
    _, _, other = validate(candidates()[:1], limits=SandboxLimits(timeout_s=3), sandbox=sandbox,
                           store=ExecutionStore(store_path))
    assert other.executions_cached == 0
