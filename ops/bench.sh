#!/usr/bin/env bash
# samu's benchmark suite in one command: builds the benchmarks (the nested package Benchmarks/, on
# samu's libraries) in release mode, runs `samu-bench suite` — baselines and samu interleaved, each
# measurement on a fresh broker of its own — and draws the plots from its results.
#   ops/bench.sh [--quick] [suite options]     results in docs/performance/ (SAMU_BENCH_RESULTS)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh
ops/setup.sh >/dev/null
ops/database.sh start >/dev/null

# The plotting package, from PyPI, under .local/ (not the user's Python).
plots="$SAMU_LOCAL/plots"
if [ ! -f "$plots/.done" ]; then
  echo "bench: installing matplotlib (PyPI) into $plots"
  python3 -m pip install --quiet --target "$plots" matplotlib
  touch "$plots/.done"
fi

echo "bench: building the benchmarks in release mode"
swift build -c release --package-path Benchmarks --scratch-path "$root/.build-bench" --product samu-bench -q

# The suite starts an empty broker of its own on this port before every measurement: Tansu's memory
# store only grows, and a broker that has held the previous steps' records is slower.
port="${SAMU_BENCH_KAFKA_PORT:-19392}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "bench: port $port is taken; set SAMU_BENCH_KAFKA_PORT" >&2; exit 1
fi
export SAMU_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"

results="${SAMU_BENCH_RESULTS:-$root/docs/performance}"
"$root/.build-bench/release/samu-bench" suite --fresh-broker --results "$results" "$@" 2> >(grep -v " info samu.bench" >&2)
PYTHONPATH="$plots" python3 ops/benchmarks/plot.py "$results"
