#!/usr/bin/env bash
# One Shoal node against two, over a three-broker Kafka (tests/kafka/kafka.sh) on this
# machine: PutRecords through one node, then through two at once (the same total
# client concurrency, then twice it), PutRecord likewise, and GetRecords through one.
# Prints the bench's JSON lines under headings. Needs a release build and the Kafka
# jars (mvn -q -B -f tests/kafka/pom.xml dependency:build-classpath).
# Usage: benches/kafka/nodes.sh [WORKDIR]   (default: a fresh temp dir)
set -euo pipefail
cd "$(dirname "$0")/../.."
S=target/release/shoal
work=${1:-$(mktemp -d)}
bootstrap=$(bash tests/kafka/kafka.sh start "$work/kafka" 3 | tail -1)
pids=()
stop() {
  kill "${pids[@]}" 2>/dev/null || true
  bash tests/kafka/kafka.sh stop "$work/kafka" || true
}
trap stop EXIT
for port in 4601 4602; do
  SHOAL_KAFKA_TOPIC_PREFIX=bench $S serve --port $port --storage kafka \
    --kafka-bootstrap "$bootstrap" --no-throttle --data-dir "$work/node$port" \
    > "$work/node$port.log" 2>&1 &
  pids+=($!)
done
for port in 4601 4602; do
  for _ in $(seq 1 100); do
    curl -sf http://127.0.0.1:$port/health > /dev/null && break
    sleep 0.3
  done
done
A=http://127.0.0.1:4601
B=http://127.0.0.1:4602
$S stream create pr --shards 4 --endpoint $A > /dev/null
$S stream create p1 --shards 4 --endpoint $A > /dev/null
sleep 1
both() { # SCENARIO STREAM CONNECTIONS_EACH SECONDS
  $S bench "$1" --endpoint $A --stream "$2" --connections "$3" --duration "$4" --json \
    > "$work/a.json" 2> /dev/null &
  local w=$!
  $S bench "$1" --endpoint $B --stream "$2" --connections "$3" --duration "$4" --json \
    2> /dev/null
  wait $w
  cat "$work/a.json"
}
echo "== put-records, one node, 4 connections"
$S bench put-records --endpoint $A --stream pr --connections 4 --duration 8 --json 2> /dev/null
echo "== put-records, two nodes, 2 connections each"
both put-records pr 2 8
echo "== put-records, two nodes, 4 connections each"
both put-records pr 4 8
echo "== put-record, one node, 16 connections"
$S bench put-record --endpoint $A --stream p1 --duration 6 --json 2> /dev/null
echo "== put-record, two nodes, 8 connections each"
both put-record p1 8 6
echo "== get-records, one node"
$S bench get-records --endpoint $A --duration 8 --json 2> /dev/null
