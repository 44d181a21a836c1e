#!/usr/bin/env bash
# The README's run command: sets up and starts the embedded default (local broker, private
# PostgreSQL), creates the topics, migrates, runs a worker, feeds the sample reports from seeds/,
# and prints what happened. The demo uses its own database schema ("demo", recreated each run) and
# a fresh broker (its memory store is emptied), so its summary is about this run only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh
export SAMU_DATABASE_SCHEMA="${SAMU_DATABASE_SCHEMA:-demo}"
# Municipal partners (invented demo data) and their pseudonym keys, kept outside the database.
export SAMU_PARTNERS="${SAMU_PARTNERS:-seeds/demo/partners.json}"
export SAMU_PARTNER_KEYS="${SAMU_PARTNER_KEYS:-$SAMU_LOCAL/secrets/partner-keys.json}"
export SAMU_PARTNER_INTERVAL_MS="${SAMU_PARTNER_INTERVAL_MS:-1000}"
sample="${1:-seeds/sample-reports.ndjson}"

ops/setup.sh
ops/broker.sh restart
ops/database.sh start
echo "demo: building samu"
swift build --product samu -q
samu="$root/.build/debug/samu"

ops/database.sh psql -qc "drop schema if exists $SAMU_DATABASE_SCHEMA cascade" >/dev/null
"$samu" topics create
"$samu" migrate
echo "demo: reference data into PostgreSQL, and the demo deployment's crews and shelters report in:"
"$samu" seed --deployment

"$samu" partners keys
# Least privilege: the worker runs as samu_worker (no DDL, no deletes), not as the owner.
secrets="$SAMU_LOCAL/secrets"; mkdir -p "$secrets"; chmod 700 "$secrets"
if [ ! -f "$secrets/db-roles.json" ]; then
  (umask 077; python3 -c 'import json, secrets; print(json.dumps({"samu_worker": secrets.token_urlsafe(24)}))' >"$secrets/db-roles.json")
fi
"$samu" roles --passwords "$secrets/db-roles.json"
worker_password="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["samu_worker"])' "$secrets/db-roles.json")"

log="$SAMU_LOCAL/run/demo-worker.log"
SAMU_DATABASE_URL="postgres://samu_worker:$worker_password@127.0.0.1:$SAMU_PG_PORT/samu" "$samu" worker >"$log" 2>&1 &
worker=$!
trap 'kill -TERM $worker 2>/dev/null || true' EXIT
echo "demo: worker started (pid $worker, log $log)"

echo
echo "== 1. Hotline intake validates every line before publishing; malformed lines are refused:"
"$samu" intake "$sample" || echo "   (intake exits non-zero because some lines were rejected)"
echo
echo "== 2. A misbehaving producer sends the same file unvalidated (valid reports again, and the bad lines):"
"$samu" intake --raw "$sample" 2>/dev/null
echo
echo "== 3. What the worker made of it:"
"$samu" summary --file "$sample" --wait 90
echo
echo "== 4. A busy hour in Casablanca-Anfa: 10 more reports for its units (more reports than crews):"
"$samu" intake seeds/sample-burst.ndjson
"$samu" summary --file seeds/sample-burst.ndjson --wait 60 | grep -E "cases in|dispatch:|decisions:|summary:"
echo
echo "== 5. The crews work the night (acknowledge, reach the person, close the case; shelters admit); the queue drains:"
"$samu" crews --rounds 5
echo
echo "== 6. At dawn:"
"$samu" summary --wait 30 | grep -E "dispatch:|decisions:|summary:"
echo
echo "== 7. What municipal partners received (pseudonymised; minors and victims of violence only as counts):"
sleep 3   # the partner feed runs every second; records leave once a case is finished and its hour is over
"$samu" partners scan --show 2
echo
kill -TERM "$worker"
wait "$worker" || true
trap - EXIT
echo "demo: worker stopped on SIGTERM; its last lines:"
tail -n 3 "$log"
