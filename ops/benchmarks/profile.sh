#!/usr/bin/env bash
# A CPU profile of the worker on the hot path: samu end to end at a fixed rate (`samu-bench
# pipeline`, on an empty broker of its own), `perf record` on the worker process for a while in
# the middle of the run, and a flame graph of it (SVG, no third-party code).
#   ops/benchmarks/profile.sh [--rate R] [--seconds S] [--backlog N]
# writes docs/performance/flame-worker.svg (with --backlog: N reports produced before the worker
# starts, and the worker profiled from its start while it drains them: flame-catch-up.svg).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
. ops/env.sh
rate=1000; seconds=12; backlog=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backlog) backlog="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "profile: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "profile: perf is missing (Debian: linux-perf)" >&2; exit 1; }
ops/database.sh start >/dev/null
swift build -c release --package-path Benchmarks --scratch-path "$root/.build-bench" --product samu-bench -q
port="${SAMU_BENCH_KAFKA_PORT:-19392}"
export SAMU_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"
out="${SAMU_BENCH_RESULTS:-$root/docs/performance}"
work="$(mktemp -d)"
# An empty broker of its own (Tansu's memory store only grows), stopped at the end.
broker() { SAMU_KAFKA_PORT="$port" SAMU_BROKER_DIR="$work/broker" ops/broker.sh "$@"; }
broker start >/dev/null
trap 'broker stop >/dev/null 2>&1 || true' EXIT
count=$(( rate * (seconds + 20) ))
name=flame-worker; wait_before=8; mode=()
if [ "$backlog" -gt 0 ]; then
  count="$backlog"; name=flame-catch-up; wait_before=0; mode=(--backlog)
fi
"$root/.build-bench/release/samu-bench" pipeline --rate "$rate" --count "$count" "${mode[@]}" > "$work/pipeline.txt" 2>&1 &
bench=$!
# The worker is the bench's child; profile it once the reports flow.
for _ in $(seq 1 100); do
  pid="$(pgrep -P "$bench" -f 'samu-bench worker' | head -1 || true)"
  [ -n "$pid" ] && break
  sleep 0.2
done
[ -n "${pid:-}" ] || { echo "profile: no worker process" >&2; kill "$bench"; exit 1; }
sleep "$wait_before"
perf record -F 997 -g -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2> "$work/perf.log"
wait "$bench" || true
perf script -i "$work/perf.data" 2>/dev/null \
  | python3 ops/benchmarks/flamegraph.py --title "samu worker $([ "$backlog" -gt 0 ] && echo "draining a backlog of $backlog" || echo "at ${rate}/s") (perf, ${seconds} s, $(date -u +%F))" \
  --inclusive "$out/$name-inclusive.txt" --folded "$out/$name-folded.txt" > "$out/$name.svg"
# The flat profile: where the worker's own samples land, by library and function.
perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio -g none --percent-limit 0.4 2>/dev/null \
  | grep -v '^#' | grep -v '^$' > "$out/$name-top.txt" || true
perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' > "$out/$name-dso.txt" || true
cat "$work/pipeline.txt" | tail -12
echo "profile: $out/$name.svg, $out/$name-top.txt, $out/$name-dso.txt"
broker stop >/dev/null 2>&1 || true
rm -rf "$work"
