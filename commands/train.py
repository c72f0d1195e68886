"""`codefill train REPO --out DIR`: fine-tune the model on a repository, evaluate before and after.

Every option defaults to None here, so a `--resume` can tell what was given
again on the command line (and must agree with the saved run) from what was
left out (taken from the saved run).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from codefill.jobs.training.lora_config import DEFAULT_TARGET_MODULES
from codefill.jobs.training.train_config import DEFAULT_FULL_LR, DEFAULT_LORA_LR, TrainConfig

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
}

EPILOG = """\
examples:
  codefill train ./my-repo --out adapters/my-repo
  codefill serve --lora my-repo=adapters/my-repo

  # a run that was interrupted continues at its last checkpoint
  codefill train ./my-repo --out adapters/my-repo --resume

  # instruction tuning on chat data that `codefill data instruct` wrote
  codefill train data/my-repo-instruct.jsonl --instruct --out adapters/my-repo-chat
  codefill serve --lora my-repo-chat=adapters/my-repo-chat

  # several GPUs (accelerate's own launcher; DeepSpeed ZeRO-3 or FSDP configs ship with codefill)
  accelerate launch --config_file jobs/training/configs/deepspeed_zero3.yaml \\
      -m codefill.commands.cli train ./my-repo --out adapters/my-repo --model Qwen/Qwen2.5-Coder-7B
"""


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune the model on a repository (LoRA or full), with a before/after evaluation",
        description="Cut fill-in-the-middle examples from a git repository, hold out whole files, fine-tune "
                    "(LoRA by default) with checkpoints, and score exact match and middle loss on the held-out "
                    "files before and after. The adapter is served with `codefill serve --lora NAME=DIR`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("repo", metavar="REPO_OR_DATA",
                   help="the repository to learn from (a git checkout: .gitignore is honoured); with --instruct, "
                        "a JSON Lines file of chat messages")
    p.add_argument("--instruct", action="store_true", default=None,
                   help="supervised fine-tuning on dialogues ({\"messages\": [...]} per line) with the model's chat "
                        "template, the loss on the assistant turns only")
    p.add_argument("--out", required=True, help="folder for the adapter, checkpoints, data and reports")
    p.add_argument("--model", default=None, help="base model as for `serve` (default: the embedded model)")
    p.add_argument("--fim-template", default=None, help="FIM prompt family (default: detected from the tokenizer)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")

    g = p.add_argument_group("what is trained")
    g.add_argument("--full", action="store_true", default=None, help="full fine-tune instead of LoRA")
    g.add_argument("--lora-rank", type=int, default=None, help="LoRA rank (default 16)")
    g.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default 32)")
    g.add_argument("--lora-dropout", type=float, default=None, help="LoRA dropout (default 0.05)")
    g.add_argument("--lora-targets", type=_names, default=None,
                   help=f"comma-separated layer names LoRA adapts (default {','.join(DEFAULT_TARGET_MODULES)})")

    g = p.add_argument_group("schedule")
    g.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate (default {DEFAULT_LORA_LR:g} for LoRA, {DEFAULT_FULL_LR:g} full)")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training examples (default 1)")
    g.add_argument("--max-steps", type=int, default=None, help="optimizer steps; overrides --epochs")
    g.add_argument("--batch-size", type=int, default=None, help="examples per micro-batch and process (default 4)")
    g.add_argument("--grad-accum", type=int, default=None, help="micro-batches per optimizer step (default 1)")
    g.add_argument("--warmup-steps", type=int, default=None, help="linear warmup (default 5%% of the steps)")
    g.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (default 0)")
    g.add_argument("--max-grad-norm", type=float, default=None, help="gradient clipping (default 1; 0: off)")
    g.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None,
                   help="auto: bf16 where the hardware has it (CUDA, or a CPU with AVX512-BF16/AMX), else fp32")
    g.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                   help="recompute activations in the backward pass: less memory, ~30%% more time (default on)")

    g = p.add_argument_group("data")
    g.add_argument("--seq-len", type=int, default=None, help="tokens per example (default 2048)")
    g.add_argument("--fim-rate", type=float, default=None, help="share of FIM examples, rest plain text (default 0.9)")
    g.add_argument("--holdout", type=float, default=None, help="share of files held out for evaluation (default 0.1)")
    g.add_argument("--seed", type=int, default=None, help="seed of the split, the cuts and the order (default 0)")
    g.add_argument("--max-examples-per-file", type=int, default=None, help="default 64")
    g.add_argument("--no-decontaminate", dest="decontaminate", action="store_false", default=None,
                   help="keep files that contain HumanEval/MBPP problems")

    g = p.add_argument_group("checkpoints, evaluation, output")
    g.add_argument("--save-every", type=int, default=None, help="checkpoint every N optimizer steps (default 50)")
    g.add_argument("--keep-checkpoints", type=int, default=None, help="checkpoints kept (default 2)")
    g.add_argument("--eval-limit", type=int, default=None, metavar="N",
                   help="score N held-out examples (drawn with the seed) instead of all of them")
    g.add_argument("--eval-batch-size", type=int, default=None, help="examples generated together (default 8)")
    g.add_argument("--no-eval", dest="run_eval", action="store_false", default=None,
                   help="skip the before/after evaluation")
    g.add_argument("--merge", action="store_true", default=None,
                   help="also write DIR/merged: the base model with the adapter folded in (serve with --model)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_train)


def _names(value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one layer, e.g. q_proj,v_proj")
    return names


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


def run_train(args: argparse.Namespace) -> int:
    import logging

    from codefill.jobs.training.trainer import Trainer

    # accelerate logs every file of every checkpoint at INFO; the progress bar already says what happens.
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    config = config_from_args(args)
    command = "codefill " + " ".join(shlex.quote(a) for a in getattr(args, "argv", []) or sys.argv[1:])
    trainer = Trainer(config, resume=args.resume, command=command)
    result = trainer.run()
    if not trainer.accelerator.is_main_process:
        return 0
    out = result.out_dir
    print(f"trained {result.state.step} steps in {result.state.seconds:.0f} s; report: {out / 'train-report.md'}")
    if result.eval_before and result.eval_after:
        b, a = result.eval_before, result.eval_after
        if config.instruct:
            print(f"held-out assistant-turn loss {b.mean_loss:.3f} -> {a.mean_loss:.3f} on {a.n} dialogues")
        else:
            print(f"held-out FIM exact match {100 * b.exact_match:.1f}% -> {100 * a.exact_match:.1f}% "
                  f"({100 * (a.exact_match - b.exact_match):+.1f} points); middle loss {b.mean_loss:.3f} -> "
                  f"{a.mean_loss:.3f} on {a.n} examples")
    name = Path(config.repo).stem if config.instruct else Path(config.repo).name
    model_flag = f" --model {config.model}" if config.model else ""
    if config.full:
        print(f"serve it: codefill serve --model {out}")
    elif trainer.added_tokens:
        print(f"the adapter adds tokens ({', '.join(trainer.added_tokens)}), which multi-LoRA serving cannot; "
              f"serve the merged model: codefill serve --model {out / 'merged'}")
    else:
        print(f"serve it: codefill serve{model_flag} --lora {name}={out}")
    if result.merged is not None:
        print(f"merged model: codefill serve --model {result.merged}")
    return 0
