#!/usr/bin/env bash
# A real redis-server on 127.0.0.1 for tests: no persistence, daemonized, pidfile.
#
#   deploy/local/redis.sh start    # install redis-server if missing (root + apt), start, wait for PONG, print URL
#   deploy/local/redis.sh stop     # kill by pidfile, wait
#   deploy/local/redis.sh status   # "running redis://127.0.0.1:PORT/0 (pid N)" / "stopped" (exit 3)
#
# Flags (after the subcommand) or environment:
#   --port N      REDIS_PORT            (default 16379)
#   --timeout S   REDIS_START_TIMEOUT   seconds to wait for PONG (default 30)
#   --maxmemory M REDIS_MAXMEMORY       (default 256mb; policy noeviction: writes past it fail loudly)
#   REDIS_RUN_DIR (default /tmp/streamfeat-redis-$PORT): pidfile, log, working dir
#   REDIS_SERVER / REDIS_CLI: binaries (default: redis-server / redis-cli on PATH)
#
# `start` when already running only prints the URL.
set -euo pipefail

die() { echo "redis.sh: error: $*" >&2; exit 1; }
log() { echo "redis.sh: $*" >&2; }
usage() { sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }

CMD="${1:-}"
[[ -n "$CMD" ]] || { usage >&2; exit 2; }
shift

PORT="${REDIS_PORT:-16379}"
START_TIMEOUT="${REDIS_START_TIMEOUT:-30}"
MAXMEMORY="${REDIS_MAXMEMORY:-256mb}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --timeout) START_TIMEOUT="$2"; shift 2 ;;
    --maxmemory) MAXMEMORY="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
  esac
done
[[ "$PORT" =~ ^[0-9]+$ ]] || die "port must be a number, got '$PORT'"

RUN_DIR="${REDIS_RUN_DIR:-/tmp/streamfeat-redis-$PORT}"
PIDFILE="$RUN_DIR/redis.pid"
LOGFILE="$RUN_DIR/redis.log"
URL="redis://127.0.0.1:$PORT/0"

find_redis() {
  REDIS_SERVER="${REDIS_SERVER:-$(command -v redis-server || true)}"
  REDIS_CLI="${REDIS_CLI:-$(command -v redis-cli || true)}"
  if [[ -x "$REDIS_SERVER" && -x "$REDIS_CLI" ]]; then return 0; fi
  if [[ "$(id -u)" -ne 0 ]]; then
    die "redis-server/redis-cli not found and not root, so cannot install them: \
run 'sudo apt-get install redis-server' (Debian/Ubuntu) or set REDIS_SERVER and REDIS_CLI"
  fi
  command -v apt-get >/dev/null 2>&1 || die "redis-server not found and apt-get is not available to install it \
(install Redis some other way, or set REDIS_SERVER and REDIS_CLI)"
  log "installing redis-server with apt-get (first run only)..."
  # Keep the package's own service from starting on 6379: only our instance runs.
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends redis-server
  } >"/tmp/streamfeat-redis-apt.log" 2>&1 || rc=$?
  if [[ "$made_policy" == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ "$rc" -ne 0 ]]; then
    tail -20 /tmp/streamfeat-redis-apt.log >&2
    die "apt-get install redis-server failed (log: /tmp/streamfeat-redis-apt.log)"
  fi
  REDIS_SERVER="$(command -v redis-server || true)"
  REDIS_CLI="$(command -v redis-cli || true)"
  [[ -x "$REDIS_SERVER" && -x "$REDIS_CLI" ]] || die "redis-server installed but redis-server/redis-cli still not on PATH"
}

alive() {  # alive PID: the process exists and is not a zombie waiting for its parent to reap it
  kill -0 "$1" 2>/dev/null || return 1
  local state; state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != Z ]]
}

running_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # a redis-server serving our port (guards against a reused pid)
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$PORT" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

pong() { [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

cmd_status() {
  local pid
  if pid="$(running_pid)"; then echo "running $URL (pid $pid)"; return 0; fi
  echo "stopped"
  return 3
}

cmd_start() {
  local pid
  find_redis
  mkdir -p "$RUN_DIR"
  # one start at a time per run dir (redis-server must not inherit this fd: 9>&- below)
  exec 9>"$RUN_DIR/.lock"
  flock -w "$START_TIMEOUT" 9 || die "another redis.sh start for $RUN_DIR is still running"
  if pid="$(running_pid)"; then
    wait_ready "$pid"
    echo "$URL"
    return 0
  fi
  if port_open; then
    die "127.0.0.1:$PORT is already in use by another process (not a redis-server started from $RUN_DIR); \
choose another port with --port / REDIS_PORT"
  fi
  rm -f "$PIDFILE"
  : >"$LOGFILE"
  # no RDB snapshots, no AOF: a throwaway in-memory server
  "$REDIS_SERVER" --bind 127.0.0.1 --port "$PORT" --protected-mode yes \
    --daemonize yes --pidfile "$PIDFILE" --logfile "$LOGFILE" --dir "$RUN_DIR" \
    --save "" --appendonly no --maxmemory "$MAXMEMORY" --maxmemory-policy noeviction \
    --databases 16 --io-threads 1 </dev/null 9>&- \
    || { tail -20 "$LOGFILE" >&2 || true; die "redis-server failed to start (log: $LOGFILE)"; }
  local deadline=$((SECONDS + 10))
  while [[ ! -s "$PIDFILE" ]] && (( SECONDS < deadline )); do sleep 0.05; done
  [[ -s "$PIDFILE" ]] || { tail -20 "$LOGFILE" >&2 || true; die "redis-server wrote no pidfile $PIDFILE (log: $LOGFILE)"; }
  wait_ready "$(cat "$PIDFILE")"
  echo "$URL"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while (( SECONDS < deadline )); do
    if ! alive "$pid"; then
      tail -20 "$LOGFILE" >&2 || true
      rm -f "$PIDFILE"
      die "redis-server exited during start-up (log: $LOGFILE)"
    fi
    if pong; then return 0; fi
    sleep 0.1
  done
  tail -20 "$LOGFILE" >&2 || true
  die "redis-server did not answer PONG on 127.0.0.1:$PORT within ${START_TIMEOUT}s (log: $LOGFILE)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDFILE"; echo "stopped"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while alive "$pid" && (( SECONDS < deadline )); do sleep 0.05; done
  if alive "$pid"; then
    log "redis-server pid $pid did not stop within 15s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.05; done
  fi
  rm -f "$PIDFILE"
  echo "stopped"
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; die "unknown command '$CMD'" ;;
esac
