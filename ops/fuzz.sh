#!/usr/bin/env bash
# The coverage-guided fuzzer of samu's decoders (libFuzzer, the nested package Fuzz/): builds it
# with -sanitize=fuzzer and runs it for SAMU_FUZZ_SECONDS (60 by default) from the committed corpus
# (Tests/Fuzz/corpus) and the topics' examples. Fails on any crash, hang (10 s) or leak of memory
# past 2 GB; the crashing input is left in .local/fuzz/ and named in the output.
#   SAMU_FUZZ_SAVE=1 ops/fuzz.sh   also merges the inputs that found new coverage into the corpus
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. ops/env.sh
seconds="${SAMU_FUZZ_SECONDS:-60}"
work="$SAMU_LOCAL/fuzz"; rm -rf "$work/corpus"; mkdir -p "$work/corpus" "$work/seeds"

echo "fuzz: building the decoder fuzzer (libFuzzer, -sanitize=fuzzer)"
swift build --package-path Fuzz --scratch-path "$root/.build-fuzz" -Xswiftc -sanitize=fuzzer -Xswiftc -use-ld=lld \
  --product DecoderFuzzer 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
fuzzer="$root/.build-fuzz/debug/DecoderFuzzer"
[ -x "$fuzzer" ] || { echo "fuzz: FAILED: the fuzzer did not build" >&2; exit 1; }

# Seeds: the committed corpus, each topic's examples and the sample reports, one file each.
cp Tests/Fuzz/corpus/* "$work/seeds/" 2>/dev/null || true
python3 - "$work/seeds" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for topic in sorted(pathlib.Path("topics").glob("*.json")):
    for index, example in enumerate(json.loads(topic.read_bytes()).get("examples", [])):
        (out / f"example-{topic.stem}-{index}").write_text(json.dumps(example, ensure_ascii=False))
for name in ["sample-reports.ndjson", "sample-burst.ndjson"]:
    for index, line in enumerate(pathlib.Path("seeds", name).read_bytes().splitlines()):
        if line.strip():
            (out / f"{name}-{index}").write_bytes(line)
PY

echo "fuzz: running for $seconds s"
set +e
(cd "$work" && "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=80000 -print_final_stats=1 corpus seeds) >"$work/fuzz.log" 2>&1
status=$?
set -e
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$work/fuzz.log" || true
if [ "$status" -ne 0 ]; then
  tail -40 "$work/fuzz.log"
  echo "fuzz: FAILED (libFuzzer exit $status); the input is in $work (crash-*, timeout-*, oom-*)" >&2
  exit "$status"
fi
echo "fuzz: 0 crashes in $seconds s ($(grep -oE 'stat::number_of_executed_units: [0-9]+' "$work/fuzz.log" | grep -oE '[0-9]+') inputs, corpus $(ls "$work/corpus" | wc -l) new files)"
if [ "${SAMU_FUZZ_SAVE:-0}" = 1 ]; then
  "$fuzzer" -merge=1 Tests/Fuzz/corpus "$work/corpus" >/dev/null 2>&1
  echo "fuzz: merged new coverage into Tests/Fuzz/corpus ($(ls Tests/Fuzz/corpus | wc -l) files)"
fi
