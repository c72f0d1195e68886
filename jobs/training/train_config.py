"""The settings of one training run, saved with it so `--resume` continues the same run.

A resumed run takes its settings from the saved file. Options given again on
the command line must agree with it where they shape the result (the data,
the model, the schedule, the evaluation subset); the few that only say how
the run is carried out (how often to checkpoint, evaluation batch size,
merging at the end) may change.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from codefill.jobs.training.lora_config import DEFAULT_TARGET_MODULES, LoraSettings
from codefill.jobs.training.split import DEFAULT_HOLDOUT_FRACTION

CONFIG_FILE = "train-config.json"
DEFAULT_LORA_LR = 2e-4
DEFAULT_FULL_LR = 1e-5

# May differ between a run and its resumption.
RESUMABLE_CHANGES = frozenset({
    "save_every", "keep_checkpoints", "eval_batch_size", "merge", "progress", "run_eval",
})


@dataclass(frozen=True)
class TrainConfig:
    repo: str  # the repository; with `instruct`, the JSON Lines file of chat messages
    out: str
    model: str | None = None  # as the user named it (None: the embedded model)
    fim_template: str | None = None  # None: detected from the tokenizer, as the server does
    full: bool = False  # full fine-tune instead of LoRA
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = DEFAULT_TARGET_MODULES
    lr: float | None = None  # None: DEFAULT_LORA_LR or DEFAULT_FULL_LR
    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 4  # examples per micro-batch (per process)
    grad_accum: int = 1  # micro-batches per optimizer step
    seq_len: int = 2048
    fim_rate: float = 0.9
    holdout: float = DEFAULT_HOLDOUT_FRACTION
    seed: int = 0
    warmup_steps: int | None = None  # None: 5% of the steps
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    precision: str = "auto"  # auto | bf16 | fp32
    gradient_checkpointing: bool = True
    decontaminate: bool = True
    max_examples_per_file: int = 64
    save_every: int = 50  # optimizer steps between checkpoints
    keep_checkpoints: int = 2
    run_eval: bool = True
    eval_limit: int | None = None  # held-out examples scored before and after (None: all)
    eval_batch_size: int = 8
    merge: bool = False
    # Supervised fine-tuning on chat dialogues (`codefill data instruct` writes them) instead of FIM.
    instruct: bool = False
    # Next-edit examples from the repository's git history (`jobs/next_edit_data`) instead of FIM.
    next_edit: bool = False
    max_commits: int | None = None  # next edit: the newest commits read (None: DEFAULT_MAX_COMMITS)
    max_examples: int | None = None  # next edit: training examples kept, a seeded sample (None: all)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def __post_init__(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                    "seq_len": self.seq_len, "save_every": self.save_every, "eval_batch_size": self.eval_batch_size}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"--eval-limit must be at least 1, got {self.eval_limit}")
        if self.seq_len < 64:
            raise ValueError(f"--seq-len {self.seq_len} leaves no room for a prompt and a middle; use at least 64")
        if not 0 <= self.fim_rate <= 1:
            raise ValueError(f"--fim-rate must be in [0, 1], got {self.fim_rate}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.instruct and self.next_edit:
            raise ValueError("--instruct and --next-edit are two kinds of training; choose one")
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"--max-examples must be at least 1, got {self.max_examples}")
        if self.max_commits is not None and self.max_commits < 1:
            raise ValueError(f"--max-commits must be at least 1, got {self.max_commits}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"--keep-checkpoints must be at least 1, got {self.keep_checkpoints}")
        if not self.full:
            self.lora_settings()  # validates rank, alpha, dropout

    @property
    def chat_shaped(self) -> bool:
        """Trained on chat-rendered prompts and answers, scored by held-out answer loss, not FIM generation."""
        return self.instruct or self.next_edit

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return DEFAULT_FULL_LR if self.full else DEFAULT_LORA_LR

    def lora_settings(self) -> LoraSettings:
        return LoraSettings(rank=self.lora_rank, alpha=self.lora_alpha, dropout=self.lora_dropout,
                            target_modules=tuple(self.lora_targets))

    # --- files --------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["lora_targets"] = list(self.lora_targets)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(**values)

    def save(self, out_dir: str | os.PathLike[str]) -> Path:
        path = Path(out_dir) / CONFIG_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> TrainConfig:
        return cls.from_json(json.loads((Path(out_dir) / CONFIG_FILE).read_text(encoding="utf-8")))

    # --- resuming -----------------------------------------------------------

    def resumed_with(self, given: dict[str, Any]) -> TrainConfig:
        """This saved run with the options given again on the command line; conflicts are an error."""
        conflicts = []
        allowed: dict[str, Any] = {}
        for name, value in given.items():
            saved = getattr(self, name)
            if name == "lora_targets":
                value = tuple(value)
            if name in RESUMABLE_CHANGES:
                allowed[name] = value
            elif value != saved and not _same_path(name, value, saved):
                conflicts.append(f"--{name.replace('_', '-')} {value} (the run has {saved})")
        if conflicts:
            raise ValueError("--resume continues the saved run, but these options differ from it: "
                             + "; ".join(conflicts) + ". Drop them, or start a new run with another --out")
        return replace(self, **allowed)


def _same_path(name: str, a: Any, b: Any) -> bool:
    if name not in ("repo", "out") or a is None or b is None:
        return False
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
