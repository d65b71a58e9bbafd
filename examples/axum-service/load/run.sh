#!/usr/bin/env bash
# Loads the axum service with wrk, healthy and with Redis SIGKILLed mid-run, and prints the
# latency of each run. Starts its own redis-server (loopback, free port) and the service; stops
# only those, by PID.
#   bash examples/axum-service/load/run.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-20}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
cargo build --release -q -p tiered-cache-axum-service
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); sport=$(free_port)
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start_redis() {
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize no >"$dir/redis.log" 2>&1 &
  redis_pid=$!; pids+=("$redis_pid")
  for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && return; sleep 0.1; done
}
start_service() {
  REDIS_URL="redis://127.0.0.1:$rport" ADDR="127.0.0.1:$sport" RUST_LOG=warn \
    target/release/axum-service >"$dir/service.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$sport/health" >/dev/null && return; sleep 0.1; done
}
run() { # name range suffix [kill-after-seconds]
  local name=$1 range=$2 suffix=$3 kill_after=${4:-}
  local killer=""
  if [ -n "$kill_after" ]; then (sleep "$kill_after"; kill -9 "$redis_pid") & killer=$!; fi
  echo "== $name (RANGE=$range, ${conns} connections, ${secs} s${kill_after:+, Redis SIGKILLed at ${kill_after} s})"
  RANGE=$range SUFFIX=$suffix wrk -t2 -c"$conns" -d"${secs}s" --latency -s examples/axum-service/load/random-products.lua \
    "http://127.0.0.1:$sport" | grep -E "Latency|50%|90%|99%|Requests/sec|Non-2xx|Socket errors"
  if [ -n "$killer" ]; then wait "$killer"; fi
}
start_redis; start_service
# Hit-heavy: 1000 products (ttl 60 s, stale for its last 10 s), warmed first.
RANGE=1000 wrk -t2 -c"$conns" -d5s -s examples/axum-service/load/random-products.lua "http://127.0.0.1:$sport" >/dev/null
warmed=$(date +%s)
run "hit-heavy, healthy" 1000 ""
run "hit-heavy, without the cache (/uncached)" 1000 "/uncached"
# Entries turn stale 50 s after the warm-up and would expire at 60 s: this run spans both.
sleep $(( warmed + 45 - $(date +%s) > 0 ? warmed + 45 - $(date +%s) : 0 ))
secs_saved=$secs; secs=20
run "hit-heavy, through the stale period (entries 45-65 s old)" 1000 ""
secs=$secs_saved
run "hit-heavy, Redis killed" 1000 "" $((secs / 4))
start_redis
sleep 3
run "miss-heavy, healthy" 1000000 ""
run "miss-heavy, Redis killed" 1000000 "" $((secs / 4))
echo "== service log warnings: $(grep -c WARN "$dir/service.log" || true)"
curl -s "http://127.0.0.1:$sport/metrics" | grep -E '^tiered_cache_(refreshes_total|stale_served_total|loader_calls_total|l2_connections_lost_total)' || true
