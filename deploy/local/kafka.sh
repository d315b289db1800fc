#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) on
# 127.0.0.1, run straight from the Maven Central jars: no Docker, no tarball.
#
#   deploy/local/kafka.sh start    # fetch jars once, format storage, start, wait, print bootstrap
#   deploy/local/kafka.sh stop     # kill by pidfile, wait, drop an auto-created data dir
#   deploy/local/kafka.sh status   # "running 127.0.0.1:PORT (pid N)" / "stopped" (exit 3)
#   deploy/local/kafka.sh fetch    # only fill the jar cache
#
# Flags (after the subcommand) or environment:
#   --port N       KAFKA_PORT        client port (default 19092); the controller uses
#   --controller-port N  KAFKA_CONTROLLER_PORT   (default PORT+1)
#   --data-dir D   KAFKA_DATA_DIR    log.dirs; default: a fresh mktemp dir under /tmp,
#                                    removed by `stop`. A given dir is kept and reused.
#   --heap H       KAFKA_HEAP        JVM heap options (default "-Xms128m -Xmx512m")
#   KAFKA_JVM_OPTS  other JVM options (default: serial GC, C1 only, 2 CPUs: small and quick to start)
#   --timeout S    KAFKA_START_TIMEOUT  seconds to wait for the broker (default 120)
#   KAFKA_VERSION (default 4.4.0), LOG4J_VERSION (default 2.25.5)
#   STREAMFEAT_CACHE_DIR (default ~/.cache/streamfeat): jars go to kafka-$VERSION/libs
#   KAFKA_RUN_DIR (default /tmp/streamfeat-kafka-$PORT): pidfile, config, broker log
#   JAVA (default: $JAVA_HOME/bin/java, else java on PATH; needs Java 17+)
#   PYTHON (default python3): readiness probe uses confluent_kafka if importable
#
# After the first fetch the cache is used as is: no Maven call, works offline.
set -euo pipefail

die() { echo "kafka.sh: error: $*" >&2; exit 1; }
log() { echo "kafka.sh: $*" >&2; }

usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }

CMD="${1:-}"
[[ -n "$CMD" ]] || { usage >&2; exit 2; }
shift

PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-}"
DATA_DIR="${KAFKA_DATA_DIR:-}"
HEAP="${KAFKA_HEAP:--Xms128m -Xmx512m}"
JVM_OPTS="${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:ActiveProcessorCount=2}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
    --data-dir) DATA_DIR="$2"; shift 2 ;;
    --heap) HEAP="$2"; shift 2 ;;
    --timeout) START_TIMEOUT="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"
CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 1))}"

KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
SCALA_VERSION="${SCALA_VERSION:-2.13}"
LOG4J_VERSION="${LOG4J_VERSION:-2.25.5}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CACHE_ROOT="${STREAMFEAT_CACHE_DIR:-$HOME/.cache/streamfeat}"
KAFKA_HOME_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME_DIR/libs"
RUN_DIR="${KAFKA_RUN_DIR:-/tmp/streamfeat-kafka-$PORT}"
PIDFILE="$RUN_DIR/kafka.pid"
PROPS="$RUN_DIR/server.properties"
LOGFILE="$RUN_DIR/kafka.log"
BOOTSTRAP="127.0.0.1:$PORT"
PYTHON="${PYTHON:-python3}"

# ---------------------------------------------------------------- java / jars
find_java() {
  local j="${JAVA:-}"
  if [[ -z "$j" && -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; fi
  if [[ -z "$j" ]]; then j="$(command -v java || true)"; fi
  [[ -n "$j" && -x "$j" ]] || die "Java not found: Kafka $KAFKA_VERSION needs a Java 17+ runtime \
(set JAVA or JAVA_HOME, or install one, e.g. apt-get install openjdk-17-jre-headless)"
  local v
  v="$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -1)"
  [[ -n "$v" ]] || die "could not read the version of $j"
  (( v >= 17 )) || die "$j is Java $v; Kafka $KAFKA_VERSION needs Java 17 or newer (set JAVA or JAVA_HOME)"
  JAVA_BIN="$j"
}

fetch_jars() {
  if [[ -f "$KAFKA_HOME_DIR/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) not found and the jar cache $LIBS is empty: \
install Maven (apt-get install maven) or fill the cache on a machine that has it"
  mkdir -p "$CACHE_ROOT"
  # One fetch at a time per version (concurrent test sessions).
  exec 8>"$CACHE_ROOT/.kafka-$KAFKA_VERSION.lock"
  flock 8
  if [[ -f "$KAFKA_HOME_DIR/.complete" ]]; then exec 8>&-; return 0; fi
  local work; work="$(mktemp -d "$CACHE_ROOT/.kafka-$KAFKA_VERSION.fetch.XXXXXX")"
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamfeat</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- kafka_2.13's pom brings slf4j-api 1.7 and log4j-core but no binding:
         add the log4j2 binding for slf4j 1.x, all log4j jars at one version. -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  log "fetching Kafka $KAFKA_VERSION runtime jars with Maven into $LIBS (first run only)..."
  if ! mvn -B -ntp -f "$work/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$work/libs" >"$work/mvn.log" 2>&1; then
    tail -40 "$work/mvn.log" >&2
    die "Maven could not resolve org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION (log: $work/mvn.log)"
  fi
  ls "$work/libs/kafka_$SCALA_VERSION-$KAFKA_VERSION.jar" >/dev/null 2>&1 \
    || die "Maven finished but kafka_$SCALA_VERSION-$KAFKA_VERSION.jar is missing in $work/libs"
  rm -rf "$KAFKA_HOME_DIR"
  mkdir -p "$KAFKA_HOME_DIR"
  mv "$work/libs" "$LIBS"
  cp "$work/pom.xml" "$KAFKA_HOME_DIR/pom.xml"
  rm -rf "$work"
  touch "$KAFKA_HOME_DIR/.complete"
  exec 8>&-
  log "cached $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1)) in $LIBS"
}

# ---------------------------------------------------------------- process state
alive() {  # alive PID: the process exists and is not a zombie waiting for its parent to reap it
  kill -0 "$1" 2>/dev/null || return 1
  local state; state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]]
}

running_pid() {
  # Prints the broker pid when the pidfile names a live Kafka process of this run dir.
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

port_open() {  # port_open PORT -> 0 when something accepts on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

probe_metadata() {
  # 0 when the broker answers a metadata request (confluent_kafka), else 1.
  # Without confluent_kafka only the open port is checked.
  if "$PYTHON" -c 'import confluent_kafka' 2>/dev/null; then
    "$PYTHON" - "$BOOTSTRAP" <<'PY' >/dev/null 2>&1
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1], "log_level": 0}).list_topics(timeout=5)
sys.exit(0 if md.brokers else 1)
PY
  else
    port_open "$PORT"
  fi
}

new_cluster_id() {
  # Like Kafka's Uuid.randomUuid().toString(): url-safe base64 of 16 random bytes,
  # no padding, never starting with '-'.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || break
  done
  echo "$id"
}

write_config() {
  cat >"$PROPS" <<EOF
# generated by deploy/local/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# small footprint: a shared 2-core machine
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.retention.check.interval.ms=300000
# keep everything: tests and benchmarks replay generated events stamped years ago, and
# time-based retention would delete them mid-run (it goes by record timestamps)
log.retention.ms=-1
log.retention.bytes=-1
EOF
  cat >"$RUN_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

# ---------------------------------------------------------------- commands
cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running $BOOTSTRAP (pid $pid)"
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_start() {
  local pid
  mkdir -p "$RUN_DIR"
  # one start at a time per run dir (the broker itself must not inherit this fd: 9>&- below)
  exec 9>"$RUN_DIR/.lock"
  flock -w "$START_TIMEOUT" 9 || die "another kafka.sh start for $RUN_DIR is still running"
  if pid="$(running_pid)"; then
    if probe_metadata; then echo "$BOOTSTRAP"; return 0; fi
    log "broker pid $pid is running but not answering yet; waiting"
    wait_ready "$pid"
    echo "$BOOTSTRAP"
    return 0
  fi
  find_java
  fetch_jars
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "127.0.0.1:$p is already in use by another process (not a broker started from $RUN_DIR); \
choose another port with --port / KAFKA_PORT"
    fi
  done

  local own_data=0
  if [[ -z "$DATA_DIR" ]]; then
    DATA_DIR="$(mktemp -d "/tmp/streamfeat-kafka-$PORT-data.XXXXXX")"
    own_data=1
    # a start that fails leaves no data dir behind (one that times out keeps it for `stop`)
    trap 'if [[ $? -ne 0 ]] && ! running_pid >/dev/null; then rm -rf "$DATA_DIR" "$RUN_DIR/data_dir" "$RUN_DIR/data_dir_owned"; fi' EXIT
  fi
  mkdir -p "$DATA_DIR"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  echo "$DATA_DIR" >"$RUN_DIR/data_dir"
  echo "$own_data" >"$RUN_DIR/data_dir_owned"
  write_config

  local cp="$LIBS/*"
  # shellcheck disable=SC2206  # HEAP and JVM_OPTS are word lists
  local jvm=($HEAP $JVM_OPTS
             -Djava.awt.headless=true -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties"
             -Dkafka.logs.dir="$RUN_DIR")

  if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
    local cid; cid="$(new_cluster_id)"
    if ! "$JAVA_BIN" -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties" \
          -cp "$cp" kafka.tools.StorageTool format -t "$cid" -c "$PROPS" >"$RUN_DIR/format.log" 2>&1; then
      cat "$RUN_DIR/format.log" >&2
      die "formatting the KRaft storage in $DATA_DIR failed"
    fi
  fi

  : >"$LOGFILE"
  nohup "$JAVA_BIN" "${jvm[@]}" -cp "$cp" kafka.Kafka "$PROPS" </dev/null >>"$LOGFILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  wait_ready "$pid"
  echo "$BOOTSTRAP"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    if ! alive "$pid"; then
      tail -40 "$LOGFILE" >&2 || true
      rm -f "$PIDFILE"
      die "the broker exited during start-up (log: $LOGFILE)"
    fi
    if port_open "$PORT" && probe_metadata; then return 0; fi
    sleep 0.5
  done
  tail -40 "$LOGFILE" >&2 || true
  die "the broker did not answer on $BOOTSTRAP within ${START_TIMEOUT}s (pid $pid still running; \
log: $LOGFILE; stop it with: $0 stop --port $PORT)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    echo "stopped"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while alive "$pid" && (( SECONDS < deadline )); do sleep 0.2; done
  if alive "$pid"; then
    log "broker pid $pid did not stop within 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  if [[ "$(cat "$RUN_DIR/data_dir_owned" 2>/dev/null || echo 0)" == 1 ]]; then
    local d; d="$(cat "$RUN_DIR/data_dir" 2>/dev/null || true)"
    if [[ "$d" == /tmp/streamfeat-kafka-*-data.* ]]; then rm -rf "$d"; fi
    rm -f "$RUN_DIR/data_dir" "$RUN_DIR/data_dir_owned"
  fi
  echo "stopped"
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  fetch) find_java; fetch_jars; echo "$LIBS" ;;
  -h|--help|help) usage ;;
  *) usage >&2; die "unknown command '$CMD'" ;;
esac
