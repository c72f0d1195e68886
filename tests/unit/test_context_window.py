"""Fitting FIM prompts into the context window, with the real Qwen tokenizer."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codefill.model.context_window import PromptTooLong, fit_fim, fit_tokens
from codefill.model.templates.fim import FIM_TEMPLATES, ContextFile, encode_prompt

QWEN = FIM_TEMPLATES["qwen"]
CURSOR_PREFIX_LINE = "def target(x):\n    "
CURSOR_SUFFIX_LINE = "  # cursor line\n"


def numbered_lines(n: int, tag: str) -> str:
    return "".join(f"{tag}_{i} = compute({i}, 'text for line {i}')\n" for i in range(n))


def tokens(tok, text: str) -> int:
    return len(tok.encode(text, add_special_tokens=False))


def assert_consistent(tok, result, prefix: str, suffix: str, budget: int) -> None:
    """What every fit result promises, whatever was trimmed."""
    assert len(result.token_ids) <= budget
    assert result.token_ids == encode_prompt(tok, QWEN.build(result.prefix, result.suffix))
    # Whole lines from the far ends only; the cursor lines always stay.
    assert prefix.endswith(result.prefix) and suffix.startswith(result.suffix)
    assert result.prefix.endswith(CURSOR_PREFIX_LINE.split("\n")[-1])
    assert result.suffix.startswith(suffix.partition("\n")[0])
    dropped_prefix = prefix[: len(prefix) - len(result.prefix)]
    dropped_suffix = suffix[len(result.suffix):]
    assert dropped_prefix == "" or dropped_prefix.endswith("\n")
    assert result.suffix == "" or result.suffix.endswith("\n") or dropped_suffix == ""
    assert result.dropped_prefix_lines == dropped_prefix.count("\n")
    assert result.dropped_suffix_lines == len(dropped_suffix.splitlines())


def test_a_prompt_that_fits_is_sent_whole(qwen_tokenizer):
    prefix, suffix = "def add(a, b):\n    ", "\n\nprint(add(1, 2))"
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=64, max_model_len=2048)
    assert (result.prefix, result.suffix) == (prefix, suffix)
    assert (result.dropped_prefix_lines, result.dropped_suffix_lines) == (0, 0)
    assert result.token_ids == qwen_tokenizer(result.prompt.text).input_ids


def test_a_long_prefix_loses_its_first_lines(qwen_tokenizer):
    prefix = numbered_lines(3000, "far") + CURSOR_PREFIX_LINE
    suffix = "\nprint(target(1))\n"
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=16, max_model_len=2048)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 2048 - 16)
    assert result.suffix == suffix  # the short suffix is untouched
    assert "far_2999 = " in result.prefix and "far_0 = " not in result.prefix
    assert result.dropped_prefix_lines > 2000
    # Trimming keeps as much as fits, not a crude fraction.
    assert len(result.token_ids) > 0.95 * (2048 - 16)


def test_a_long_suffix_loses_its_last_lines(qwen_tokenizer):
    prefix = "import os\n" + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(3000, "after")
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=100, max_model_len=2048)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 2048 - 100)
    assert result.prefix == prefix
    assert "after_0 = " in result.suffix and "after_2999" not in result.suffix
    assert len(result.token_ids) > 0.95 * (2048 - 100)


def test_when_both_sides_are_long_the_prefix_gets_about_three_quarters(qwen_tokenizer):
    prefix = numbered_lines(2000, "before") + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(2000, "after")
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=256, max_model_len=4096)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 4096 - 256)
    share = tokens(qwen_tokenizer, result.prefix) / (
        tokens(qwen_tokenizer, result.prefix) + tokens(qwen_tokenizer, result.suffix))
    assert 0.70 < share < 0.80
    assert result.dropped_prefix_lines > 0 and result.dropped_suffix_lines > 0


def test_the_prefix_may_use_what_a_short_suffix_leaves(qwen_tokenizer):
    prefix = numbered_lines(2000, "before") + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(5, "after")
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=256, max_model_len=4096)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 4096 - 256)
    assert result.suffix == suffix
    assert len(result.token_ids) > 0.95 * (4096 - 256)


def test_the_suffix_may_use_what_a_short_prefix_leaves(qwen_tokenizer):
    prefix = numbered_lines(5, "before") + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(2000, "after")
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=256, max_model_len=4096)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 4096 - 256)
    assert result.prefix == prefix
    assert len(result.token_ids) > 0.95 * (4096 - 256)


def test_cursor_lines_that_cannot_fit_are_refused_with_the_numbers(qwen_tokenizer):
    long_cursor_line = "x = [" + ", ".join(str(i) for i in range(2000))
    with pytest.raises(PromptTooLong) as err:
        fit_fim(qwen_tokenizer, QWEN, "import os\n" + long_cursor_line, "]\n", max_tokens=256, max_model_len=1024)
    exc = err.value
    assert exc.max_tokens == 256 and exc.max_model_len == 1024
    assert exc.prompt_tokens > 1024 - 256
    message = str(exc)
    assert str(exc.prompt_tokens) in message and "256" in message and "1024" in message
    assert isinstance(exc, ValueError)


def test_max_tokens_alone_can_overflow_the_context(qwen_tokenizer):
    with pytest.raises(PromptTooLong) as err:
        fit_fim(qwen_tokenizer, QWEN, "x = ", "\n", max_tokens=3000, max_model_len=2048)
    assert err.value.max_tokens == 3000


def test_repository_files_go_before_any_line_and_the_farthest_first(qwen_tokenizer):
    prefix = numbered_lines(40, "before") + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(10, "after")
    far = ContextFile("far.py", numbered_lines(150, "far"))
    near = ContextFile("near.py", numbered_lines(150, "near"))
    budget_for_one_file = (
        len(encode_prompt(qwen_tokenizer, QWEN.build(prefix, suffix, path="main.py", files=[near]))) + 50
    )
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=100, max_model_len=budget_for_one_file + 100,
                     path="main.py", files=[far, near])
    assert (result.prefix, result.suffix) == (prefix, suffix)
    assert "near.py" in result.prompt.text and "far.py" not in result.prompt.text
    assert len(result.token_ids) <= budget_for_one_file

    # Less room still: every file goes, then lines.
    result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=100, max_model_len=600,
                     path="main.py", files=[far, near])
    assert "near.py" not in result.prompt.text and "<|file_sep|>main.py\n" in result.prompt.text
    assert result.dropped_prefix_lines > 0
    assert len(result.token_ids) <= 500


def test_all_files_stay_when_they_fit(qwen_tokenizer):
    files = [ContextFile("a.py", "A = 1\n"), ContextFile("b.py", "B = 2\n")]
    result = fit_fim(qwen_tokenizer, QWEN, "x = ", "\n", max_tokens=16, max_model_len=2048,
                     repo_name="demo", path="main.py", files=files)
    assert result.prompt == QWEN.build("x = ", "\n", repo_name="demo", path="main.py", files=files)


def test_a_5000_line_prefix_fits_fast(qwen_tokenizer):
    prefix = numbered_lines(5000, "far") + CURSOR_PREFIX_LINE
    suffix = CURSOR_SUFFIX_LINE + numbered_lines(1000, "after")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=256, max_model_len=8192)
        best = min(best, time.perf_counter() - start)
    assert_consistent(qwen_tokenizer, result, prefix, suffix, 8192 - 256)
    assert best < 0.1, f"fitting took {best * 1000:.0f} ms"


def test_fim_prompt_of_the_api_test_fits_a_2048_context(qwen_tokenizer):
    prefix = "".join(f"v{i} = {i}\n" for i in range(3000)) + "def f():\n    "
    result = fit_fim(qwen_tokenizer, QWEN, prefix, "\nprint(f())\n", max_tokens=16, max_model_len=2048)
    assert len(result.token_ids) <= 2048 - 16
    assert result.prefix.endswith("v2999 = 2999\ndef f():\n    ")


def test_plain_prompts_are_checked_not_trimmed():
    fit_tokens(list(range(100)), max_tokens=28, max_model_len=128)
    with pytest.raises(PromptTooLong) as err:
        fit_tokens(list(range(100)), max_tokens=29, max_model_len=128)
    assert (err.value.prompt_tokens, err.value.max_tokens, err.value.max_model_len) == (100, 29, 128)
    assert "100" in str(err.value) and "29" in str(err.value) and "128" in str(err.value)


TRICKY_LINES = [
    "\n", "\n\n", "    \n", "\t\tindent_with_tabs()\n", "# 注释：中文字符\n", "emoji = '🙂🙂🙂'\n",
    "s = '<|fim_middle|><|file_sep|>'\n", "x = 1  \n", "}" * 30 + "\n", " " * 64 + "deep()\n",
    "long = " + "a" * 300 + "\n", "\r\n",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    far_prefix=st.lists(st.sampled_from(TRICKY_LINES), max_size=400),
    far_suffix=st.lists(st.sampled_from(TRICKY_LINES), max_size=400),
    cursor=st.sampled_from(["", "    ", "x = foo(", "s = '<|fim_prefix|>"]),
    context=st.integers(min_value=64, max_value=3000),
)
def test_any_text_fits_or_is_refused(qwen_tokenizer, far_prefix, far_suffix, cursor, context):
    prefix = "".join(far_prefix) + cursor
    suffix = ")\n" + "".join(far_suffix)
    max_tokens = 32
    try:
        result = fit_fim(qwen_tokenizer, QWEN, prefix, suffix, max_tokens=max_tokens, max_model_len=context)
    except PromptTooLong as exc:
        smallest = encode_prompt(qwen_tokenizer, QWEN.build(cursor, ")\n"))
        assert exc.prompt_tokens == len(smallest) > context - max_tokens
        return
    assert len(result.token_ids) <= context - max_tokens
    assert result.token_ids == encode_prompt(qwen_tokenizer, QWEN.build(result.prefix, result.suffix))
    assert prefix.endswith(result.prefix) and result.prefix.endswith(cursor)
    assert suffix.startswith(result.suffix) and result.suffix.startswith(")\n")


def test_the_bos_token_of_families_that_need_it_is_counted():
    from tests.unit.test_fim_templates import family_tokenizer

    tok = family_tokenizer("codellama")
    codellama = FIM_TEMPLATES["codellama"]
    prefix = "a + b\n" * 100 + "x = "
    suffix = "\n" + "return 1\n" * 100
    result = fit_fim(tok, codellama, prefix, suffix, max_tokens=8, max_model_len=64)
    assert result.token_ids[0] == tok.bos_token_id
    assert 50 <= len(result.token_ids) <= 64 - 8
    assert result.token_ids == encode_prompt(tok, codellama.build(result.prefix, result.suffix), add_bos=True)
    assert result.prefix.endswith("a + b\nx = ") and result.suffix.startswith("\nreturn 1\n")
