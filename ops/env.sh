# Sourced by the ops scripts: where the embedded default lives. Safe to source twice.
SAMU_ROOT="${SAMU_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SAMU_LOCAL="${SAMU_LOCAL:-$SAMU_ROOT/.local}"
SAMU_KAFKA_PORT="${SAMU_KAFKA_PORT:-19092}"
SAMU_PG_PORT="${SAMU_PG_PORT:-15432}"
# The private cluster listens on loopback only; this development password is not a secret.
SAMU_PG_PASSWORD="${SAMU_PG_PASSWORD:-samu-local}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
export SAMU_ROOT SAMU_LOCAL SAMU_KAFKA_PORT SAMU_PG_PORT SAMU_PG_PASSWORD PG_BIN
# librdkafka >= 2.1 at run time (Debian's 2.0.2 is only for building).
case ":${LD_LIBRARY_PATH:-}:" in *":$SAMU_LOCAL/lib:"*) ;; *) export LD_LIBRARY_PATH="$SAMU_LOCAL/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}";; esac
export SAMU_KAFKA_BOOTSTRAP_SERVERS="${SAMU_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$SAMU_KAFKA_PORT}"
export SAMU_DATABASE_URL="${SAMU_DATABASE_URL:-postgres://samu:$SAMU_PG_PASSWORD@127.0.0.1:$SAMU_PG_PORT/samu}"
# The local broker joins a group in ~3 s with a 6 s session timeout (~23 s with Kafka's 45 s default).
export SAMU_KAFKA_SESSION_TIMEOUT_MS="${SAMU_KAFKA_SESSION_TIMEOUT_MS:-6000}"
