"""Chat training examples (`codefill train --instruct`): a dialogue rendered with the model's chat template,
the loss on the assistant's turns only.

The text the model learns is exactly what `/v1/chat/completions` will show it:
the tokenizer's own chat template renders the dialogue, and each assistant
turn's span is found by rendering the dialogue up to that turn with and
without the turn (the generation prompt marks where the answer starts). So
system prompts, user turns and the template's role headers carry no loss,
as in StarChat; the assistant's closing token does, so the model learns to
end its answer.

A tokenizer without a chat template gets ChatML's (`<|im_start|>role\\n...
<|im_end|>`), with the two tokens added as special tokens where the
vocabulary lacks them: the model's embeddings must then grow to match
(`added_tokens` says which), and an adapter trained on them can only be
served merged into its model (vLLM's multi-LoRA cannot add tokens).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefill.model.templates.chat import encode_chat
from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example

CHAT = "chat"  # Example.kind of a chat example
ROLES = ("system", "user", "assistant")
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Why a dialogue did not become an example.
TOO_LONG = "too_long"  # longer than --seq-len: a cut-off answer would teach the model to stop mid-answer
NO_ASSISTANT = "no_assistant_turn"
TEMPLATE_MISMATCH = "template_not_prefix_stable"


class ChatDataError(ValueError):
    """A dataset line that is not a dialogue, said with its line number."""


def ensure_chat_template(tokenizer: Any) -> list[str]:
    """Give a tokenizer without a chat template ChatML's; returns the special tokens that had to be added."""
    if getattr(tokenizer, "chat_template", None):
        return []
    vocab = tokenizer.get_vocab()
    missing = [t for t in CHATML_TOKENS if t not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    tokenizer.chat_template = CHATML_TEMPLATE
    return missing


def resize_for_tokenizer(model: Any, tokenizer: Any) -> bool:
    """Grow the model's embeddings (and tied head) to the tokenizer's size; True when they grew."""
    embeddings = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) <= embeddings:
        return False
    # New rows start at the mean of the old ones (transformers' default), not at random: a fresh
    # token should look like an ordinary token, not dominate the softmax.
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return True


def read_dialogues(path: str | os.PathLike[str]) -> list[list[dict[str, str]]]:
    """The `messages` of every line of a chat JSONL file (`codefill data instruct` writes them)."""
    dialogues = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ChatDataError(f"{path}:{number}: not JSON ({exc})") from exc
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages:
                raise ChatDataError(f"{path}:{number}: expected an object with a non-empty \"messages\" list")
            for i, m in enumerate(messages):
                if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                    raise ChatDataError(f"{path}:{number}: message {i} needs a role ({', '.join(ROLES)}) "
                                        "and string content")
            dialogues.append([{"role": m["role"], "content": m["content"]} for m in messages])
    return dialogues


def dialogue_id(messages: Sequence[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()[:16]


def _render(tokenizer: Any, messages: Sequence[dict[str, str]], generation_prompt: bool) -> list[int]:
    # As /v1/chat/completions encodes a conversation: contents are text, so a dialogue about
    # chat templates (code that spells "<|im_end|>") teaches no control tokens.
    return [int(t) for t in encode_chat(tokenizer, list(messages), add_generation_prompt=generation_prompt)]


def chat_example(tokenizer: Any, messages: Sequence[dict[str, str]], seq_len: int, *,
                 last_turn_only: bool = False) -> Example | str:
    """The dialogue as one example (labels on the assistant turns), or why there is none.

    `last_turn_only`: only the final assistant turn carries loss, the form held-out examples take
    (their prompt is everything before it).
    """
    full = _render(tokenizer, messages, False)
    if len(full) > seq_len:
        return TOO_LONG
    labels = [IGNORE_INDEX] * len(full)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if not turns:
        return NO_ASSISTANT
    if last_turn_only:
        turns = turns[-1:]
    for i in turns:
        start = len(_render(tokenizer, messages[:i], True))
        through = _render(tokenizer, messages[:i + 1], False)
        if full[:len(through)] != through or start > len(through):
            return TEMPLATE_MISMATCH
        labels[start:len(through)] = full[start:len(through)]
    if all(label == IGNORE_INDEX for label in labels):
        return NO_ASSISTANT
    return Example(kind=CHAT, path=dialogue_id(messages), input_ids=full, labels=labels)


@dataclass
class ChatDataset:
    train: list[Example]
    eval: list[Example]
    dialogues: int
    dropped: dict[str, int] = field(default_factory=dict)
    added_tokens: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        tokens = sum(len(e.input_ids) for e in self.train)
        target = sum(sum(1 for label in e.labels if label != IGNORE_INDEX) for e in self.train)
        return {"template": CHAT, "counts": {"dialogues": self.dialogues, "train": len(self.train),
                                             "eval": len(self.eval), "dropped": dict(sorted(self.dropped.items())),
                                             "train_tokens": tokens, "train_target_tokens": target},
                "added_tokens": self.added_tokens}

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        return (f"chat data: {self.dialogues} dialogues -> {len(self.train)} training, {len(self.eval)} held-out "
                f"examples (dropped: {dropped})")


def held_out(messages: Sequence[dict[str, str]], fraction: float, seed: int) -> bool:
    """A deterministic split by content: the same dialogue is held out whatever the file's order."""
    digest = hashlib.sha256(f"{seed}:{dialogue_id(messages)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_chat_dataset(dialogues: Iterable[Sequence[dict[str, str]]], tokenizer: Any, *, seq_len: int,
                       holdout_fraction: float, seed: int, added_tokens: Sequence[str] = ()) -> ChatDataset:
    train: list[Example] = []
    evaluation: list[Example] = []
    dropped: dict[str, int] = {}
    count = 0
    for messages in dialogues:
        count += 1
        evaluated = held_out(messages, holdout_fraction, seed)
        example = chat_example(tokenizer, messages, seq_len, last_turn_only=evaluated)
        if isinstance(example, str):
            dropped[example] = dropped.get(example, 0) + 1
            continue
        (evaluation if evaluated else train).append(example)
    return ChatDataset(train=train, eval=evaluation, dialogues=count, dropped=dropped,
                       added_tokens=list(added_tokens))


def is_chat_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).is_file() and Path(path).suffix in (".jsonl", ".json")
