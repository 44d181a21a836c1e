#!/usr/bin/env bash
# The README's test command: installs what is missing, starts a fresh local broker and the private
# PostgreSQL cluster, checks formatting, builds, and runs every test suite, integration suites
# included (they talk to the real servers and cannot be skipped).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh

ops/setup.sh
ops/broker.sh restart        # Tansu's memory store only grows: every run starts empty
ops/database.sh start

echo "test: checking formatting (swift format lint --strict)"
swift format lint --strict --recursive Sources Tests Package.swift

echo "test: building"
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
swift build --build-tests -q   # fails the script if the build failed

log="$SAMU_LOCAL/run/test-output.log"
# The fault suite adds one row per scenario here; printed as a table after the run.
export SAMU_FAULT_TABLE="$SAMU_LOCAL/run/fault-table.tsv"
rm -f "$SAMU_FAULT_TABLE"
echo "test: running (output also in $log)"
set +e
swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
print_fault_table() {
  [ -f "$SAMU_FAULT_TABLE" ] || return 0
  echo
  echo "fault suite (RELIABILITY.md §3; $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)):"
  awk -F'\t' 'NR == FNR { for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i); next }
    { line = "  "; for (i = 1; i <= NF; i++) line = line sprintf("%-" w[i] + 2 "s", $i); print line }' \
    "$SAMU_FAULT_TABLE" "$SAMU_FAULT_TABLE"
  echo
}
print_fault_table
if [ "$status" -ne 0 ]; then echo "test: FAILED (swift test exit $status)"; exit "$status"; fi

# The integration suites must have run and passed: a run that filtered or skipped them fails.
if [ $# -eq 0 ]; then
  required=(
    'RdKafka on the real broker (integration)'
    'PostgreSQL store (integration)'
    'Worker through the real broker and PostgreSQL (integration)'
    'Graceful stop and restart of the worker binary (integration)'
    'Worker start-up checks (integration)'
    'Consumer-group rebalances on the real broker (integration)'
    'samu intake (integration)'
    'Dispatch through the real broker and PostgreSQL (integration)'
    'Database failure classification (integration)'
    'Reference data (integration)'
    'Kafka partitioner (integration)'
    'Dead-letter replay (integration)'
    'Fault tests (integration)'
    'Partner outcomes through the real broker and PostgreSQL (integration, F16)'
    'HTTP intake (integration)'
    'Operator console in Chromium (integration)'
    'Poison input (integration)'
    'Console under attack (integration)'
  )
  for suite in "${required[@]}"; do
    if ! grep -qF "Suite \"$suite\" passed" "$log"; then
      echo "test: FAILED: integration suite \"$suite\" did not run and pass"
      exit 1
    fi
  done
  echo "test: all ${#required[@]} integration suites ran and passed"
fi
