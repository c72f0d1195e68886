"""The chat fallback for models without FIM tokens: the question, and cutting the answer back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codefill.model.templates.instruct_fallback import FILL_MARKER, build_fill_messages, extract_fill

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "instruct_fallback"
CASES = sorted(GOLDEN.glob("*.yaml"))

PREFIX, SUFFIX = "def add(a, b):\n    ", "\n\nprint(add(1, 2))\n"


@pytest.mark.parametrize("case_path", CASES, ids=lambda p: p.stem)
def test_golden_answer_is_cut_back_to_the_fill(case_path: Path):
    case = yaml.safe_load(case_path.read_text(encoding="utf-8"))
    assert case["why"].strip()
    assert extract_fill(case["answer"], case["prefix"], case["suffix"]) == case["expected"]


def test_messages_show_the_code_with_the_hole_marked():
    messages = build_fill_messages(PREFIX, SUFFIX, language="python")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert f"```python\n{PREFIX}{FILL_MARKER}{SUFFIX}\n```" in user
    assert FILL_MARKER in messages[0]["content"]
    assert "only" in user and "fenced code block" in user


def test_messages_without_a_language_use_a_bare_fence():
    user = build_fill_messages("x = ", "\n")[1]["content"]
    assert f"```\nx = {FILL_MARKER}\n\n```" in user


def test_code_that_contains_the_marker_gets_another_marker():
    prefix = f"TEMPLATE = '{FILL_MARKER}'\nvalue = "
    user = build_fill_messages(prefix, "\n")[1]["content"]
    code = user.split("```\n", 1)[1].split("\n```", 1)[0]
    assert code == f"TEMPLATE = '{FILL_MARKER}'\nvalue = {{{{FILL_HERE_1}}}}\n"
    assert "{{FILL_HERE_1}}" in build_fill_messages(prefix, "\n")[0]["content"]


def test_code_with_fences_gets_a_longer_fence():
    prefix = 'README = """\n```bash\npip install x\n```\n"""\n'
    user = build_fill_messages(prefix, "\n")[1]["content"]
    assert "````\n" + prefix in user


def test_the_messages_render_with_a_real_chat_template(qwen_tokenizer):
    text = qwen_tokenizer.apply_chat_template(
        build_fill_messages(PREFIX, SUFFIX, "python"), tokenize=False, add_generation_prompt=True
    )
    assert PREFIX + FILL_MARKER + SUFFIX in text
    assert text.rstrip().endswith("assistant")


def test_round_trip_of_an_ideal_answer():
    assert extract_fill("```python\nreturn a + b\n```", PREFIX, SUFFIX) == "return a + b"
