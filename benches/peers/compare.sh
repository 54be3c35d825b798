#!/usr/bin/env bash
# Shoal against the emulators users run today, measured by the same load tool in the
# same run, scenario by scenario with the targets interleaved (docs/performance.md).
#
#   benches/peers/compare.sh [scenario ...]      # default: every scenario below
#
# Starts release Shoal (--durability sync, and a second one with none), kinesalite and
# kinesis-local (installed here from npm) on 127.0.0.1, runs `shoal bench` against each,
# prints one JSON line per run and a markdown table at the end, and stops what it started.
# DURATION (seconds per run, default 10) and PRELOAD (records for get-records, default
# 50000) bound every run. ROUNDS (default 1) repeats each scenario over every target,
# round after round, and ends with each round's ratios: this VM's speed drifts by 2x
# within an hour, so one round's ratio is one sample.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=benches/peers
duration=${DURATION:-10}
preload=${PRELOAD:-50000}
rounds=${ROUNDS:-1}
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(put-record put-records get-records e2e-subscribe e2e-polling)

[ -d "$here/node_modules/kinesalite" ] || npm ci --prefix "$here" --silent --no-audit --no-fund
cargo build --release --quiet --bin shoal
shoal=target/release/shoal
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

start() { # name port command...
  local name=$1 port=$2; shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2; cat "$work/$name.log" >&2; exit 1
}

start shoal 4801 "$shoal" serve --port 4801 --data-dir "$work/shoal-sync" --durability sync --no-throttle
start shoal-none 4802 "$shoal" serve --port 4802 --data-dir "$work/shoal-none" --durability none --no-throttle
start kinesalite 4803 node --require "./$here/loopback.cjs" "$here/node_modules/.bin/kinesalite" \
  --port 4803 --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000
start kinesis-local 4805 env KINESIS_MOCK_PLAIN_PORT=4805 KINESIS_MOCK_TLS_PORT=4806 \
  KINESIS_MOCK_CERT_PATH="$here/node_modules/kinesis-local/server.json" \
  CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms REGISTER_STREAM_CONSUMER_DURATION=0ms \
  DEREGISTER_STREAM_CONSUMER_DURATION=0ms SHARD_LIMIT=2000 \
  node --require "./$here/loopback.cjs" "$here/node_modules/kinesis-local/main.js"

targets=("shoal 4801" "shoal-none 4802" "kinesalite 4803" "kinesis-local 4805")
results="$work/results.jsonl"
n=0
for scenario in "${scenarios[@]}"; do
  case $scenario in
    put-record) args=(put-record --connections 16 --shards 4 --record-size 100 --duration "$duration") ;;
    put-records) args=(put-records --connections 4 --shards 4 --record-size 1024 --batch 500 --duration "$duration") ;;
    get-records) args=(get-records --connections 4 --shards 4 --record-size 1024) ;;
    e2e-subscribe) args=(e2e --via subscribe --rate 1000 --connections 4 --shards 4 --duration "$duration") ;;
    e2e-polling) args=(e2e --via polling --rate 1000 --connections 4 --shards 4 --duration "$duration") ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  for round in $(seq "$rounds"); do
    for t in "${targets[@]}"; do
      read -r name port <<<"$t"
      # kinesalite has no SubscribeToShard.
      [ "$scenario" = e2e-subscribe ] && [ "$name" = kinesalite ] && continue
      n=$((n + 1))
      extra=()
      # kinesis-local takes minutes to load 50000 records; it drains a tenth of them.
      if [ "$scenario" = get-records ]; then
        records=$preload
        [ "$name" = kinesis-local ] && records=$((preload / 10))
        extra=(--records "$records")
      fi
      echo "== $scenario on $name" >&2
      if line=$(timeout 900 "$shoal" bench "${args[@]}" "${extra[@]}" --endpoint "http://127.0.0.1:$port" \
          --stream "bench-$n" --label "$name" --json | tail -1); then
        echo "$line" | sed "s/\"scenario\":\"[a-z0-9-]*\"/\"scenario\":\"$scenario\"/" | tee -a "$results"
      else
        echo "{\"label\":\"$name\",\"scenario\":\"$scenario\",\"failed\":true}" | tee -a "$results"
      fi
    done
  done
done

echo
echo "| scenario | target | req/s | records/s | MiB/s | p50 ms | p99 ms | throttled | errors |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
python3 - "$results" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("failed"):
        print(f"| {r['scenario']} | {r['label']} | failed | | | | | | |")
        continue
    l = r["latency_ms"]
    print(f"| {r['scenario']} | {r['label']} | {r['requests_per_sec']:.0f} | {r['records_per_sec']:.0f} "
          f"| {r['mib_per_sec']:.2f} | {l['p50']:.2f} | {l['p99']:.2f} | {r['throttled']} | {r['errors']} |")
EOF
[ "$rounds" -gt 1 ] || exit 0
echo
echo "Per round: Shoal sync against kinesalite (records/s; MiB/s for get-records), and sync against none:"
python3 - "$results" <<'EOF'
import json, sys
from collections import defaultdict
seen = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r.get("failed"):
        key = "mib_per_sec" if r["scenario"] == "get-records" else "records_per_sec"
        seen[r["scenario"]][r["label"]].append(r[key])
for scenario, by in seen.items():
    sync, none, kl = by.get("shoal", []), by.get("shoal-none", []), by.get("kinesalite", [])
    vs_kl = " ".join(f"{s / k:.1f}x" for s, k in zip(sync, kl) if k)
    vs_none = " ".join(f"{s / n:.0%}" for s, n in zip(sync, none) if n)
    print(f"- {scenario}: vs kinesalite {vs_kl or '-'}; sync/none {vs_none or '-'}")
EOF
