"""Held-out evaluation: FIM exact match of the middle, and the mean loss of its tokens.

Each held-out example is the prompt the server would send for that prefix and
suffix, followed by the true middle and the template's end token. Exact match
is greedy generation with the server's stopping (the template's stop tokens
and EOS, no post-processing), compared with the true middle after stripping
whitespace at both ends. The loss is the teacher-forced cross-entropy of the
middle and end tokens, averaged over tokens.

Built for a CPU, where a prompt's prefill is the expensive part:
- one forward pass over prompt + middle gives both the loss and the first
  generated token; the KV cache is then cut back to the prompt and greedy
  decoding continues from it, so no prompt is read twice;
- examples are batched by prompt length (left-padded prompts, right-padded
  middles, so every prompt ends in the same column);
- a row stops as soon as its answer can no longer match: when the text so far
  is not a start of the true middle, or it is the true middle followed by
  more than whitespace. Such a row would score 0 whatever came next, so the
  result is the same as generating to the end. A row that could still match
  stops at the middle's length plus a margin (an answer that long cannot be
  the middle, whatever its tokenization).

With several processes (accelerate launch, DeepSpeed ZeRO-3, FSDP) each takes
a share of the batches, every process runs the same number of forward passes
(sharded weights are gathered collectively on each pass), and the rows are
gathered at the end.

The rows it returns, their summary and the before/after table are `codefill.jobs.training.eval_results`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

from codefill.jobs.training.eval_results import EvalResult, EvalRow
from codefill.jobs.training.fim_examples import IGNORE_INDEX, Example
from codefill.jobs.training.progress import progress as progress_bar

LENGTH_MARGIN = 8  # tokens past the true middle's length before a still-matching answer is cut
# Rows x middle tokens scored in one pass: each position's logits span the whole vocabulary
# (152k floats for Qwen), so this caps the pass's logits at about 0.6 GB for such a model.
LOGIT_POSITIONS = 1024
_REPLACEMENT = "\ufffd"  # an unfinished UTF-8 sequence at the end of a partial decode


def select_examples(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """The evaluated subset: all held-out examples, or `limit` of them drawn with the seed (same before and after)."""
    chosen = list(examples)
    if limit is not None and limit < len(chosen):
        rng = random.Random(f"{seed}:eval-subset")
        picked = sorted(rng.sample(range(len(chosen)), limit))
        chosen = [chosen[i] for i in picked]
    return chosen


def end_token_ids(model: Any, tokenizer: Any, template: Any) -> set[int]:
    """What stops a server's generation: the template's stop tokens and the model's EOS ids."""
    from codefill.model.templates.fim import stop_token_ids

    ids = set(stop_token_ids(tokenizer, template))
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(e) for e in eos)
    return ids


def could_still_match(text: str, middle: str) -> bool:
    """Can `text` plus more generated text still equal `middle` once both are stripped?"""
    got = text.lstrip().rstrip(_REPLACEMENT)
    want = middle.strip()
    if want.startswith(got):
        return True
    return got.startswith(want) and got[len(want):].strip() == ""


def evaluate(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    stop_ids: set[int],
    batch_size: int = 8,
    label: str = "",
    held_out_examples: int | None = None,
    accelerator: Any = None,
    show_progress: bool = True,
    generate: bool = True,
) -> EvalResult:
    """Score `examples`; `generate=False` gives the loss alone (chat answers have no single right text)."""
    import torch

    start = time.perf_counter()
    batches = eval_batches(examples, batch_size)
    processes = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if accelerator is not None else 0
    mine = batches[rank::processes]
    rounds = math.ceil(len(batches) / processes)
    pad_id = _pad_id(tokenizer)
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    rows: list[EvalRow] = []
    try:
        with torch.no_grad():
            bar = progress_bar(range(rounds), show_progress and rank == 0, f"evaluation ({label})", unit="batch")
            for r in bar:
                # A process out of batches repeats its last one (or the first overall), unrecorded,
                # so that every process runs the same forward passes.
                batch = mine[r] if r < len(mine) else (mine[-1] if mine else batches[0])
                scored = _score_batch(model, tokenizer, [examples[i] for i in batch], stop_ids, pad_id, device,
                                      accelerator, generate)
                if r < len(mine):
                    for i, row in zip(batch, scored):
                        row.index = i
                        rows.append(row)
    finally:
        model.train(was_training)
    if processes > 1:
        from accelerate.utils import gather_object

        rows = gather_object(rows)
    rows = sorted({r.index: r for r in rows}.values(), key=lambda r: r.index)
    return EvalResult(label=label, rows=rows, seconds=time.perf_counter() - start,
                      held_out_examples=held_out_examples if held_out_examples is not None else len(examples),
                      details={} if generate else {"generated": False})


def eval_batches(examples: Sequence[Example], batch_size: int) -> list[list[int]]:
    """Indices batched by prompt length (little padding), at most `batch_size` rows and LOGIT_POSITIONS logits."""
    order = sorted(range(len(examples)), key=lambda i: (examples[i].prompt_length, i))
    batches: list[list[int]] = []
    current: list[int] = []
    widest = 0
    for i in order:
        target = len(examples[i].input_ids) - examples[i].prompt_length
        if current and (len(current) >= batch_size or (len(current) + 1) * max(widest, target) > LOGIT_POSITIONS):
            batches.append(current)
            current, widest = [], 0
        current.append(i)
        widest = max(widest, target)
    if current:
        batches.append(current)
    return batches


def _pad_id(tokenizer: Any) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if value is not None:
            return int(value)
    return 0


def _score_batch(
    model: Any, tokenizer: Any, batch: list[Example], stop_ids: set[int], pad_id: int, device: Any,
    accelerator: Any, generate: bool = True,
) -> list[EvalRow]:
    import torch
    import torch.nn.functional as F
    from transformers import DynamicCache

    prompts = [e.input_ids[:e.prompt_length] for e in batch]
    targets = [e.input_ids[e.prompt_length:] for e in batch]
    width_p = max(len(p) for p in prompts)
    width_t = max(len(t) for t in targets)
    n = len(batch)
    ids = torch.full((n, width_p + width_t), pad_id, dtype=torch.long)
    labels = torch.full((n, width_t), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((n, width_p + width_t), dtype=torch.long)
    for row, (p, t) in enumerate(zip(prompts, targets)):
        ids[row, width_p - len(p):width_p] = torch.tensor(p)
        ids[row, width_p:width_p + len(t)] = torch.tensor(t)
        labels[row, :len(t)] = torch.tensor(t)
        mask[row, width_p - len(p):width_p + len(t)] = 1
    ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    # Column c predicts token c+1: the last prompt column predicts the middle's first token.
    keep = torch.arange(width_p - 1, width_p + width_t - 1, device=device)
    # The prompt's KV cache is kept only when generation follows; a loss-only pass needs none.
    cache = DynamicCache() if generate else None
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                use_cache=generate, logits_to_keep=keep)
    logits = out.logits.float()
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX,
                             reduction="none").reshape(n, width_t).sum(-1)
    if not generate:
        return [EvalRow(index=-1, path=e.path, kind=e.kind, exact=False, loss=float(losses[row]),
                        tokens=len(targets[row]), middle=e.middle or "", generated="", stopped="skipped")
                for row, e in enumerate(batch)]
    cache = out.past_key_values
    cache.crop(-width_t)  # back to the prompt alone

    limits = [len(t) + LENGTH_MARGIN for t in targets]
    middles = [e.middle or "" for e in batch]
    generated: list[list[int]] = [[] for _ in batch]
    stopped: list[str | None] = [None] * n
    next_tokens = logits[:, 0].argmax(-1)
    attention = mask[:, :width_p]
    prompt_lengths = torch.tensor([len(p) for p in prompts], device=device)
    step = 0
    while True:
        for row in range(n):
            if stopped[row] is not None:
                continue
            token = int(next_tokens[row])
            if token in stop_ids:
                stopped[row] = "stop"
                continue
            generated[row].append(token)
            text = tokenizer.decode(generated[row], skip_special_tokens=True)
            if not could_still_match(text, middles[row]):
                stopped[row] = "mismatch"
            elif len(generated[row]) >= limits[row]:
                stopped[row] = "length"
        if not _any_active(any(s is None for s in stopped), accelerator):
            break
        attention = torch.cat([attention, torch.ones((n, 1), dtype=attention.dtype, device=device)], dim=1)
        out = model(input_ids=next_tokens[:, None], attention_mask=attention,
                    position_ids=(prompt_lengths + step)[:, None], past_key_values=cache, use_cache=True,
                    logits_to_keep=1)
        cache = out.past_key_values
        next_tokens = out.logits[:, -1].argmax(-1)
        step += 1

    rows = []
    for row, e in enumerate(batch):
        text = tokenizer.decode(generated[row], skip_special_tokens=True)
        rows.append(EvalRow(
            index=-1, path=e.path, kind=e.kind, exact=text.strip() == middles[row].strip(),
            loss=float(losses[row]), tokens=len(targets[row]), middle=middles[row], generated=text,
            stopped=stopped[row] or "length",
        ))
    return rows


def _any_active(local: bool, accelerator: Any) -> bool:
    """Whether any process still has a row generating (all keep stepping until none has)."""
    if accelerator is None or accelerator.num_processes == 1:
        return local
    import torch

    flag = torch.tensor([1 if local else 0], device=accelerator.device)
    return bool(accelerator.reduce(flag, reduction="sum").item() > 0)
