#!/usr/bin/env bash
# `codefill train` on a real repository we did not write: rich 15.0.0, as its wheel ships it on PyPI.
#   benchmarks/run_train_rich.sh [OUT_DIR] [extra codefill train options]
# Builds a git repository from the wheel's `rich/` package (pip download, no install), trains a
# LoRA adapter on the embedded model with a schedule that fits about 30 minutes on a 2-core CPU,
# and copies its reports (not the adapter and checkpoints) to benchmarks/results/DATE-train-rich/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-${TMPDIR:-/tmp}/codefill-train-rich}"
RESULTS="$ROOT/benchmarks/results/$(date +%F)-train-rich"
shift || true
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$ROOT/benchmarks/make_rich_repo.sh" "$WORK/rich-repo"

# 20 optimizer steps of 4 examples of 512 tokens (about 17 min here), and 40 held-out examples
# scored before and after (about 5 min each).
time "$ROOT/.venv/bin/codefill" train "$WORK/rich-repo" --out "$OUT" \
  --seq-len 512 --batch-size 1 --grad-accum 4 --max-steps 20 --lr 3e-4 --save-every 5 \
  --eval-limit 40 --no-gradient-checkpointing "$@"

mkdir -p "$RESULTS"
cp "$OUT"/{eval.md,eval-before.json,eval-after.json,train-report.md,train-report.json,loss.png} "$RESULTS"/
echo "reports: $RESULTS"
