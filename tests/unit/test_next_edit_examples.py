"""Next-edit training examples: the prompt is exactly what `/v1/next_edit` sends the engine for the
same case, and the loss is on the rewritten window, its end marker and the end token only."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from codefill.jobs.next_edit_data.cases import cases_from_change
from codefill.jobs.next_edit_data.git_history import FileChange
from codefill.jobs.training.fim_examples import IGNORE_INDEX
from codefill.jobs.training.next_edit_examples import TOO_LONG, answer_text, next_edit_example, next_edit_input
from codefill.model.templates.next_edit import CodefillFormat
from tests.unit.next_edit_repo import function


@pytest.fixture(scope="module")
def tokenizer(tiny_model_path):
    return AutoTokenizer.from_pretrained(tiny_model_path)


@pytest.fixture(scope="module")
def case():
    before = "".join(function(f"f{i}", "value") for i in range(3))
    after = before.replace("def f1(value", "def f1(size").replace("if value is None:\n        return 0\n    total = "
                                                                  "value * factor\n    return total + len(str(value))"
                                                                  "\n\n\ndef f2", "if size is None:\n        return "
                                                                  "0\n    total = size * factor\n    return total + "
                                                                  "len(str(size))\n\n\ndef f2")
    return cases_from_change(FileChange("c" * 40, "geometry.py", "python", before, after))[0]


def test_the_prompt_is_the_servers_and_the_loss_is_on_the_answer(tokenizer, case):
    ex = next_edit_example(tokenizer, case, 4096)
    prompt = CodefillFormat().encode(tokenizer, next_edit_input(case))
    assert ex.input_ids[:len(prompt)] == prompt
    assert all(label == IGNORE_INDEX for label in ex.labels[:len(prompt)])
    answer = [t for t in ex.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(answer[:-1]) == answer_text(case.target) and answer[-1] == tokenizer.eos_token_id
    assert next_edit_input(case).window[next_edit_input(case).cursor - len("factor):"):].startswith("factor):\n")


def test_a_long_prompt_loses_its_oldest_events_first_and_never_the_window(tokenizer, case):
    full = next_edit_example(tokenizer, case, 4096)
    older = type(case)(**{**case.to_json(), "events": [("old.py", "@@ -1 +1 @@\n-a\n+b\n" * 40)] + case.events})
    fitted = next_edit_example(tokenizer, older, len(full.input_ids))
    assert fitted.input_ids == full.input_ids  # the old event dropped, the rest as before
    assert next_edit_example(tokenizer, case, len(full.labels) - len(full.labels) // 2) == TOO_LONG
