#!/usr/bin/env bash
# Start codefill and raw vLLM on the embedded model, run both comparisons, stop both.
#   benchmarks/run_cpu_comparison.sh [parity args...]
#   SKIP_OVERHEAD=1 benchmarks/run_cpu_comparison.sh --limit 300   # quality parity only
# Results land in benchmarks/results/. Logs of both servers in $LOGDIR (default: a temp dir).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
LOGDIR="${LOGDIR:-$(mktemp -d)}"
MAXLEN=4096
MODEL="$("$PY" -c 'from codefill.model.weights.resolve import resolve_model; print(resolve_model(None).path_or_id)')"

"$ROOT/.venv/bin/codefill" serve --port 8000 --max-model-len $MAXLEN > "$LOGDIR/codefill.log" 2>&1 &
CF=$!
OMP_NUM_THREADS=1 VLLM_CPU_OMP_THREADS_BIND=nobind VLLM_CPU_KVCACHE_SPACE=1 \
VLLM_CACHE_ROOT="${CODEFILL_HOME:-$HOME/.cache/codefill}/vllm-cache" \
  "$PY" -m vllm.entrypoints.openai.api_server --model "$MODEL" --served-model-name raw \
  --port 8001 --max-model-len $MAXLEN --dtype float32 --enforce-eager --no-enable-chunked-prefill > "$LOGDIR/raw.log" 2>&1 &
RAW=$!
trap 'kill $CF $RAW 2>/dev/null || true; wait 2>/dev/null || true' EXIT

for url in http://127.0.0.1:8000/health http://127.0.0.1:8001/health; do
  for _ in $(seq 600); do curl -sf "$url" >/dev/null && break; sleep 1; done
  curl -sf "$url" >/dev/null || { echo "server $url did not come up; logs in $LOGDIR"; exit 1; }
done
echo "both servers up (logs in $LOGDIR)"
cd "$ROOT"
if [[ -z "${SKIP_OVERHEAD:-}" ]]; then
"$PY" benchmarks/overhead.py --codefill-url http://127.0.0.1:8000 --raw-url http://127.0.0.1:8001 \
  --concurrency 1,4 --no-postprocess
"$PY" benchmarks/overhead.py --codefill-url http://127.0.0.1:8000 --raw-url http://127.0.0.1:8001 \
  --concurrency 1,4
fi
"$PY" benchmarks/humaneval_infill_parity.py --codefill-url http://127.0.0.1:8000 \
  --raw-url http://127.0.0.1:8001 "$@"
