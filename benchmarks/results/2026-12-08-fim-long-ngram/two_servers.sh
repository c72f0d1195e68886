#!/usr/bin/env bash
# Two fresh servers on the embedded model, ngram (8000) and S1_SPEC (8001, default long-ngram, S1_ARGS
# added), then next_edit_speed.py with --kind KIND (fim) on REPO: two_servers.sh REPO NAME SEED LIMIT KIND
set -u
cd "$(dirname "$0")/../../.."
REPO=${1:-/work/.mirror/pallets+click/repo}; NAME=${2:-click}; SEED=${3:-3}; LIMIT=${4:-30}; KIND=${5:-fim}
.venv/bin/codefill serve --port 8000 --speculative ngram > /tmp/s0.log 2>&1 &
P0=$!
.venv/bin/codefill serve --port 8001 --speculative ${S1_SPEC:-long-ngram} ${S1_ARGS:-} > /tmp/s1.log 2>&1 &
P1=$!
for port in 8000 8001; do
  for i in $(seq 1 300); do curl -sf localhost:$port/health > /dev/null && break; sleep 2; done
done
curl -s localhost:8000/health; echo; curl -s localhost:8001/health; echo
mkdir -p /tmp/speed
.venv/bin/python benchmarks/next_edit_speed.py --url http://127.0.0.1:8000 --url http://127.0.0.1:8001 \
  --kind $KIND --repo $REPO --holdout 1 --limit $LIMIT --seed $SEED --out /tmp/speed/$NAME-$KIND-ngram-vs-long.json --quiet
kill $P0 $P1; wait
