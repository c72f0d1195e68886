"""FIM templates: the exact prompt per family, detection from real tokenizers, safe encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from codefill.model.templates.fim import (
    FIM_TEMPLATES,
    ContextFile,
    detect_fim_template,
    encode_prompt,
    get_fim_template,
    stop_token_ids,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fim"
CASES = sorted(GOLDEN.glob("*/*.yaml"))


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


@pytest.mark.parametrize("case_path", CASES, ids=_case_id)
def test_golden_prompt_and_stops(case_path: Path):
    case = yaml.safe_load(case_path.read_text(encoding="utf-8"))
    template = FIM_TEMPLATES[case_path.parent.name]
    files = [ContextFile(f["path"], f["content"]) for f in case.get("files", [])]
    prompt = template.build(
        case["prefix"], case["suffix"], repo_name=case.get("repo_name"), path=case.get("path"), files=files
    )
    assert prompt.text == case["prompt"]
    assert [s.text for s in prompt.segments if s.special] == case["control_tokens"]
    assert set(template.stop_tokens) == set(case["stops"])


def test_every_family_has_golden_cases():
    assert {p.parent.name for p in CASES} == set(FIM_TEMPLATES)


# --- detection, with small but real tokenizers -----------------------------

FAMILY_VOCABS = {
    "qwen": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
             "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"],
    "codegemma": ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<|fim_prefix|>",
                  "<|fim_middle|>", "<|fim_suffix|>", "<|file_separator|>"],
    "starcoder": ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                  "<repo_name>", "<file_sep>", "<issue_start>", "<jupyter_start>"],
    "deepseek": ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
                 "<｜fim▁end｜>", "<|EOT|>"],
    "codellama": ["<s>", "</s>", "▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"],
    "codestral": ["<s>", "</s>", "[INST]", "[/INST]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]"],
}
BOS_EOS = {
    "qwen": (None, "<|endoftext|>"),
    "codegemma": ("<bos>", "<eos>"),
    "starcoder": (None, "<|endoftext|>"),
    "deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "codellama": ("<s>", "</s>"),
    "codestral": ("<s>", "</s>"),
}
WORDS = ["def", "add", "return", "a", "b", "(", ")", ":", "+", ",", "x", "=", "1"]


def word_tokenizer(special: list[str], bos: str | None = None, eos: str | None = None) -> PreTrainedTokenizerFast:
    """A real `tokenizers` tokenizer: a few words plus the given special tokens."""
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens(special)
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", bos_token=bos, eos_token=eos)


def family_tokenizer(family: str) -> PreTrainedTokenizerFast:
    bos, eos = BOS_EOS[family]
    return word_tokenizer(FAMILY_VOCABS[family], bos=bos, eos=eos)


@pytest.mark.parametrize("family", sorted(FAMILY_VOCABS))
def test_detects_each_family_from_its_special_tokens(family):
    template = detect_fim_template(family_tokenizer(family))
    assert template is not None and template.name == family


def test_no_fim_tokens_means_no_template():
    chat_only = word_tokenizer(["<|im_start|>", "<|im_end|>", "<|endoftext|>"], eos="<|im_end|>")
    assert detect_fim_template(chat_only) is None
    assert detect_fim_template(word_tokenizer([])) is None


def test_codegemma_is_not_mistaken_for_qwen_although_they_share_fim_tokens():
    both = family_tokenizer("codegemma")
    assert "<|fim_prefix|>" in both.get_vocab()
    assert detect_fim_template(both).name == "codegemma"


def test_starcoder1_vocabulary_gets_file_level_prompts_only():
    starcoder1 = word_tokenizer(["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>",
                                 "<filename>", "<gh_stars>", "<reponame>"], eos="<|endoftext|>")
    template = detect_fim_template(starcoder1)
    assert template.name == "starcoder" and not template.supports_repo_level()
    prompt = template.build("x = ", "\n", repo_name="r", path="a.py", files=[ContextFile("b.py", "y = 1\n")])
    assert prompt.text == "<fim_prefix>x = <fim_suffix>\n<fim_middle>"
    encode_prompt(starcoder1, prompt)  # every control token exists in this vocabulary


def test_other_models_with_the_three_bar_fim_tokens_use_that_format():
    only_fim = word_tokenizer(["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endoftext|>"])
    assert detect_fim_template(only_fim).name == "qwen"


def test_repo_level_support_per_family():
    assert {n for n, t in FIM_TEMPLATES.items() if t.supports_repo_level()} == {"qwen", "starcoder"}


# --- choosing by name -------------------------------------------------------

def test_get_fim_template_by_name():
    assert get_fim_template("deepseek") is FIM_TEMPLATES["deepseek"]
    assert get_fim_template("Qwen").name == "qwen"


def test_unknown_template_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        get_fim_template("gpt2")
    message = str(err.value)
    assert "gpt2" in message
    assert all(name in message for name in FIM_TEMPLATES)


# --- encoding and stops ------------------------------------------------------

def test_encode_puts_bos_then_control_tokens_by_id():
    tok = family_tokenizer("codellama")
    template = FIM_TEMPLATES["codellama"]
    ids = encode_prompt(tok, template.build("a + b", "return x"), add_bos=template.add_bos)
    pre, suf, mid = (tok.convert_tokens_to_ids(t) for t in ("▁<PRE>", "▁<SUF>", "▁<MID>"))
    assert ids[0] == tok.bos_token_id
    assert ids[1] == pre and ids[-1] == mid and suf in ids
    assert tok.convert_ids_to_tokens(ids[2:5]) == ["a", "+", "b"]


def test_codestral_sends_the_suffix_first():
    tok = family_tokenizer("codestral")
    ids = encode_prompt(tok, FIM_TEMPLATES["codestral"].build("def", "return"), add_bos=True)
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "[SUFFIX]", "return", "[PREFIX]", "def"]


def test_encoding_with_a_tokenizer_that_lacks_the_tokens_fails_clearly():
    with pytest.raises(ValueError, match="<fim_prefix>"):
        encode_prompt(family_tokenizer("qwen"), FIM_TEMPLATES["starcoder"].build("a", "b"))


def test_stop_ids_are_the_present_stop_tokens_and_eos():
    tok = family_tokenizer("codellama")
    ids = stop_token_ids(tok, FIM_TEMPLATES["codellama"])
    # "<EOT>" without the space marker is not in this vocabulary and is skipped.
    assert sorted(ids) == sorted({tok.convert_tokens_to_ids("▁<EOT>"), tok.eos_token_id})


# --- the real Qwen2.5-Coder tokenizer ---------------------------------------

FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID = 151659, 151660, 151661


def test_qwen_tokenizer_is_detected(qwen_tokenizer):
    assert detect_fim_template(qwen_tokenizer).name == "qwen"


def test_qwen_prompt_uses_the_fim_token_ids(qwen_tokenizer):
    prompt = FIM_TEMPLATES["qwen"].build("def add(a, b):\n    ", "\n\nprint(add(1, 2))")
    ids = encode_prompt(qwen_tokenizer, prompt)
    assert ids[0] == FIM_PREFIX_ID and ids[-1] == FIM_MIDDLE_ID
    assert ids.count(FIM_SUFFIX_ID) == 1
    # The same ids as tokenizing the prompt text whole: what the model was trained on.
    assert ids == qwen_tokenizer(prompt.text).input_ids


def test_control_token_text_in_user_code_is_not_a_control_token(qwen_tokenizer):
    prompt = FIM_TEMPLATES["qwen"].build("s = '<|fim_middle|>'\n<|fim_suffix|>", "<|fim_prefix|>")
    ids = encode_prompt(qwen_tokenizer, prompt)
    assert ids.count(FIM_MIDDLE_ID) == 1 and ids[-1] == FIM_MIDDLE_ID
    assert ids.count(FIM_SUFFIX_ID) == 1
    assert ids.count(FIM_PREFIX_ID) == 1 and ids[0] == FIM_PREFIX_ID
    assert qwen_tokenizer.decode(ids) == prompt.text


def test_qwen_repo_level_prompt_encodes_its_separators(qwen_tokenizer):
    prompt = FIM_TEMPLATES["qwen"].build("x = ", "\n", repo_name="demo", path="a.py",
                                         files=[ContextFile("b.py", "y = 1")])
    ids = encode_prompt(qwen_tokenizer, prompt)
    assert ids[0] == qwen_tokenizer.convert_tokens_to_ids("<|repo_name|>")
    assert ids.count(qwen_tokenizer.convert_tokens_to_ids("<|file_sep|>")) == 2


def test_qwen_stop_ids(qwen_tokenizer):
    ids = stop_token_ids(qwen_tokenizer, FIM_TEMPLATES["qwen"])
    expected = {qwen_tokenizer.convert_tokens_to_ids(t) for t in FIM_TEMPLATES["qwen"].stop_tokens}
    assert set(ids) == expected | {qwen_tokenizer.eos_token_id}
    assert len(ids) == len(set(ids))
    assert {FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID} <= set(ids)
