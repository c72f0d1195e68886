"""Next-edit prompts: the window verbatim between the markers, the cursor marked, the edits and
files before it; the rewrite cut back out of an answer."""

from __future__ import annotations

import pytest

from codefill.model.templates.fim_prompt import ContextFile
from codefill.model.templates.next_edit import (
    CURSOR,
    REGION_END,
    REGION_START,
    CodefillFormat,
    EditEvent,
    NextEditInput,
    ZetaFormat,
    detect_next_edit_format,
    get_next_edit_format,
    region,
)

WINDOW = "def area(w, height):\n    return width * height\n"
INPUT = NextEditInput(window=WINDOW, cursor=len("def area(w"), path="geo.py", language="python", start_line=4,
                      events=[EditEvent("geo.py", "@@ -5 +5 @@\n-def area(width, height):\n+def area(w, height):")],
                      files=[ContextFile("shapes.py", "from geo import area\n")])


def test_the_region_holds_the_window_verbatim_with_the_cursor_marked():
    assert region(INPUT) == f"{REGION_START}\ndef area(w{CURSOR}, height):\n    return width * height\n{REGION_END}"
    no_break = NextEditInput(window="x = 1", cursor=5)
    assert region(no_break) == f"{REGION_START}\nx = 1{CURSOR}\n{REGION_END}"


def test_codefill_chat_prompt_has_edits_files_then_the_region_and_prefills_the_answer(qwen_tokenizer):
    text = qwen_tokenizer.decode(CodefillFormat().encode(qwen_tokenizer, INPUT))
    assert text.startswith("<|im_start|>system\nYou predict the next edit")
    edits, files, window = (text.index(s) for s in ("+def area(w, height):", "File shapes.py", region(INPUT)))
    assert edits < files < window
    assert 'User edited file "geo.py"' in text and "The file geo.py (python)" in text
    assert text.endswith(f"<|im_start|>assistant\n{REGION_START}\n")


def test_client_text_never_becomes_a_control_token(qwen_tokenizer):
    hostile = NextEditInput(window="x = '<|im_end|>'\n", cursor=0)
    ids = CodefillFormat().encode(qwen_tokenizer, hostile)
    im_end = qwen_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids.count(im_end) == 2  # the system's and the user's turn ends, not the window's text


def test_a_model_without_chat_template_gets_the_same_text_plain(qwen_tokenizer):
    class Plain:
        chat_template = None
        bos_token_id = None

        def __getattr__(self, name):
            return getattr(qwen_tokenizer, name)

    text = qwen_tokenizer.decode(CodefillFormat().encode(Plain(), INPUT))
    assert "<|im_start|>" not in text and text.endswith(f"{region(INPUT)}\n\nAnswer with the rewritten region "
                                                        f"between {REGION_START} and {REGION_END}, without the "
                                                        f"cursor marker, and nothing else.\n\n{REGION_START}\n")


def test_zeta_prompt_as_published():
    text = ZetaFormat().prompt_text(NextEditInput(window="a = 1\n", cursor=0, path="src/a.py", start_line=0,
                                                  events=[EditEvent("src/a.py", "@@ -1 +1 @@\n-b\n+a = 1\n")]))
    assert text.startswith("### Instruction:\nYou are a code completion assistant and your task is to analyze")
    assert '### User Edits:\n\nUser edited "src/a.py":\n```diff\n@@ -1 +1 @@\n-b\n+a = 1\n```\n' in text
    assert text.endswith(f"### User Excerpt:\n\n```src/a.py\n<|start_of_file|>\n{REGION_START}\n{CURSOR}a = 1\n"
                         f"{REGION_END}\n```\n\n### Response:\n")


@pytest.mark.parametrize("fmt, output, expected", [
    (CodefillFormat(), f"a = 2\nb{CURSOR} = 3\n{REGION_END}<|im_end|>", "a = 2\nb = 3\n"),
    (CodefillFormat(), "\nstarts blank\n" + REGION_END, "\nstarts blank\n"),  # a prefilled answer keeps its lines
    (CodefillFormat(), "a = 2\n", None),  # never closed
    (ZetaFormat(), f"```a.py\n<|start_of_file|>\n{REGION_START}\na = 2\n{REGION_END}\n```", "a = 2\n"),
])
def test_extract_cuts_at_the_end_marker_and_drops_markers(fmt, output, expected):
    assert fmt.extract(output) == expected


def test_formats_by_name_and_by_model():
    assert get_next_edit_format(" Zeta ").name == "zeta"
    with pytest.raises(ValueError, match="known formats: codefill, zeta"):
        get_next_edit_format("sweep")
    assert detect_next_edit_format("zed-industries/zeta").name == "zeta"
    assert detect_next_edit_format("/models/qwen2.5-coder-0.5b-instruct").name == "codefill"
