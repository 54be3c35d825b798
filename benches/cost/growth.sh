#!/usr/bin/env bash
# How a local Shoal's cost grows with record size, with connections, and with
# encryption at rest: one release server (--no-throttle, durability sync, a fresh data
# dir) and `shoal bench` runs against it, each printing its JSON line under a heading.
# About two minutes. Needs a release build (cargo build --release).
# Usage: benches/cost/growth.sh [SECONDS_PER_RUN]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
S=target/release/shoal
secs=${1:-5}
work=$(mktemp -d)
port=4611
$S serve --port $port --no-throttle --data-dir "$work/data" > "$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
E=http://127.0.0.1:$port
for _ in $(seq 1 100); do
  curl -sf $E/health > /dev/null && break
  sleep 0.2
done
run() { # HEADING ARGS...
  echo "== $1"
  shift
  $S bench "$@" --endpoint $E --duration "$secs" --json 2> /dev/null
}
for size in 100 1024 10240 102400; do
  # 5 MiB per call at most: fewer records per call as they grow.
  batch=$(( size >= 102400 ? 40 : (size >= 10240 ? 400 : 500) ))
  run "put-records, $size-byte records, batch $batch, 4 connections" \
    put-records --record-size $size --batch $batch --connections 4
done
for conns in 1 4 16 64; do
  run "put-record, 100-byte records, $conns connections" put-record --connections $conns
done
for key in "" alias/aws/kinesis; do
  enc=()
  [ -n "$key" ] && enc=(--encrypt "$key")
  run "put-records, 1 KiB x 500, 4 connections, encryption ${key:-none}" \
    put-records --stream "enc${key:+-on}" "${enc[@]}"
  run "put-record, 100 B, 16 connections, encryption ${key:-none}" \
    put-record --stream "enc1${key:+-on}" "${enc[@]}"
  run "get-records, 1 KiB records, encryption ${key:-none}" \
    get-records --stream "encg${key:+-on}" --records 400000 "${enc[@]}"
done
