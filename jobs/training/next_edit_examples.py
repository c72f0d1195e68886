"""Next-edit training examples (`codefill train --next-edit REPO`): the prompt `/v1/next_edit` builds
for a case, then the rewritten window, the end marker and the end token; the loss on those only.

The prompt is the server's own (`codefill.model.templates.next_edit.CodefillFormat.encode`, with
the reply prefilled with the start marker), so the adapter learns exactly what it is asked when
served. A prompt too long for `--seq-len` loses its oldest edit events first, as the server's
does for its context window; a window whose prompt and answer still do not fit is dropped.

The split is by commit (`codefill.jobs.next_edit_data.collect`), so `codefill eval next-edit`
with the same `--seed` and `--holdout` scores the held-out commits; training cases whose
window or target is a held-out case's window or target are dropped (decontamination).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from codefill.jobs.next_edit_data.cases import NextEditCase
from codefill.jobs.next_edit_data.collect import collect_cases, sample
from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example
from codefill.model.next_edit_edits import split_lines
from codefill.model.templates.encoding import encode_text
from codefill.model.templates.next_edit import REGION_END, CodefillFormat, EditEvent, NextEditInput

NEXT_EDIT = "next_edit"  # Example.kind and the data report's template
TOO_LONG = "too_long"
NO_EDIT_SHARE = 0.5  # of the training examples; a history has about two no-edit cases per edit


def next_edit_input(case: NextEditCase) -> NextEditInput:
    lines = split_lines(case.window)
    row = case.cursor_line - case.start_line
    cursor = sum(len(s) for s in lines[:row]) + case.cursor_character
    return NextEditInput(window=case.window, cursor=cursor, path=case.path, language=case.language,
                         start_line=case.start_line, events=[EditEvent(p, d) for p, d in case.events])


def answer_text(target: str) -> str:
    """What the model writes after the prefilled start marker: the region, its end on a line of its own."""
    return (target if target.endswith("\n") or not target else target + "\n") + REGION_END


def next_edit_example(tokenizer: Any, case: NextEditCase, seq_len: int) -> Example | str:
    fmt = CodefillFormat()
    eos = tokenizer.eos_token_id
    answer = encode_text(tokenizer, answer_text(case.target)) + ([int(eos)] if eos is not None else [])
    inp = next_edit_input(case)
    events = list(inp.events)
    while True:
        prompt = fmt.encode(tokenizer, replace(inp, events=events))
        if len(prompt) + len(answer) <= seq_len:
            break
        if not events:
            return TOO_LONG
        events.pop(0)
    return Example(kind=NEXT_EDIT, path=case.key, input_ids=prompt + answer,
                   labels=[IGNORE_INDEX] * len(prompt) + answer, language=case.language)


@dataclass
class NextEditDataset:
    train: list[Example]
    eval: list[Example]
    collected: dict[str, Any]
    counts: Counter = field(default_factory=Counter)

    def report(self) -> dict[str, Any]:
        target = sum(sum(1 for label in e.labels if label != IGNORE_INDEX) for e in self.train)
        return {"template": NEXT_EDIT, "collected": self.collected,
                "counts": {"train": len(self.train), "eval": len(self.eval), "train_target_tokens": target,
                           **dict(self.counts)}}

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(self.counts.items())) or "none"
        return f"next-edit data: {len(self.train)} training, {len(self.eval)} held-out examples (dropped: {dropped})"


def build_next_edit_dataset(repo: str, tokenizer: Any, *, seq_len: int, holdout_fraction: float, seed: int,
                            max_commits: int | None, max_examples: int | None, decontaminate: bool = True,
                            progress: bool = True) -> NextEditDataset:
    collected = collect_cases(repo, holdout=holdout_fraction, seed=seed, max_commits=max_commits,
                              show_progress=progress)
    if progress:
        import sys

        print(collected.summary(), file=sys.stderr)
    counts: Counter = Counter()
    train_cases = collected.train
    if decontaminate:
        seen = {c.window for c in collected.held_out} | {c.target for c in collected.held_out}
        kept = [c for c in train_cases if c.window not in seen and c.target not in seen]
        counts["contaminated"] = len(train_cases) - len(kept)
        train_cases = kept
    train_cases = sample(train_cases, max_examples, seed, no_edit_share=NO_EDIT_SHARE)
    train: list[Example] = []
    for case in train_cases:
        ex = next_edit_example(tokenizer, case, seq_len)
        if isinstance(ex, str):
            counts[ex] += 1
        else:
            train.append(ex)
    held: list[Example] = []
    for case in sample(collected.held_out, None, seed):
        ex = next_edit_example(tokenizer, case, seq_len)
        if isinstance(ex, str):
            counts[f"held_out_{ex}"] += 1
        else:
            held.append(ex)
    return NextEditDataset(train=train, eval=held, collected=collected.report(), counts=counts)


__all__ = ["NEXT_EDIT", "NextEditDataset", "answer_text", "build_next_edit_dataset", "next_edit_example",
           "next_edit_input"]
