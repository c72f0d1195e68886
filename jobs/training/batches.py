"""The order examples are trained in, and how a batch of them becomes tensors.

Each epoch's order is a function of the seed and the epoch number alone, so a
resumed run rebuilds exactly the batches the interrupted one would have seen
and skips the ones it already trained on. Examples of similar length are
batched together (shuffled, sorted by length within windows of a few dozen
batches, then the batches shuffled): padding is wasted compute, and on a CPU
there is no idle hardware to hide it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example

_WINDOW_BATCHES = 32  # how many batches' worth of examples are sorted together


def epoch_batches(lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int) -> list[list[int]]:
    """Example indices, batch by batch, for one epoch."""
    rng = random.Random(f"{seed}:epoch:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * _WINDOW_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded input_ids, attention_mask and labels (-100 on padding)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class ExampleBatches:
    """A batch sampler over one epoch's precomputed batches (what DataLoader's batch_sampler takes)."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self):  # noqa: ANN204 - torch's Sampler protocol
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
