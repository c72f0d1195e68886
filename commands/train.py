"""`codefill train REPO --out DIR`: fine-tune the model on a repository, evaluate before and after.

Every option defaults to None here, so a `--resume` can tell what was given
again on the command line (and must agree with the saved run) from what was
left out (taken from the saved run).
"""

from __future__ import annotations

import argparse

from codefill.jobs.training.lora_config import DEFAULT_TARGET_MODULES
from codefill.jobs.training.train_config import DEFAULT_FULL_LR, DEFAULT_LORA_LR

EPILOG = """\
examples:
  codefill train ./my-repo --out adapters/my-repo
  codefill serve --lora my-repo=adapters/my-repo

  # a run that was interrupted continues at its last checkpoint
  codefill train ./my-repo --out adapters/my-repo --resume

  # instruction tuning on chat data that `codefill data instruct` wrote
  codefill train data/my-repo-instruct.jsonl --instruct --out adapters/my-repo-chat
  codefill serve --lora my-repo-chat=adapters/my-repo-chat

  # next-edit suggestions from the repository's own history, then scored on its held-out commits
  codefill train ./my-repo --next-edit --out adapters/my-repo-next-edit
  codefill serve --lora my-repo-next-edit=adapters/my-repo-next-edit
  codefill eval next-edit --url http://127.0.0.1:8000 --repo ./my-repo --model my-repo-next-edit

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

    p.add_argument("--next-edit", action="store_true", default=None,
                   help="train next-edit suggestions (`/v1/next_edit`) on the repository's git history instead of "
                        "FIM: earlier hunks of a commit are the edit events, the window at the cursor rewritten "
                        "with the later ones is the target; commits are held out whole")
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
    g.add_argument("--max-commits", type=int, default=None,
                   help="--next-edit: the newest commits read (default 2000)")
    g.add_argument("--max-examples", type=int, default=None,
                   help="--next-edit: training examples kept, a seeded sample, half of them no-edit (default all)")
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


def run_train(args: argparse.Namespace) -> int:
    from codefill.jobs.training.train_run import train

    said = train(args)
    if said is not None:
        print(said)
    return 0
