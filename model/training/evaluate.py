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
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from model.training.fim_examples import IGNORE_INDEX, Example
from model.training.progress import progress as progress_bar

EVAL_BEFORE = "eval-before.json"
EVAL_AFTER = "eval-after.json"
EVAL_TABLE = "eval.md"
LENGTH_MARGIN = 8  # tokens past the true middle's length before a still-matching answer is cut
# Rows x middle tokens scored in one pass: each position's logits span the whole vocabulary
# (152k floats for Qwen), so this caps the pass's logits at about 0.6 GB for such a model.
LOGIT_POSITIONS = 1024
_REPLACEMENT = "\ufffd"  # an unfinished UTF-8 sequence at the end of a partial decode


@dataclass
class EvalRow:
    index: int  # position in the evaluated subset
    path: str
    kind: str
    exact: bool
    loss: float  # summed over the middle's tokens
    tokens: int
    middle: str
    generated: str
    stopped: str  # "stop" (end token), "mismatch" (cannot match any more), "length"


@dataclass
class EvalResult:
    label: str  # "before" / "after"
    rows: list[EvalRow]
    seconds: float
    held_out_examples: int  # examples available before --eval-limit
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def exact_match(self) -> float:
        return sum(r.exact for r in self.rows) / self.n if self.rows else 0.0

    @property
    def mean_loss(self) -> float:
        tokens = sum(r.tokens for r in self.rows)
        return sum(r.loss for r in self.rows) / tokens if tokens else math.nan

    def by_kind(self) -> dict[str, dict[str, float]]:
        groups: dict[str, list[EvalRow]] = defaultdict(list)
        for r in self.rows:
            groups[r.kind].append(r)
        out = {}
        for kind, rows in sorted(groups.items()):
            tokens = sum(r.tokens for r in rows)
            out[kind] = {"examples": len(rows), "exact_match": sum(r.exact for r in rows) / len(rows),
                         "mean_loss": sum(r.loss for r in rows) / tokens if tokens else math.nan}
        return out

    @property
    def line_cut_match(self) -> float:
        """Exact match after cutting each answer to its middle's number of lines.

        An answer that holds the right middle but runs on scores 0 on exact
        match; the server's stop-at-line-end scopes and post-processing would
        have shown the user the right text. This tells "learned the code" apart
        from "learned where to stop".
        """
        return sum(line_cut_equal(r.generated, r.middle) for r in self.rows) / self.n if self.rows else 0.0

    @property
    def ended_with_end_token(self) -> float:
        """Share of answers the model closed itself (the rest ran past the middle or were cut as mismatches)."""
        return sum(r.stopped == "stop" for r in self.rows) / self.n if self.rows else 0.0

    def summary(self) -> dict[str, Any]:
        stops: dict[str, int] = defaultdict(int)
        for r in self.rows:
            stops[r.stopped] += 1
        return {"label": self.label, "examples": self.n, "held_out_examples": self.held_out_examples,
                "exact_match": self.exact_match, "line_cut_match": self.line_cut_match,
                "mean_middle_loss": self.mean_loss, "by_kind": self.by_kind(),
                "stopped": dict(sorted(stops.items())), "seconds": round(self.seconds, 2), **self.details}

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "rows": [asdict(r) for r in self.rows]}

    def write(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, out)
        return out

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> EvalResult:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = [EvalRow(**r) for r in data["rows"]]
        known = {"label", "examples", "held_out_examples", "exact_match", "line_cut_match", "mean_middle_loss",
                 "by_kind", "stopped", "seconds", "rows"}
        return cls(label=data["label"], rows=rows, seconds=data["seconds"],
                   held_out_examples=data["held_out_examples"],
                   details={k: v for k, v in data.items() if k not in known})


def line_cut_equal(generated: str, middle: str) -> bool:
    """`generated`, cut to as many lines as `middle` has, equals `middle` (both stripped at the ends)."""
    want = middle.strip()
    lines = generated.strip().split("\n")[: want.count("\n") + 1]
    return "\n".join(lines).rstrip() == want


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
    from model.templates.fim import stop_token_ids

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


# --- the before/after table ------------------------------------------------


def comparison_markdown(before: EvalResult | None, after: EvalResult | None, title: str = "") -> str:
    """A Markdown table of exact match and middle loss, before and after training, overall and per kind."""
    results = [r for r in (before, after) if r is not None]
    if not results:
        return ""
    n = results[0].n
    if results[0].details.get("generated") is False:
        return _loss_only_markdown(before, after, title)
    lines = [f"# {title}" if title else "# Held-out evaluation", ""]
    lines.append(f"{n} held-out FIM examples (of {results[0].held_out_examples}) from files the model never "
                 "trained on; greedy, the server's stop tokens, middle compared after stripping whitespace.")
    lines += ["", "| metric | before | after | change |", "|---|---:|---:|---:|"]

    def em(r: EvalResult | None) -> str:
        return f"{100 * r.exact_match:.1f}%" if r else "-"

    def loss(r: EvalResult | None) -> str:
        return f"{r.mean_loss:.3f}" if r else "-"

    em_change = f"{100 * (after.exact_match - before.exact_match):+.1f} points" if before and after else "-"
    loss_change = f"{after.mean_loss - before.mean_loss:+.3f}" if before and after else "-"
    lines.append(f"| FIM exact match | {em(before)} | {em(after)} | {em_change} |")
    lines.append(f"| mean middle loss (nats/token) | {loss(before)} | {loss(after)} | {loss_change} |")

    def cut(r: EvalResult | None) -> str:
        return f"{100 * r.line_cut_match:.1f}%" if r else "-"

    cut_change = f"{100 * (after.line_cut_match - before.line_cut_match):+.1f} points" if before and after else "-"
    lines.append(f"| exact match, answer cut to the middle's lines | {cut(before)} | {cut(after)} | {cut_change} |")

    def ended(r: EvalResult | None) -> str:
        return f"{100 * r.ended_with_end_token:.1f}%" if r else "-"

    ended_change = (f"{100 * (after.ended_with_end_token - before.ended_with_end_token):+.1f} points"
                    if before and after else "-")
    lines.append(f"| answers closed with the end token | {ended(before)} | {ended(after)} | {ended_change} |")
    kinds = sorted({k for r in results for k in r.by_kind()})
    for kind in kinds:
        b = before.by_kind().get(kind) if before else None
        a = after.by_kind().get(kind) if after else None
        count = (a or b or {}).get("examples", 0)
        bt = f"{100 * b['exact_match']:.1f}%" if b else "-"
        at = f"{100 * a['exact_match']:.1f}%" if a else "-"
        change = f"{100 * (a['exact_match'] - b['exact_match']):+.1f} points" if a and b else "-"
        lines.append(f"| exact match, {kind} ({count:.0f}) | {bt} | {at} | {change} |")
    seconds = " / ".join(f"{r.label} {r.seconds:.0f} s" for r in results)
    lines += ["", f"Evaluation time: {seconds}.", ""]
    return "\n".join(lines)


def _loss_only_markdown(before: EvalResult | None, after: EvalResult | None, title: str) -> str:
    first = before or after
    assert first is not None
    lines = [f"# {title}" if title else "# Held-out evaluation", "",
             f"{first.n} held-out dialogues (of {first.held_out_examples}) the model never trained on; the loss of "
             "each one's last assistant turn, teacher-forced.", "",
             "| metric | before | after | change |", "|---|---:|---:|---:|"]
    b = f"{before.mean_loss:.3f}" if before else "-"
    a = f"{after.mean_loss:.3f}" if after else "-"
    change = f"{after.mean_loss - before.mean_loss:+.3f}" if before and after else "-"
    lines.append(f"| mean assistant-turn loss (nats/token) | {b} | {a} | {change} |")
    seconds = " / ".join(f"{r.label} {r.seconds:.0f} s" for r in (before, after) if r is not None)
    lines += ["", f"Evaluation time: {seconds}.", ""]
    return "\n".join(lines)
