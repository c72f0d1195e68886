#!/usr/bin/env bash
# A repository we did not write: rich 15.0.0's `rich/` package exactly as its wheel ships it on
# PyPI (pip download, no install), committed to a fresh git repository at DIR.
#   benchmarks/make_rich_repo.sh DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:?usage: make_rich_repo.sh DIR}"
[[ -e "$DEST" ]] && { echo "make_rich_repo.sh: $DEST exists; give a new folder" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$ROOT/.venv/bin/python" -m pip download --quiet --no-deps --only-binary :all: rich==15.0.0 -d "$WORK/wheel"
"$ROOT/.venv/bin/python" -m zipfile -e "$WORK"/wheel/rich-15.0.0-*.whl "$WORK/unpacked"
mkdir -p "$DEST"
cp -r "$WORK/unpacked/rich" "$DEST/rich"
git -C "$DEST" init --quiet
git -C "$DEST" add rich
git -C "$DEST" -c user.name=codefill -c user.email=codefill@localhost commit --quiet -m "rich 15.0.0"
