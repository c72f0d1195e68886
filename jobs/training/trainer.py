"""The training run: data, model, loop, checkpoints, evaluation before and after, reports.

One loop for every scale. accelerate's `Accelerator` owns devices, mixed
precision, gradient accumulation and distribution, so the same code runs on a
laptop CPU, one GPU, or many through `accelerate launch` / `torchrun` with
DeepSpeed ZeRO-3 or FSDP (configs in `jobs/training/configs/`); nothing here
starts processes or shards anything itself.

Resuming is exact: the latest checkpoint restores the weights being trained,
the optimizer, the scheduler and every RNG (accelerate), and the step, epoch
and position in the epoch (`trainer_state.json`). Each epoch's batch order is
a function of the seed and the epoch, so the run skips the batches it already
trained on and sees the same data the uninterrupted run would have.

What the run writes (checkpoints, the trained weights, the loss plot, the report) is
`codefill.jobs.training.run_outputs`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from codefill.jobs.training.batches import ExampleBatches, collate, epoch_batches
from codefill.jobs.training.checkpoints import (
    CheckpointStore,
    TrainerState,
    read_state,
    save_adapter_instead_of_model,
)
from codefill.jobs.training.eval_results import EVAL_AFTER, EVAL_BEFORE, EVAL_TABLE, EvalResult, comparison_markdown
from codefill.jobs.training.evaluate import end_token_ids, evaluate, select_examples
from codefill.jobs.training.loss import middle_loss_sum
from codefill.jobs.training.lora_config import check_target_modules, peft_lora_config
from codefill.jobs.training.merge import MERGED_SUBDIR, merge_adapter
from codefill.jobs.training.precision import Precision, choose_precision
from codefill.jobs.training.run_data import RunData, has_data, prepare_run_data
from codefill.jobs.training.run_outputs import RunOutputs
from codefill.jobs.training.train_config import CONFIG_FILE, TrainConfig
from codefill.jobs.training.train_report import REPORT_JSON

WARMUP_SHARE = 0.05


@dataclass
class TrainResult:
    out_dir: Path
    state: TrainerState
    finished: bool
    eval_before: EvalResult | None
    eval_after: EvalResult | None
    merged: Path | None


def steps_per_epoch(n_batches: int, processes: int, grad_accum: int) -> int:
    """Optimizer steps in one epoch: each process gets ceil(batches / processes) micro-batches."""
    return max(1, math.ceil(math.ceil(n_batches / processes) / grad_accum))


def prepare_out_dir(out: Path, *, resume: bool) -> None:
    """A new run needs a fresh --out; --resume needs the run there."""
    started = (out / CONFIG_FILE).is_file()
    if resume and not started:
        raise ValueError(f"--resume: {out} holds no training run ({CONFIG_FILE} is missing); "
                         "start one without --resume")
    if not resume and started:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it, "
                         "or choose another --out")
    if not resume and out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out} exists and is not empty; choose a new folder")


class Trainer(RunOutputs):
    def __init__(self, config: TrainConfig, *, resume: bool = False, command: str = "",
                 say: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.resume = resume
        self.command = command
        self.out = Path(config.out).expanduser().resolve()
        self._say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.added_tokens: list[str] = []  # special tokens added to the tokenizer (chat data, no chat template)

    def say(self, line: str) -> None:
        if not self.accelerator.is_main_process:
            return
        if self.config.progress:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)  # above the progress bar, not through it
        else:
            self._say(line)

    # --- the run ------------------------------------------------------------

    def run(self, until_step: int | None = None) -> TrainResult:
        """Train to the end (or to `until_step`, then stop as if interrupted), evaluate, report."""
        import torch
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        config = self.config
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
        self.precision: Precision = choose_precision(config.precision, device_type)
        self.accelerator = accelerator = Accelerator(
            mixed_precision=self.precision.mixed_precision,
            gradient_accumulation_steps=config.grad_accum,
            # The schedule is written in optimizer steps; accelerate must not step it once per process.
            step_scheduler_with_optimizer=False,
        )
        launched = int(os.environ.get("WORLD_SIZE", "1"))
        if launched > accelerator.num_processes:
            raise RuntimeError(
                f"launched as {launched} processes, but accelerate sees {accelerator.num_processes}: every process "
                "would train alone. On CPUs set ACCELERATE_USE_CPU=1 (or use `accelerate launch --cpu`)"
            )
        if accelerator.is_main_process:
            prepare_out_dir(self.out, resume=self.resume)
            self.out.mkdir(parents=True, exist_ok=True)
            config.save(self.out)
        accelerator.wait_for_everyone()
        set_seed(config.seed)

        model_path, tokenizer = self._model_and_tokenizer()
        self.model_path = model_path
        data = prepare_run_data(config, tokenizer, accelerator, reuse=self.resume and has_data(self.out))
        self.say(data.summary)

        model = self._load_model(model_path, tokenizer)
        trainable = [p for p in model.parameters() if p.requires_grad]
        # ZeRO-3 builds the model already sharded: a parameter's own numel is then 0, ds_numel is its size.
        self.trainable_parameters = sum(getattr(p, "ds_numel", p.numel()) for p in trainable)
        self.total_parameters = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
        lengths = [len(e.input_ids) for e in data.train]
        n_batches = len(epoch_batches(lengths, config.batch_size, seed=config.seed, epoch=0))
        per_epoch = steps_per_epoch(n_batches, accelerator.num_processes, config.grad_accum)
        total_steps = config.max_steps or config.epochs * per_epoch
        self.warmup_steps = config.warmup_steps if config.warmup_steps is not None else \
            round(WARMUP_SHARE * total_steps)

        optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
        from transformers import get_cosine_schedule_with_warmup

        scheduler = get_cosine_schedule_with_warmup(optimizer, self.warmup_steps, total_steps)
        self._fill_deepspeed_batch_size()
        model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
        if not config.full:
            save_adapter_instead_of_model(accelerator)

        store = CheckpointStore(self.out, keep=config.keep_checkpoints)
        state = self._restore(store, total_steps)

        stop_ids = set() if config.chat_shaped else \
            end_token_ids(accelerator.unwrap_model(model), tokenizer, _template(data.template))
        eval_set = select_examples(data.eval, config.eval_limit, config.seed) if config.run_eval else []
        if config.run_eval and not eval_set:
            self.say("no held-out examples (the repository is too small, or --holdout 0): evaluation skipped")
        eval_before = self._eval_before(model, tokenizer, eval_set, stop_ids, len(data.eval))

        self.say(f"training: {total_steps} steps ({per_epoch} per epoch), {self.trainable_parameters:,} trainable "
                 f"parameters, {self.precision.name} ({self.precision.reason})")
        self._train_loop(model, optimizer, scheduler, data, lengths, state, store, until_step, tokenizer)
        finished = state.step >= total_steps

        eval_after = None
        merged = None
        if finished:
            self._save_final(model, tokenizer)
            eval_after = self._eval_after(model, tokenizer, eval_set, stop_ids, len(data.eval), eval_before)
        self._write_outputs(state, data, eval_before, eval_after)
        if finished and (config.merge or self.added_tokens) and not config.full and accelerator.is_main_process:
            self.say(f"merging the adapter into {model_path} ...")
            merged = merge_adapter(model_path, self.out, self.out / MERGED_SUBDIR)
            self.say(f"merged model: {merged}")
            self._write_outputs(state, data, eval_before, eval_after, merged=merged)
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return TrainResult(self.out, state, finished, eval_before, eval_after, merged)

    # --- pieces ------------------------------------------------------------

    def _model_and_tokenizer(self) -> tuple[str, Any]:
        from transformers import AutoTokenizer

        from codefill.model.weights.resolve import resolve_model

        # The main process prepares (assembles, converts) the model once; the others find it ready.
        with self.accelerator.main_process_first():
            resolved = resolve_model(self.config.model, progress=self.config.progress)
        tokenizer = AutoTokenizer.from_pretrained(resolved.path_or_id)
        if self.config.instruct:
            from codefill.jobs.training.chat_examples import ensure_chat_template

            self.added_tokens = ensure_chat_template(tokenizer)
            if self.added_tokens:
                self.say(f"the tokenizer has no chat template: using ChatML's, with {', '.join(self.added_tokens)} "
                         "added as special tokens (the embeddings grow to match)")
        return resolved.path_or_id, tokenizer

    def _load_model(self, model_path: str, tokenizer: Any) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        config = self.config
        # Weights that train are float32 (bf16 runs compute in bf16 through autocast); a frozen LoRA base
        # may be stored in bf16, which halves its memory.
        dtype = torch.float32 if config.full else self.precision.frozen_weights_dtype()
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        new_token_ids: list[int] = []
        if self.added_tokens:
            from codefill.jobs.training.chat_examples import resize_for_tokenizer

            resize_for_tokenizer(model, tokenizer)
            new_token_ids = tokenizer.convert_tokens_to_ids(self.added_tokens)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        if config.full:
            model.train()
            return model
        from peft import get_peft_model

        settings = config.lora_settings()
        check_target_modules(model, settings.target_modules)
        # Added tokens start untrained: their embedding rows (and the tied head's) train beside the adapter.
        model = get_peft_model(model, peft_lora_config(settings, trainable_token_ids=new_token_ids))
        model.train()
        return model

    def _fill_deepspeed_batch_size(self) -> None:
        """DeepSpeed wants the micro-batch size in its config; it cannot read it from our batch sampler."""
        plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
        if plugin is None:
            return
        ds = plugin.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
            ds["train_micro_batch_size_per_gpu"] = self.config.batch_size
        if ds.get("gradient_accumulation_steps", "auto") == "auto":
            ds["gradient_accumulation_steps"] = self.config.grad_accum
        if ds.get("gradient_clipping", "auto") == "auto":
            ds["gradient_clipping"] = self.config.max_grad_norm
        if ds.get("train_batch_size") == "auto":
            del ds["train_batch_size"]  # DeepSpeed derives it from the two above and the world size

    def _restore(self, store: CheckpointStore, total_steps: int) -> TrainerState:
        """The latest checkpoint's state (weights, optimizer, scheduler, RNG restored), or a fresh one."""
        accelerator = self.accelerator
        if accelerator.is_main_process:
            store.clear_partial()
        accelerator.wait_for_everyone()
        latest = store.latest() if self.resume else None
        if latest is None:
            if self.resume:
                self.say("no checkpoint was finished before the interruption; starting from step 0")
            return TrainerState(total_steps=total_steps)
        accelerator.load_state(str(latest))
        state = read_state(latest)
        if state.total_steps != total_steps:
            raise ValueError(f"the checkpoint {latest} belongs to a run of {state.total_steps} steps, but this "
                             f"one has {total_steps} (was the data or the number of processes changed?)")
        state.resumed_from.append(state.step)
        self.say(f"resuming from step {state.step} of {total_steps} ({latest})")
        return state

    def _eval_after(self, model: Any, tokenizer: Any, eval_set: list, stop_ids: set[int], held_out: int,
                    eval_before: EvalResult | None) -> EvalResult | None:
        if not eval_set:
            return None
        result = evaluate(model, tokenizer, eval_set, stop_ids=stop_ids, batch_size=self.config.eval_batch_size,
                          label="after", held_out_examples=held_out, accelerator=self.accelerator,
                          show_progress=self.config.progress, generate=not self.config.chat_shaped)
        if self.accelerator.is_main_process:
            result.write(self.out / EVAL_AFTER)
            title = f"codefill train: {Path(self.config.repo).name}"
            (self.out / EVAL_TABLE).write_text(comparison_markdown(eval_before, result, title), encoding="utf-8")
        self.say(f"after training: {self._scores(result)} ({result.seconds:.0f} s)")
        return result

    def _eval_before(self, model: Any, tokenizer: Any, eval_set: list, stop_ids: set[int],
                     held_out: int) -> EvalResult | None:
        if not eval_set:
            return None
        path = self.out / EVAL_BEFORE
        if path.is_file():
            return EvalResult.read(path)
        result = evaluate(model, tokenizer, eval_set, stop_ids=stop_ids, batch_size=self.config.eval_batch_size,
                          label="before", held_out_examples=held_out, accelerator=self.accelerator,
                          show_progress=self.config.progress, generate=not self.config.chat_shaped)
        if self.accelerator.is_main_process:
            result.write(path)
        self.say(f"before training: {self._scores(result)} on {result.n} held-out examples ({result.seconds:.0f} s)")
        return result

    def _scores(self, result: EvalResult) -> str:
        if self.config.next_edit:
            return f"rewritten-window loss {result.mean_loss:.3f}"
        if self.config.instruct:
            return f"assistant-turn loss {result.mean_loss:.3f}"
        return f"exact match {100 * result.exact_match:.1f}%, middle loss {result.mean_loss:.3f}"

    def _train_loop(self, model: Any, optimizer: Any, scheduler: Any, data: RunData, lengths: list[int],
                    state: TrainerState, store: CheckpointStore, until_step: int | None, tokenizer: Any) -> None:
        import torch
        from accelerate.data_loader import prepare_data_loader, skip_first_batches
        from torch.utils.data import DataLoader

        config, accelerator = self.config, self.accelerator
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        bar = None
        if config.progress and accelerator.is_main_process:
            from tqdm import tqdm

            bar = tqdm(total=state.total_steps, initial=state.step, desc="training", unit="step", file=sys.stderr,
                       dynamic_ncols=True)
        model.train()
        group_loss = torch.zeros((), device=accelerator.device)
        group_tokens = torch.zeros((), device=accelerator.device, dtype=torch.long)
        clock = time.perf_counter()
        try:
            while state.step < state.total_steps and (until_step is None or state.step < until_step):
                batches = epoch_batches(lengths, config.batch_size, seed=config.seed, epoch=state.epoch)
                # A generator of its own: creating the iterator would otherwise draw from the global RNG, and
                # a resumed run (which creates it mid-epoch) would see other dropout masks than an unbroken one.
                loader = DataLoader(data.train, batch_sampler=ExampleBatches(batches),
                                    collate_fn=partial(collate, pad_id=pad_id),
                                    generator=torch.Generator().manual_seed(config.seed + state.epoch))
                loader = prepare_data_loader(loader, accelerator.device, num_processes=accelerator.num_processes,
                                             process_index=accelerator.process_index, put_on_device=True)
                if state.batches_done:
                    loader = skip_first_batches(loader, state.batches_done)
                for batch in loader:
                    with accelerator.accumulate(model):
                        loss_sum, tokens = middle_loss_sum(model, batch)
                        accelerator.backward(loss_sum / tokens.clamp(min=1))
                        if accelerator.sync_gradients and config.max_grad_norm > 0:
                            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
                    state.batches_done += 1
                    group_loss += loss_sum.detach().float()
                    group_tokens += tokens
                    if not accelerator.sync_gradients:
                        continue
                    scheduler.step()
                    state.step += 1
                    loss_total = accelerator.reduce(group_loss, reduction="sum").item()
                    token_total = int(accelerator.reduce(group_tokens, reduction="sum").item())
                    group_loss.zero_()
                    group_tokens.zero_()
                    now = time.perf_counter()
                    state.seconds += now - clock
                    clock = now
                    loss = loss_total / max(token_total, 1)
                    lr = scheduler.get_last_lr()[0]
                    state.tokens += token_total
                    state.losses.append({"step": state.step, "loss": round(loss, 5), "lr": lr})
                    if bar is not None:
                        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}", refresh=False)
                        bar.update(1)
                    if state.step % config.save_every == 0 or state.step == state.total_steps or \
                            state.step == until_step:
                        self._checkpoint(state, store)
                        clock = time.perf_counter()  # saving is not training time
                    if state.step >= state.total_steps or state.step == until_step:
                        break
                else:
                    state.epoch += 1
                    state.batches_done = 0
        finally:
            if bar is not None:
                bar.close()


def _template(name: str) -> Any:
    from codefill.model.templates.fim import get_fim_template

    return get_fim_template(name)


__all__ = ["REPORT_JSON", "TrainResult", "Trainer", "prepare_out_dir", "steps_per_epoch"]
