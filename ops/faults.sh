#!/usr/bin/env bash
# The fault suite alone (docs/reliability.md §3): sets everything up like ops/test.sh, runs every fault
# scenario, and prints one table (events in, cases, duplicates, double-booked units and beds, DLQ,
# recovery time). The README's test command runs the same scenarios with the rest of the suite.
set -euo pipefail
exec "$(cd "$(dirname "$0")" && pwd)/test.sh" --filter "FaultTests"
