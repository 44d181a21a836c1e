#!/usr/bin/env bash
# Starts or stops the local Kafka-protocol broker (Tansu, memory storage) on loopback.
#   ops/broker.sh start     start it unless it is already running; wait until it accepts connections
#   ops/broker.sh restart   stop, then start a fresh (empty) broker: its memory store only grows
#   ops/broker.sh stop      stop the broker this script started (by its PID file), nothing else
#   ops/broker.sh status
#   ops/broker.sh kill      kill -9 (the memory store is lost), for fault tests
#   ops/broker.sh pause | resume   SIGSTOP / SIGCONT, for fault tests
# The one way samu starts a broker: the tests' and the benchmarks' private brokers come through here
# too, each with SAMU_KAFKA_PORT and SAMU_BROKER_DIR (PID file and log) of its own, and
# SAMU_KAFKA_ADVERTISED_PORT when clients must reconnect through a proxy in front of it.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/env.sh"
run="${SAMU_BROKER_DIR:-$SAMU_LOCAL/run}"; mkdir -p "$run"
pidfile="$run/tansu.pid"; log="$run/tansu.log"
advertised="${SAMU_KAFKA_ADVERTISED_PORT:-$SAMU_KAFKA_PORT}"

ours() { # is the PID in the file alive and a tansu process?
  [ -f "$pidfile" ] || return 1
  local pid; pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q tansu "/proc/$pid/cmdline" 2>/dev/null
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$SAMU_KAFKA_PORT") 2>/dev/null; }

start() {
  if ours; then echo "broker: already running (pid $(cat "$pidfile")) on 127.0.0.1:$SAMU_KAFKA_PORT"; return; fi
  if listening; then echo "broker: port $SAMU_KAFKA_PORT is taken by another process; set SAMU_KAFKA_PORT" >&2; exit 1; fi
  [ -x "$SAMU_LOCAL/bin/tansu" ] || { echo "broker: tansu is missing; run ops/setup.sh" >&2; exit 1; }
  nohup "$SAMU_LOCAL/bin/tansu" broker \
    --listener-url "tcp://127.0.0.1:$SAMU_KAFKA_PORT" \
    --advertised-listener-url "tcp://127.0.0.1:$advertised" \
    --storage-engine "memory://tansu/" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    if listening; then echo "broker: started (pid $(cat "$pidfile")) on 127.0.0.1:$SAMU_KAFKA_PORT"; return; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "broker: tansu exited; see $log" >&2; tail -20 "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "broker: not accepting connections after 10 s; see $log" >&2; exit 1
}

stop() {
  if ours; then
    local pid; pid="$(cat "$pidfile")"
    kill "$pid"; for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    echo "broker: stopped (pid $pid)"
  else
    echo "broker: not running"
  fi
  rm -f "$pidfile"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  kill) if ours; then pid="$(cat "$pidfile")"; kill -9 "$pid"; for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done; echo "broker: killed (pid $pid)"; else echo "broker: not running"; fi; rm -f "$pidfile" ;;
  pause) ours && kill -STOP "$(cat "$pidfile")" && echo "broker: paused" ;;
  resume) ours && kill -CONT "$(cat "$pidfile")" && echo "broker: resumed" ;;
  status) if ours; then echo "broker: running (pid $(cat "$pidfile"))"; else echo "broker: not running"; exit 1; fi ;;
  *) echo "usage: ops/broker.sh start|stop|restart|status|kill|pause|resume" >&2; exit 2 ;;
esac
