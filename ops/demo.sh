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
wait_at_end=1
if [ "${1:-}" = "--no-wait" ]; then wait_at_end=0; shift; fi
sample="${1:-seeds/sample-reports.ndjson}"
export SAMU_CONSOLE_ADDRESS="${SAMU_CONSOLE_ADDRESS:-127.0.0.1:8080}"
export SAMU_CONSOLE_OPS_ADDRESS="${SAMU_CONSOLE_OPS_ADDRESS:-127.0.0.1:9090}"
export SAMU_WORKER_HTTP_ADDRESS="${SAMU_WORKER_HTTP_ADDRESS:-127.0.0.1:9464}"
# A demo night is short: a P1 waiting 20 s (not 10 min) asks a neighbour area for a unit.
export SAMU_ESCALATE_P1_SECONDS="${SAMU_ESCALATE_P1_SECONDS:-20}"
export SAMU_AID_TIMEOUT_SECONDS="${SAMU_AID_TIMEOUT_SECONDS:-10}"

ops/setup.sh
ops/broker.sh restart
ops/database.sh start
echo "demo: building samu"
swift build --product samu -q
samu="$root/.build/debug/samu"

# The schema name reaches SQL as a quoted identifier (psql's :"name"), whatever it holds.
echo 'drop schema if exists :"schema" cascade;' |
  ops/database.sh psql -q -v ON_ERROR_STOP=1 -v schema="$SAMU_DATABASE_SCHEMA" >/dev/null
"$samu" topics create
"$samu" migrate
echo "demo: reference data into PostgreSQL, and the demo deployment's crews and shelters report in:"
"$samu" seed --deployment

"$samu" partners keys
# Least privilege: the worker runs as samu_worker (no DDL, no deletes), not as the owner.
secrets="$SAMU_LOCAL/secrets"; mkdir -p "$secrets"; chmod 700 "$secrets"
# One generated password per login role (roles added later are added to an existing file).
(umask 077; python3 - "$secrets/db-roles.json" <<'PY'
import json, os, secrets, sys
path = sys.argv[1]
roles = json.load(open(path)) if os.path.exists(path) else {}
for role in ("samu_worker", "samu_console"):
    roles.setdefault(role, secrets.token_urlsafe(24))
json.dump(roles, open(path, "w"))
PY
)
"$samu" roles --passwords "$secrets/db-roles.json"
role_password() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$secrets/db-roles.json" "$1"; }
worker_password="$(role_password samu_worker)"

log="$SAMU_LOCAL/run/demo-worker.log"
SAMU_DATABASE_URL="postgres://samu_worker:$worker_password@127.0.0.1:$SAMU_PG_PORT/samu" "$samu" worker >"$log" 2>&1 &
worker=$!
console=""
trap 'kill -TERM $worker $console 2>/dev/null || true' EXIT
echo "demo: worker started (pid $worker, log $log, metrics http://$SAMU_WORKER_HTTP_ADDRESS/metrics)"

# The console's demo logins (passwords generated once, kept in .local/secrets) and an HTTP
# intake client for the hotline's system.
# A login missing from the file (a demo from an older version) is added.
(umask 077; python3 - "$secrets/console-logins.json" <<'PY'
import json, os, secrets, sys
path = sys.argv[1]
logins = json.load(open(path)) if os.path.exists(path) else {}
for name in ["fatima", "karim", "nadia", "hassan"]:
    logins.setdefault(name, secrets.token_urlsafe(12))
json.dump(logins, open(path, "w"))
PY
)
login() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$secrets/console-logins.json" "$1"; }
login fatima | "$samu" accounts operator fatima --name "Fatima (Casablanca, Rabat, Salé)" \
  --zones casablanca-anfa,rabat,sale --password-file - >/dev/null
login karim | "$samu" accounts operator karim --role supervisor --name "Karim (supervisor)" \
  --zones "$(python3 -c 'import json; print(",".join(z["zone"] for z in json.load(open("seeds/demo/deployment.json"))["zones"]))')" \
  --password-file - >/dev/null
login nadia | "$samu" accounts operator nadia --role child_protection \
  --name "Nadia (child protection, Casablanca, Rabat, Salé)" --zones casablanca-anfa,rabat,sale \
  --password-file - >/dev/null
# Rabat's emergency shelter's night watchman keeps its beds at /shelter.
login hassan | "$samu" accounts operator hassan --role shelter --shelters rabat-s1 \
  --name "Hassan (Rabat emergency shelter)" --zones rabat --password-file - >/dev/null
"$samu" accounts client hotline-demo --token-file "$secrets/intake-token" >/dev/null
console_log="$SAMU_LOCAL/run/demo-console.log"
# The console runs as samu_console: it reads the board and keeps sessions, nothing more.
SAMU_DATABASE_URL="postgres://samu_console:$(role_password samu_console)@127.0.0.1:$SAMU_PG_PORT/samu" \
  "$samu" console >"$console_log" 2>&1 &
console=$!
echo "demo: console started (pid $console, log $console_log) on http://$SAMU_CONSOLE_ADDRESS"

# The samples are a week of January nights; the demo plays them as the week that ended last night
# (whole days added, times of day kept: the last night's reports are from last night, never from
# the future), so waits and response times are those of a real week, not of eleven months.
shifted="$SAMU_LOCAL/run/demo-reports.ndjson"
burst="$SAMU_LOCAL/run/demo-burst.ndjson"
shift_days="$(python3 - "$sample" "$shifted" seeds/sample-burst.ndjson "$burst" <<'PY'
import datetime, json, sys
from zoneinfo import ZoneInfo
now = datetime.datetime.now(ZoneInfo("Africa/Casablanca"))
# The last night that is over: it ended this morning at 06:00, or yesterday morning before that.
last_morning = now.date() if now.hour >= 6 else now.date() - datetime.timedelta(days=1)
days = (last_morning - datetime.date(2026, 1, 22)).days
for source, target in [(sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])]:
    with open(source, "rb") as lines, open(target, "wb") as out:
        for line in lines:
            try:
                report = json.loads(line.decode("utf-8"))
                stamped = datetime.datetime.fromisoformat(report["reported_at"])
            except Exception:
                out.write(line)  # malformed on purpose: sent as it is
                continue
            report["reported_at"] = (stamped + datetime.timedelta(days=days)).isoformat()
            out.write((json.dumps(report, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
print(days)
PY
)"
busiest="$(python3 -c 'import datetime, sys; print(datetime.date(2026, 1, 15) + datetime.timedelta(days=int(sys.argv[1])))' "$shift_days")"
echo
echo "== 1. Hotline intake validates every line before publishing; malformed lines are refused:"
"$samu" intake "$shifted" || echo "   (intake exits non-zero because some lines were rejected)"
echo
echo "== 2. A misbehaving producer sends the same file unvalidated (valid reports again, and the bad lines):"
"$samu" intake --raw "$shifted" 2>/dev/null
echo
echo "== 3. What the worker made of it:"
"$samu" summary --file "$shifted" --wait 90
echo
echo "== 4. A busy hour in Casablanca-Anfa: 10 more reports for its units (more reports than crews):"
"$samu" intake "$burst"
"$samu" summary --file "$burst" --wait 60 | grep -E "cases in|dispatch:|decisions:|summary:"
echo
echo "== 5. The crews work the night (acknowledge, reach the person, close the case; shelters admit); the queue drains:"
"$samu" crews --rounds 5
echo
echo "== 6. At dawn:"
"$samu" summary --wait 30 | grep -E "dispatch:|decisions:|summary:"
echo
echo "== 7. What municipal partners received (pseudonymised; minors and victims of violence only as counts):"
sleep 3   # the partner feed runs every second; a zone's day leaves once it is over and its cases are finished
"$samu" partners scan --show 2
echo
echo "== 8. The hotline's system posts tonight's new reports over HTTP (a retry with the same Idempotency-Key creates nothing):"
token="$(cat "$secrets/intake-token")"
# Six of the busy hour's reports (all valid), with new ids and tonight's times.
python3 - seeds/sample-burst.ndjson >"$SAMU_LOCAL/run/demo-http-reports.ndjson" <<'PY'
import datetime, json, sys, uuid
picked = [json.loads(line) for line in open(sys.argv[1]) if line.strip()][:6]
now = datetime.datetime.now(datetime.timezone.utc)
for index, report in enumerate(picked):
    report["event_id"] = str(uuid.uuid4())
    report["reported_at"] = (now - datetime.timedelta(minutes=4 * index + 1)).isoformat(timespec="seconds")
    print(json.dumps(report, ensure_ascii=False))
PY
first=1
while IFS= read -r report; do
  key="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["event_id"])' "$report")"
  answer="$(curl -s -X POST "http://$SAMU_CONSOLE_ADDRESS/v1/reports" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H "Idempotency-Key: $key" --data-binary "$report")"
  echo "  POST /v1/reports → $answer"
  if [ $first -eq 1 ]; then
    first=0
    echo "  the same POST again → $(curl -s -D - -o /dev/null -X POST "http://$SAMU_CONSOLE_ADDRESS/v1/reports" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "Idempotency-Key: $key" \
      --data-binary "$report" | tr -d '\r' | grep -iE '^(HTTP|Idempotent-Replayed)' | paste -sd' ')"
  fi
done <"$SAMU_LOCAL/run/demo-http-reports.ndjson"
echo "  a report with a bad field → $(curl -s -X POST "http://$SAMU_CONSOLE_ADDRESS/v1/reports" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H 'Idempotency-Key: bad-1' \
  --data '{"schema_version":1,"event_id":"0b9e3f64-7d1c-4a4e-9c57-3d0f5a1e2b77","reported_at":"2026-01-15T02:10:00Z","zone":"rabat","category":"homeless_adult","location":{"lat":34.02,"lon":-6.84},"person":{"age":340,"sex":"male"}}')"
echo
echo "== 9. The ministry's chains, played tonight:"
sql() { ops/database.sh psql -qtA -v ON_ERROR_STOP=1 -c "set search_path to \"$SAMU_DATABASE_SCHEMA\"" -c "$1" | sed '/^SET$/d'; }
# Tonight's reports: a child alone in Rabat, a mother and her two children in Rabat, and six people
# in danger in Midelt at once (three crews there).
python3 - >"$SAMU_LOCAL/run/demo-chains.ndjson" <<'PY'
import datetime, json, uuid
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
def report(zone, lat, lon, category, person, factors):
    return {"schema_version": 1, "event_id": str(uuid.uuid4()), "reported_at": now, "zone": zone,
            "category": category, "location": {"lat": lat, "lon": lon}, "person": person, "factors": factors,
            "channel": "hotline", "language": "ar"}
lines = [report("rabat", 34.0205, -6.8361, "child_street_situation", {"age": 11, "sex": "male", "count": 1},
                ["alone_at_night", "cold_exposure"]),
         report("rabat", 34.0132, -6.8326, "homeless_adult", {"age": 31, "sex": "female", "count": 3},
                ["with_children", "cold_exposure"])]
lines += [report("midelt", 32.6852 + i / 500, -4.7451, "homeless_adult", {"age": 50 + i, "sex": "male", "count": 1},
                 ["immediate_danger"]) for i in range(6)]
for line in lines: print(json.dumps(line, ensure_ascii=False))
PY
"$samu" intake "$SAMU_LOCAL/run/demo-chains.ndjson" >/dev/null
ids=($(python3 -c 'import json, sys; [print(json.loads(l)["event_id"]) for l in open(sys.argv[1])]' "$SAMU_LOCAL/run/demo-chains.ndjson"))
case_of() { sql "select case_id from cases where report_id = '$1'"; }
for _ in $(seq 60); do [ -n "$(case_of "${ids[1]}")" ] && [ -n "$(case_of "${ids[0]}")" ] && break; sleep 1; done
child="$(case_of "${ids[0]}")"; family="$(case_of "${ids[1]}")"
echo "  a mother and two children: one bed each, together →" \
  "$(sql "select string_agg(beds || ' ' || bed_type || ' beds at ' || shelter_id, ', ') from bed_ledger where case_id = '$family' and action = 'hold'")"
first_shelter="$(sql "select shelter_id from bed_ledger where case_id = '$family' and action = 'hold' order by entry_id limit 1")"
"$samu" shelter decline --shelter "$first_shelter" --case "$family" --reason "the family room is being repaired" | sed 's/^/  /'
for _ in $(seq 30); do [ "$(sql "select count(*) from bed_ledger where case_id = '$family' and action = 'hold'")" -ge 2 ] && break; sleep 1; done
held_after="$(sql "select coalesce(sum(beds), 0) from bed_ledger where case_id = '$family' and action = 'hold' and shelter_id <> '$first_shelter'")"
echo "  samu held the next fitting beds →" \
  "$(sql "select coalesce(string_agg(beds || ' ' || bed_type || ' beds at ' || shelter_id, ', ' order by entry_id), 'none free') from bed_ledger where case_id = '$family' and action = 'hold' and shelter_id <> '$first_shelter'")" \
  "$([ "$held_after" -lt 3 ] && echo "(split, $((3 - held_after)) still without a bed: samu keeps looking while the crew is on its way)")"
echo "  the child's referral: $(sql "select destination || ', due ' || to_char(due_at at time zone 'Africa/Casablanca', 'HH24:MI') || ' (Morocco)' from referrals where case_id = '$child'")"
# Nadia, of the child-protection body, acknowledges it and records the decision, as on the console.
jar="$SAMU_LOCAL/run/demo-nadia.headers"
me="$(curl -s -D "$jar" -X POST "http://$SAMU_CONSOLE_ADDRESS/api/login" -H 'Content-Type: application/json' \
  --data "{\"operator_id\":\"nadia\",\"password\":\"$(login nadia)\"}")"
csrf="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["csrf_token"])' "$me")"
cookie="$(grep -i '^set-cookie: samu_session=' "$jar" | head -1 | sed -E 's/^[^:]+: ([^;]+);.*/\1/' | tr -d '\r')"
for body in '{"command":"acknowledge_referral","reason":"received by the duty officer"}' \
  '{"command":"decide_referral","decision":"family_reunification","reason":"his aunt in Salé takes him tomorrow"}'; do
  curl -s -o /dev/null -X POST "http://$SAMU_CONSOLE_ADDRESS/api/cases/$child/commands" -H "Cookie: $cookie" \
    -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' --data "$body"
  sleep 2
done
for _ in $(seq 30); do [ "$(sql "select status from referrals where case_id = '$child'")" = decided ] && break; sleep 1; done
echo "  after Nadia: $(sql "select status || ' by ' || decided_by || ': ' || decision || ' (acknowledged by ' || acknowledged_by || ')' from referrals where case_id = '$child'")"
echo "  Midelt, six people in danger at once and three crews: a neighbour area lends its crews once a P1 waits ${SAMU_ESCALATE_P1_SECONDS} s:"
for _ in $(seq 90); do [ "$(sql "select count(*) from aid_exchanges where side = 'requester' and status = 'confirmed'")" -ge 1 ] && break; sleep 1; done
sql "select '    ' || d.unit_id || ' → case ' || left(d.case_id::text, 8) || ' in ' || d.zone || ': ' || d.reason from decisions d where d.reason like 'mutual aid:%' order by d.decided_at"
echo
echo "== 10. The night report of the week's busiest night ($busiest), in HTML and PNG:"
"$samu" report --night "$busiest" --output "$SAMU_LOCAL/demo-report" | sed 's/^/  /'
echo
echo "== 11. The operator console, live:"
echo "  http://$SAMU_CONSOLE_ADDRESS   operator: fatima / $(login fatima)   supervisor: karim / $(login karim)"
echo "  child protection (acknowledges and decides the children's referrals): nadia / $(login nadia)"
echo "  the shelter page of Rabat's emergency shelter: http://$SAMU_CONSOLE_ADDRESS/shelter   hassan / $(login hassan)"
# Karim, supervisor, enrols two Rabat crews' phones (one-time codes, valid 15 minutes), as on the console.
jar="$SAMU_LOCAL/run/demo-karim.headers"
me="$(curl -s -D "$jar" -X POST "http://$SAMU_CONSOLE_ADDRESS/api/login" -H 'Content-Type: application/json' \
  --data "{\"operator_id\":\"karim\",\"password\":\"$(login karim)\"}")"
csrf="$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["csrf_token"])' "$me")"
cookie="$(grep -i '^set-cookie: samu_session=' "$jar" | head -1 | sed -E 's/^[^:]+: ([^;]+);.*/\1/' | tr -d '\r')"
for unit in rabat-u1 rabat-u2; do
  link="$(curl -s -X POST "http://$SAMU_CONSOLE_ADDRESS/api/units/$unit/enrolments" -H "Cookie: $cookie" \
    -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' --data '{}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["link"])')"
  echo "  crew app of $unit (open on the crew's phone within 15 minutes): http://$SAMU_CONSOLE_ADDRESS$link"
done
echo "  (passwords in $secrets/console-logins.json; hotline token in $secrets/intake-token)"
echo "  metrics: http://$SAMU_CONSOLE_OPS_ADDRESS/metrics (console), http://$SAMU_WORKER_HTTP_ADDRESS/metrics (worker)"
echo "  health:  http://$SAMU_CONSOLE_OPS_ADDRESS/health/ready, http://$SAMU_WORKER_HTTP_ADDRESS/health/ready"
if [ $wait_at_end -eq 1 ]; then
  echo "demo: the worker and the console keep running; Ctrl-C stops them."
  trap 'echo; echo "demo: stopping"' INT
  wait "$console" || true
fi
kill -TERM "$console" 2>/dev/null || true
wait "$console" 2>/dev/null || true
kill -TERM "$worker"
wait "$worker" || true
trap - EXIT
echo "demo: worker stopped on SIGTERM; its last lines:"
tail -n 3 "$log"
