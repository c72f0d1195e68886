"""`codefill train --instruct`: chat dialogues, the loss on assistant turns only, ChatML for tokenizers without a template."""

from __future__ import annotations

import argparse
import json

import pytest

from codefill.jobs.training.chat_examples import (
    CHATML_TOKENS,
    TOO_LONG,
    ChatDataError,
    build_chat_dataset,
    chat_example,
    ensure_chat_template,
    read_dialogues,
)
from codefill.jobs.training.fim_examples import IGNORE_INDEX
from codefill.jobs.training.train_config import TrainConfig
from codefill.jobs.training.trainer import Trainer

DIALOGUE = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": "Add two numbers."},
    {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
    {"role": "user", "content": "Now subtract."},
    {"role": "assistant", "content": "def sub(a, b):\n    return a - b"},
]


def labelled_spans(tokenizer, example) -> list[str]:
    """The text of each run of consecutive positions that carry loss."""
    spans: list[list[int]] = []
    previous = False
    for token, label in zip(example.input_ids, example.labels):
        on = label != IGNORE_INDEX
        if on:
            assert label == token  # a position learns its own token
            if not previous:
                spans.append([])
            spans[-1].append(token)
        previous = on
    return [tokenizer.decode(s, skip_special_tokens=False) for s in spans]


def test_only_the_assistant_turns_and_their_end_token_carry_loss(qwen_tokenizer):
    example = chat_example(qwen_tokenizer, DIALOGUE, 512)
    assert labelled_spans(qwen_tokenizer, example) == [
        "def add(a, b):\n    return a + b<|im_end|>\n",
        "def sub(a, b):\n    return a - b<|im_end|>\n",
    ]
    # The whole text is the model's chat template, as /v1/chat/completions renders it.
    assert example.input_ids == qwen_tokenizer.apply_chat_template(DIALOGUE, tokenize=True, return_dict=True)["input_ids"]


def test_a_held_out_dialogue_scores_its_last_answer_only(qwen_tokenizer):
    example = chat_example(qwen_tokenizer, DIALOGUE, 512, last_turn_only=True)
    assert labelled_spans(qwen_tokenizer, example) == ["def sub(a, b):\n    return a - b<|im_end|>\n"]


def test_a_dialogue_longer_than_the_sequence_is_dropped_not_cut(qwen_tokenizer):
    short = len(chat_example(qwen_tokenizer, DIALOGUE[:3], 10_000).input_ids)
    assert chat_example(qwen_tokenizer, DIALOGUE, short) == TOO_LONG
    dataset = build_chat_dataset([DIALOGUE, DIALOGUE[:3]], qwen_tokenizer, seq_len=short, holdout_fraction=0, seed=0)
    assert len(dataset.train) == 1 and dataset.dropped == {TOO_LONG: 1}


def test_bad_lines_are_refused_with_their_line_number(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": DIALOGUE}) + "\n" + json.dumps({"messages": [{"role": "bot"}]}) + "\n")
    with pytest.raises(ChatDataError, match=r"chat.jsonl:2: message 0 needs a role"):
        read_dialogues(path)


# --- a model whose tokenizer has no chat template ---------------------------------------


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    """A tiny random Qwen2-shaped model with a small byte-level BPE tokenizer that has no chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    corpus = [f"def add_{i}(a, b):\n    return a + b * {i}\n" for i in range(50)] + ["Add two numbers."] * 5
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=320, special_tokens=["<eos>"],
                                                         initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>", pad_token="<eos>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, max_position_embeddings=512)
    folder = tmp_path_factory.mktemp("plain-model")
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_a_tokenizer_without_a_template_gets_chatml_and_its_tokens(plain_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(plain_model)
    size = len(tokenizer)
    assert ensure_chat_template(tokenizer) == list(CHATML_TOKENS)
    assert len(tokenizer) == size + 2
    example = chat_example(tokenizer, DIALOGUE[1:3], 256)
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in example.input_ids  # one token, not its characters
    assert labelled_spans(tokenizer, example) == ["def add(a, b):\n    return a + b<|im_end|>\n"]
    assert ensure_chat_template(tokenizer) == []  # a template now: nothing more to add


def write_dialogues(path, n: int) -> None:
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"messages": [
                {"role": "user", "content": f"Add {i} to a number."},
                {"role": "assistant", "content": f"def add_{i}(a):\n    return a + {i}"},
            ]}) + "\n")


def test_sft_on_a_model_without_a_template_grows_it_and_writes_a_merged_model(plain_model, tmp_path):
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "chat.jsonl"
    write_dialogues(data, 24)
    out = tmp_path / "adapter"
    config = TrainConfig(repo=str(data), out=str(out), model=str(plain_model), instruct=True, seq_len=128,
                         batch_size=4, max_steps=3, lr=1e-2, holdout=0.25, save_every=10, progress=False,
                         eval_batch_size=4)
    trainer = Trainer(config, say=lambda line: None)
    result = trainer.run()
    assert trainer.added_tokens == list(CHATML_TOKENS)
    assert result.finished and result.merged == out / "merged"
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as f:
        assert any("trainable_tokens" in key for key in f.keys())  # the new tokens' rows were trained
    tokenizer = AutoTokenizer.from_pretrained(result.merged)
    merged = AutoModelForCausalLM.from_pretrained(result.merged)
    assert merged.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert tokenizer.chat_template and tokenizer.convert_tokens_to_ids("<|im_end|>") >= len(tokenizer) - 2
    assert result.eval_before.mean_loss != result.eval_after.mean_loss
    assert "mean assistant-turn loss" in (out / "eval.md").read_text()


def test_sft_through_the_cli_on_the_tiny_model_needs_no_new_tokens(tiny_model_path, tmp_path, capsys):
    from codefill.commands.train import add_train_parser, run_train

    data = tmp_path / "shop-chat.jsonl"
    write_dialogues(data, 16)
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    out = tmp_path / "chat-adapter"
    args = parser.parse_args(["train", str(data), "--instruct", "--out", str(out), "--model", tiny_model_path,
                              "--max-steps", "2", "--batch-size", "2", "--seq-len", "256", "--holdout", "0.25",
                              "--no-progress"])
    assert run_train(args) == 0
    printed = capsys.readouterr().out
    assert "held-out assistant-turn loss" in printed
    assert f"--lora shop-chat={out}" in printed
    report = json.loads((out / "train-report.json").read_text())
    assert report["data"]["template"] == "chat" and report["data"]["added_tokens"] == []
    report_md = (out / "train-report.md").read_text()
    assert "dialogues" in report_md and "labelled (assistant) tokens" in report_md


def test_the_cli_says_which_input_each_mode_takes(tmp_path):
    from codefill.commands.train import add_train_parser
    from codefill.jobs.training.train_run import config_from_args

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    data = tmp_path / "chat.jsonl"
    write_dialogues(data, 1)
    with pytest.raises(ValueError, match="for chat data add --instruct"):
        config_from_args(parser.parse_args(["train", str(data), "--out", str(tmp_path / "a")]))
    with pytest.raises(ValueError, match="--instruct trains on a JSON Lines file"):
        config_from_args(parser.parse_args(["train", str(tmp_path), "--instruct", "--out", str(tmp_path / "b")]))


def test_a_resumed_run_keeps_the_mode_it_was_started_in(tmp_path):
    from codefill.jobs.training.train_config import TrainConfig
    from codefill.commands.train import add_train_parser
    from codefill.jobs.training.train_run import config_from_args

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    data = tmp_path / "chat.jsonl"
    write_dialogues(data, 1)
    out = tmp_path / "run"
    out.mkdir()
    TrainConfig(repo=str(data.resolve()), out=str(out.resolve()), instruct=True).save(out)
    config = config_from_args(parser.parse_args(["train", str(data), "--out", str(out), "--resume"]))
    assert config.instruct and config.repo == str(data.resolve())
    with pytest.raises(ValueError, match="holds no training run"):
        config_from_args(parser.parse_args(["train", str(data), "--out", str(tmp_path / "none"), "--resume"]))
