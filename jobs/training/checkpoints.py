"""Checkpoints a run can be resumed from: weights, optimizer, scheduler, RNG and data position.

accelerate's `save_state` writes the optimizer, scheduler and every
process's RNG states, and knows how DeepSpeed and FSDP shard them. Under
LoRA, the weights it would save are the whole base model; the hooks below
save the adapter instead (a few megabytes, and a folder `serve --lora` takes
as it is) and load it back. What accelerate does not know, the step, the
epoch and how many batches of it are done, the loss history, goes into
`trainer_state.json`.

A checkpoint is written under a hidden temporary name and renamed when
complete, so a run killed while saving leaves no half checkpoint to resume
from; `latest()` only ever sees finished ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "trainer_state.json"
ADAPTER_SUBDIR = "adapter"
_NAME = re.compile(r"step-(\d+)")


@dataclass
class TrainerState:
    step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch in progress
    batches_done: int = 0  # micro-batches of this epoch already trained on (per process)
    total_steps: int = 0
    tokens: int = 0  # labelled tokens trained on
    seconds: float = 0.0  # training time, summed over the run's sessions
    losses: list[dict[str, float]] = field(default_factory=list)  # {"step", "loss", "lr"} per optimizer step
    resumed_from: list[int] = field(default_factory=list)  # steps this run was resumed at

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainerState:
        return cls(**data)


class CheckpointStore:
    """`<out>/checkpoints/step-000050/`, newest last."""

    def __init__(self, out_dir: str | os.PathLike[str], keep: int = 2) -> None:
        self.root = Path(out_dir) / "checkpoints"
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.root / f"step-{step:06d}"

    def partial_path(self, step: int) -> Path:
        return self.root / f".step-{step:06d}.partial"

    def complete(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir() if _NAME.fullmatch(p.name) and (p / STATE_FILE).is_file()]
        return sorted(found, key=lambda p: int(_NAME.fullmatch(p.name).group(1)))  # type: ignore[union-attr]

    def latest(self) -> Path | None:
        done = self.complete()
        return done[-1] if done else None

    def clear_partial(self) -> None:
        """Remove what a run killed while saving left behind (main process only)."""
        if self.root.is_dir():
            for p in self.root.glob(".step-*.partial"):
                shutil.rmtree(p, ignore_errors=True)

    def finish(self, step: int, state: TrainerState) -> Path:
        """Write the state file last, rename into place, drop the oldest beyond `keep` (main process only)."""
        partial = self.partial_path(step)
        write_state(partial, state)
        final = self.path(step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        for old in self.complete()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final


def write_state(folder: Path, state: TrainerState) -> None:
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / STATE_FILE)


def read_state(folder: Path) -> TrainerState:
    return TrainerState.from_json(json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))


def save_adapter_instead_of_model(accelerator: Any) -> None:
    """Make `save_state`/`load_state` keep the LoRA adapter, not the frozen base model's weights.

    Only where accelerate itself saves plain state dicts: DeepSpeed and FSDP
    save their own shards, and there these hooks must stay out of the way.
    """
    from accelerate.utils import DistributedType

    if accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP):
        return

    def save_hook(models: list[Any], weights: list[dict[str, Any]], output_dir: str) -> None:
        if not weights:
            return
        if accelerator.is_main_process:
            accelerator.unwrap_model(models[0]).save_pretrained(os.path.join(output_dir, ADAPTER_SUBDIR))
        weights.pop(0)

    def load_hook(models: list[Any], input_dir: str) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        if not models:
            return
        model = models.pop(0)
        weights = load_file(os.path.join(input_dir, ADAPTER_SUBDIR, "adapter_model.safetensors"))
        result = set_peft_model_state_dict(accelerator.unwrap_model(model), weights)
        if result.unexpected_keys:
            raise ValueError(f"the checkpoint's adapter does not fit this model: unexpected weights "
                             f"{', '.join(result.unexpected_keys[:3])}")

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)
