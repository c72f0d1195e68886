#!/usr/bin/env bash
# codefill vs raw vLLM (its own OpenAI server) under `codefill bench`, embedded model, this CPU.
#   benchmarks/run_cpu_bench.sh
# Starts both servers (unless something already answers on :8000 and :8001), runs the two
# workloads below, writes benchmarks/results/DATE-bench-cpu-*.{json,md,png}.
#
# Why two workloads: on a 2-core CPU the 0.5B model prefills about 100 tokens/s, so one
# 8192-token prompt takes over two minutes. All four concurrency levels run with 512-token
# prompts; the 2048/8192-token prompts run at concurrency 1 and 4.
# codefill's post-processing is switched off ("codefill": {"postprocess": false}) so that both
# servers decode the same tokens and the figures compare the serving paths, not the outputs;
# single-line requests carry stop ["\n"] for both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
LOGDIR="${LOGDIR:-$(mktemp -d)}"
MAXLEN=10240
DATE="$(date +%F)"
OUT="$ROOT/benchmarks/results"
MODEL="$("$PY" -c 'from codefill.model.weights.resolve import resolve_model; print(resolve_model(None).path_or_id)')"

pids=()
if ! curl -sf http://127.0.0.1:8000/health >/dev/null; then
  "$ROOT/.venv/bin/codefill" serve --port 8000 --max-model-len $MAXLEN > "$LOGDIR/codefill.log" 2>&1 &
  pids+=($!)
fi
if ! curl -sf http://127.0.0.1:8001/health >/dev/null; then
  OMP_NUM_THREADS=1 VLLM_CPU_OMP_THREADS_BIND=nobind VLLM_CPU_KVCACHE_SPACE=1 \
  VLLM_CACHE_ROOT="${CODEFILL_HOME:-$HOME/.cache/codefill}/vllm-cache" \
    "$PY" -m vllm.entrypoints.openai.api_server --model "$MODEL" --served-model-name raw \
    --port 8001 --max-model-len $MAXLEN --dtype float32 --enforce-eager --no-enable-chunked-prefill > "$LOGDIR/raw.log" 2>&1 &
  pids+=($!)
fi
trap '[[ ${#pids[@]} -gt 0 ]] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
for url in http://127.0.0.1:8000/health http://127.0.0.1:8001/health; do
  for _ in $(seq 600); do curl -sf "$url" >/dev/null && break; sleep 1; done
  curl -sf "$url" >/dev/null || { echo "server $url did not come up; logs in $LOGDIR"; exit 1; }
done

PAIR=(--url http://127.0.0.1:8000 --name codefill --extra-body '{"codefill": {"postprocess": false}}'
      --compare http://127.0.0.1:8001 --compare-name raw-vllm --compare-raw-fim-template qwen
      --compare-extra-body '{"repetition_penalty": 1.0, "stop_token_ids": [151643, 151645, 151659, 151660, 151661, 151662, 151663, 151664]}')
"$ROOT/.venv/bin/codefill" bench "${PAIR[@]}" --prompt-tokens 512 --concurrency 1,4,16,64 --requests 16 \
  --out "$OUT/$DATE-bench-cpu-512.json"
"$ROOT/.venv/bin/codefill" bench "${PAIR[@]}" --prompt-tokens 2048,8192 --concurrency 1,4 --requests 4 \
  --out "$OUT/$DATE-bench-cpu-long.json"
# More requests (and a fresh seed) at concurrency 1 and 16, where 16 requests gave one noisy
# round: the p50 of a mixed workload jumps between its single-line and multi-line modes.
"$ROOT/.venv/bin/codefill" bench "${PAIR[@]}" --prompt-tokens 512 --concurrency 1,16 --requests 32 --seed 1 \
  --out "$OUT/$DATE-bench-cpu-512-more.json"
