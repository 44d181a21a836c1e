#!/usr/bin/env bash
# Dispatch benchmark: decision latency for unit + bed with 75 zones, 1,000 units and
# 500 shelters against a linear haversine scan of the same data, joint assignment of 100 waiting
# cases to 1,000 units, and heap allocations per decision (counted by an LD_PRELOAD shim).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh
ops/setup.sh >/dev/null
echo "bench: building the benchmarks (Benchmarks/) in release mode"
swift build -c release --package-path Benchmarks --scratch-path "$root/.build-bench" --product samu-bench -q
bench="$root/.build-bench/release/samu-bench"
"$bench" dispatch "$@"

shim="$SAMU_LOCAL/lib/malloc-count.so"
cc -O2 -shared -fPIC -o "$shim" ops/benchmarks/malloc-count.c
count() { LD_PRELOAD="$shim" "$bench" dispatch --decisions "$1" --decisions-only 2>&1 >/dev/null | sed -n 's/^malloc-count: \([0-9]*\) allocations$/\1/p'; }
small=$(count 2000); large=$(count 12000)
echo "allocations per decision cycle (submit + cancel, setup excluded): $(( (large - small) / 10000 ))   ($small allocations for 2,000 cycles, $large for 12,000)"
