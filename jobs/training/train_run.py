"""The work of `codefill train` (`codefill.commands.train`): the run's settings from the command line (a
`--resume` checked against the saved run), the training, and the lines said at its end."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from codefill.jobs.training.train_config import TrainConfig

# argparse dest -> TrainConfig field, for the options that map one to one.
_FIELDS = {
    "model": "model", "fim_template": "fim_template", "full": "full", "lora_rank": "lora_rank",
    "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout", "lora_targets": "lora_targets", "lr": "lr",
    "epochs": "epochs", "max_steps": "max_steps", "batch_size": "batch_size", "grad_accum": "grad_accum",
    "seq_len": "seq_len", "fim_rate": "fim_rate", "holdout": "holdout", "seed": "seed",
    "warmup_steps": "warmup_steps", "weight_decay": "weight_decay", "max_grad_norm": "max_grad_norm",
    "precision": "precision", "gradient_checkpointing": "gradient_checkpointing",
    "decontaminate": "decontaminate", "max_examples_per_file": "max_examples_per_file",
    "save_every": "save_every", "keep_checkpoints": "keep_checkpoints", "eval_limit": "eval_limit",
    "eval_batch_size": "eval_batch_size", "run_eval": "run_eval", "merge": "merge", "instruct": "instruct",
    "next_edit": "next_edit", "max_commits": "max_commits", "max_examples": "max_examples",
}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    given: dict[str, Any] = {field: getattr(args, dest) for dest, field in _FIELDS.items()
                             if getattr(args, dest) is not None}
    repo = Path(args.repo).expanduser()
    out = str(Path(args.out).expanduser().resolve())
    saved: TrainConfig | None = None
    if args.resume:
        from codefill.jobs.training.train_config import CONFIG_FILE

        if not (Path(out) / CONFIG_FILE).is_file():
            raise ValueError(f"--resume: {out} holds no training run ({CONFIG_FILE} is missing); "
                             "start one without --resume")
        saved = TrainConfig.load(out)
    # A resumed run is --instruct when the saved one was, unless the command line says otherwise.
    instruct = bool(args.instruct) if args.instruct is not None or saved is None else saved.instruct
    if instruct and not repo.is_file():
        raise ValueError(f"--instruct trains on a JSON Lines file of chat messages (`codefill data instruct` "
                         f"writes one); {args.repo} is not a file")
    if not instruct and not repo.is_dir():
        hint = "; for chat data add --instruct" if repo.is_file() and repo.suffix in (".jsonl", ".json") else ""
        raise ValueError(f"{args.repo} is not a folder; pass the repository to train on{hint}")
    if saved is not None:
        config = saved.resumed_with({"repo": str(repo.resolve()), **given})
    else:
        config = TrainConfig(repo=str(repo.resolve()), out=out, **given)
    from dataclasses import replace

    return replace(config, progress=not args.no_progress)


def train(args: argparse.Namespace) -> str | None:
    """Run `codefill train`; what was trained and how to serve it (None on processes other than the main one)."""
    import logging

    from codefill.jobs.training.trainer import Trainer

    # accelerate logs every file of every checkpoint at INFO; the progress bar already says what happens.
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    config = config_from_args(args)
    command = "codefill " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []) or sys.argv[1:])
    trainer = Trainer(config, resume=args.resume, command=command)
    result = trainer.run()
    if not trainer.accelerator.is_main_process:
        return None
    out = result.out_dir
    lines = [f"trained {result.state.step} steps in {result.state.seconds:.0f} s; report: {out / 'train-report.md'}"]
    if result.eval_before and result.eval_after:
        b, a = result.eval_before, result.eval_after
        if config.next_edit:
            lines.append(f"held-out rewritten-window loss {b.mean_loss:.3f} -> {a.mean_loss:.3f} on {a.n} cases")
        elif config.instruct:
            lines.append(f"held-out assistant-turn loss {b.mean_loss:.3f} -> {a.mean_loss:.3f} on {a.n} dialogues")
        else:
            lines.append(f"held-out FIM exact match {100 * b.exact_match:.1f}% -> {100 * a.exact_match:.1f}% "
                         f"({100 * (a.exact_match - b.exact_match):+.1f} points); middle loss {b.mean_loss:.3f} -> "
                         f"{a.mean_loss:.3f} on {a.n} examples")
    name = Path(config.repo).stem if config.instruct else Path(config.repo).name
    model_flag = f" --model {config.model}" if config.model else ""
    if config.full:
        lines.append(f"serve it: codefill serve --model {out}")
    elif trainer.added_tokens:
        lines.append(f"the adapter adds tokens ({', '.join(trainer.added_tokens)}), which multi-LoRA serving "
                     f"cannot; serve the merged model: codefill serve --model {out / 'merged'}")
    else:
        lines.append(f"serve it: codefill serve{model_flag} --lora {name}={out}")
    if config.next_edit and not config.full and not trainer.added_tokens:
        lines.append(f"score it on the held-out commits: codefill eval next-edit --url URL --repo {config.repo} "
                     f"--models {name} --seed {config.seed} --holdout {config.holdout:g}")
    if result.merged is not None:
        lines.append(f"merged model: codefill serve --model {result.merged}")
    return "\n".join(lines)
