#!/usr/bin/env bash
# The README's test command: installs what is missing, starts a fresh local broker and the private
# PostgreSQL cluster, checks formatting, builds, and runs every test suite, integration suites
# included (they talk to the real servers and cannot be skipped), then the decoders' libFuzzer run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh

ops/setup.sh
ops/broker.sh restart        # Tansu's memory store only grows: every run starts empty
ops/database.sh start

echo "test: checking formatting (swift format lint --strict)"
swift format lint --strict --recursive Sources Tests Package.swift Fuzz Benchmarks

echo "test: building"
set +e
swift build --build-tests 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]'
built=${PIPESTATUS[0]}
set -e
if [ "$built" -ne 0 ]; then echo "test: FAILED (the build failed)"; exit "$built"; fi

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
  echo "fault suite (docs/reliability.md §3; $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)):"
  awk -F'\t' 'NR == FNR { for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i); next }
    { line = "  "; for (i = 1; i <= NF; i++) line = line sprintf("%-" w[i] + 2 "s", $i); print line }' \
    "$SAMU_FAULT_TABLE" "$SAMU_FAULT_TABLE"
  echo
}
print_fault_table
if [ "$status" -ne 0 ]; then echo "test: FAILED (swift test exit $status)"; exit "$status"; fi

# Every suite the tests declare must have run and passed, integration suites included: a run that
# filtered, skipped or lost one fails. The list is read from the sources, not kept by hand.
if [ $# -eq 0 ]; then
  mapfile -t suites < <(grep -rhoE '@Suite\("[^"]+"' Tests | sed -E 's/^@Suite\("//; s/"$//' | sort -u)
  declared=$(grep -rhoE '@Suite\(' Tests | wc -l)
  if [ "$declared" -ne "${#suites[@]}" ]; then
    echo "test: FAILED: $declared @Suite declarations but ${#suites[@]} distinct names found (give each suite a unique name on the @Suite line)"
    exit 1
  fi
  missing=0
  for suite in "${suites[@]}"; do
    if ! grep -qF "Suite \"$suite\" passed" "$log"; then
      echo "test: FAILED: suite \"$suite\" did not run and pass"
      missing=1
    fi
  done
  [ "$missing" -eq 0 ] || exit 1
  integration=$(printf '%s\n' "${suites[@]}" | grep -c '(integration')
  echo "test: all ${#suites[@]} suites ran and passed ($integration of them integration suites on the real servers)"
  # The coverage-guided fuzzer (libFuzzer) of the decoders, 60 s, from the committed corpus.
  ops/fuzz.sh
fi
