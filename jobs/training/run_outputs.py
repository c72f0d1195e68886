"""What a training run writes as it goes and at its end: checkpoints, the trained weights, the loss
plot and the report (`RunOutputs`, a part of `codefill.jobs.training.trainer.Trainer`).

Apart from the trainer because none of it trains: it saves and describes the state the loop left.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from codefill.jobs.training.checkpoints import CheckpointStore, TrainerState
from codefill.jobs.training.eval_results import EVAL_AFTER, EVAL_BEFORE, EVAL_TABLE, EvalResult
from codefill.jobs.training.loss_plot import LOSS_PLOT, write_loss_plot
from codefill.jobs.training.run_data import RunData
from codefill.jobs.training.train_report import build_report, write_report

log = logging.getLogger("codefill.train")


class RunOutputs:
    """The Trainer's saving and reporting; it reads the attributes `Trainer.run` sets."""

    accelerator: Any
    config: Any
    out: Path

    def _checkpoint(self, state: TrainerState, store: CheckpointStore) -> None:
        accelerator = self.accelerator
        partial_dir = store.partial_path(state.step)
        accelerator.save_state(str(partial_dir))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            store.finish(state.step, state)
            self._plot(state)
        accelerator.wait_for_everyone()

    def _save_final(self, model: Any, tokenizer: Any) -> None:
        """The adapter (or, with --full, the whole model and its tokenizer) at the top of --out."""
        accelerator = self.accelerator
        state_dict = accelerator.get_state_dict(model)  # collective under ZeRO-3 / FSDP: every process calls it
        unwrapped = accelerator.unwrap_model(model)
        if self.config.full:
            # Saved as trained (float32): rounding to a bf16 base's dtype would undo small updates.
            unwrapped.save_pretrained(str(self.out), state_dict=state_dict, is_main_process=accelerator.is_main_process,
                                      save_function=accelerator.save)
            if accelerator.is_main_process:
                tokenizer.save_pretrained(str(self.out))
        else:
            unwrapped.save_pretrained(str(self.out), state_dict=state_dict, is_main_process=accelerator.is_main_process)
            if self.added_tokens and accelerator.is_main_process:
                tokenizer.save_pretrained(str(self.out))  # the merge needs the grown vocabulary
        accelerator.wait_for_everyone()

    def _plot(self, state: TrainerState, eval_before: EvalResult | None = None,
              eval_after: EvalResult | None = None) -> None:
        mode = "full" if self.config.full else f"LoRA r{self.config.lora_rank}"
        write_loss_plot(
            self.out / LOSS_PLOT, [e["step"] for e in state.losses], [e["loss"] for e in state.losses],
            title=f"codefill train {Path(self.config.repo).name}: {mode}, lr {self.config.learning_rate:g}",
            eval_before=eval_before.mean_loss if eval_before else None,
            eval_after=eval_after.mean_loss if eval_after else None,
            resumed_at=state.resumed_from,
        )

    def _write_outputs(self, state: TrainerState, data: RunData, eval_before: EvalResult | None,
                       eval_after: EvalResult | None, merged: Path | None = None) -> None:
        if not self.accelerator.is_main_process:
            return
        self._plot(state, eval_before, eval_after)
        outputs = {"folder": str(self.out), "loss_plot": str(self.out / LOSS_PLOT),
                   "checkpoints": str(self.out / "checkpoints")}
        if state.step >= state.total_steps:
            outputs["model" if self.config.full else "adapter"] = str(self.out)
        if eval_before:
            outputs["eval_before"] = str(self.out / EVAL_BEFORE)
        if eval_after:
            outputs["eval_after"] = str(self.out / EVAL_AFTER)
            outputs["eval_table"] = str(self.out / EVAL_TABLE)
        if merged is not None:
            outputs["merged_model"] = str(merged)
        run = {
            "command": self.command,
            "model_path": self.model_path,
            "template": data.template,
            "device": str(self.accelerator.device),
            "processes": self.accelerator.num_processes,
            "distributed": str(self.accelerator.distributed_type),
            "precision": self.precision.name,
            "precision_reason": self.precision.reason,
            "learning_rate": self.config.learning_rate,
            "warmup_steps": self.warmup_steps,
            "trainable_parameters": self.trainable_parameters,
            "total_parameters": self.total_parameters,
        }
        report = build_report(config=self.config.to_json(), run=run, data=data.report, state=state,
                              eval_before=eval_before, eval_after=eval_after, outputs=outputs)
        json_path, _ = write_report(self.out, report, eval_before, eval_after)
        log.info("report: %s", json_path)
