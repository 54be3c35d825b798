#!/usr/bin/env bash
# Apache Kafka (KRaft) on loopback for the Kafka store's tests, from the jars
# tests/kafka/pom.xml resolves (mvn -q -B -f tests/kafka/pom.xml dependency:build-classpath).
#
#   kafka.sh start DIR [BROKERS]   start BROKERS (default 1) combined broker+controller
#                                  nodes with their data in DIR; prints the bootstrap
#                                  servers and writes them to DIR/bootstrap
#   kafka.sh stop DIR              stop the nodes started in DIR (by the PIDs it recorded)
#   kafka.sh kill DIR NODE         SIGKILL one node (1-based), for failure tests
#
# Each node gets a small heap (KAFKA_HEAP, default 384m). Waits are bounded (60 s).
# With KAFKA_WATCH_PID set, the nodes are killed once that process is gone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cmd=${1:?start, stop or kill}
dir=${2:?data directory}
heap=${KAFKA_HEAP:-384m}

classpath() {
  local cp="$here/target/classpath.txt"
  if [ ! -s "$cp" ]; then
    mvn -q -B -f "$here/pom.xml" dependency:build-classpath >&2
  fi
  cat "$cp"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  n=${3:-1}
  mkdir -p "$dir"
  cp=$(classpath)
  voters=""; bootstrap=""
  declare -a bports cports
  for i in $(seq 1 "$n"); do
    bports[$i]=$(free_port); cports[$i]=$(free_port)
    voters="${voters:+$voters,}$i@127.0.0.1:${cports[$i]}"
    bootstrap="${bootstrap:+$bootstrap,}127.0.0.1:${bports[$i]}"
  done
  cluster=$(java -cp "$cp" org.apache.kafka.tools.StorageTool random-uuid 2>/dev/null || java -cp "$cp" kafka.tools.StorageTool random-uuid)
  rf=$(( n < 3 ? n : 3 ))
  for i in $(seq 1 "$n"); do
    node="$dir/node$i"
    mkdir -p "$node/data"
    cat > "$node/server.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${bports[$i]},CONTROLLER://127.0.0.1:${cports[$i]}
advertised.listeners=PLAINTEXT://127.0.0.1:${bports[$i]}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$node/data
num.partitions=1
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$(( rf > 1 ? 2 : 1 ))
default.replication.factor=$rf
min.insync.replicas=$(( rf > 1 ? 2 : 1 ))
group.initial.rebalance.delay.ms=0
PROPS
    java -cp "$cp" kafka.tools.StorageTool format -t "$cluster" -c "$node/server.properties" >"$node/format.log" 2>&1
    KAFKA_HEAP_OPTS= nohup java -Xmx"$heap" -Xms64m -cp "$cp" kafka.Kafka "$node/server.properties" \
      >"$node/server.log" 2>&1 &
    echo $! > "$node/pid"
  done
  for i in $(seq 1 "$n"); do
    deadline=$((SECONDS + 60))
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', ${bports[$i]}), 1)" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$dir/node$i/pid")" 2>/dev/null; then
        echo "kafka node $i did not start; see $dir/node$i/server.log" >&2
        tail -20 "$dir/node$i/server.log" >&2 || true
        exit 1
      fi
      sleep 0.2
    done
  done
  echo "$bootstrap" > "$dir/bootstrap"
  # A test process that starts Kafka cannot promise to stop it (a panic, a kill): the
  # nodes then go when that process does.
  if [ -n "${KAFKA_WATCH_PID:-}" ]; then
    pids=$(cat "$dir"/node*/pid | tr "\n" " ")
    nohup bash -c "while kill -0 $KAFKA_WATCH_PID 2>/dev/null; do sleep 1; done; kill -9 $pids 2>/dev/null" \
      >/dev/null 2>&1 &
  fi
  echo "$bootstrap"
  ;;
stop)
  for pidfile in "$dir"/node*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
  done
  for pidfile in "$dir"/node*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -9 "$pid" 2>/dev/null || true; break; fi
      sleep 0.2
    done
    rm -f "$pidfile"
  done
  ;;
kill)
  node=${3:?node number}
  kill -9 "$(cat "$dir/node$node/pid")"
  ;;
*)
  echo "usage: kafka.sh start|stop|kill DIR ..." >&2
  exit 2
  ;;
esac
