#!/usr/bin/env bash
# The relay as users run it: a release build of deltatape-relay, driven end to end. The relay's tests run a debug
# build, and a defect only optimized builds had (SIGTERM and SIGINT ignored: the signal sources were released after
# their last use) passed all of them; this catches that class.
#   1. relay-benchmark, a few short sessions: frames both ways through the relay, each recording finished after SIGINT;
#   2. SIGTERM to an idle relay: exit 0 at once (nothing to drain).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --package-path Relay -c release --product deltatape-relay
swift build --package-path Relay -c release --product relay-benchmark
bin=$(swift build --package-path Relay -c release --show-bin-path)

folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT

echo "relay-smoke: 4 sessions of 3 s through a release relay"
# To a file, not through a pipe: a relay that ignores SIGINT would outlive the benchmark and hold a pipe open. timeout
# signals its whole process group, the relay included, and kills what is left 5 s later.
status=0
timeout --kill-after=5 120 "$bin/relay-benchmark" --sessions 4 --seconds 3 --format ogg >"$folder/report" || status=$?
cat "$folder/report"
if [[ $status -ne 0 ]]; then
    echo "relay-smoke: relay-benchmark failed or hung (status $status; 124 is a timeout: did the relay ignore SIGINT?)" >&2
    exit 1
fi
grep -q "4 of 4 recordings finished" "$folder/report" || {
    echo "relay-smoke: expected 4 of 4 recordings finished" >&2
    exit 1
}

echo "relay-smoke: SIGTERM to an idle release relay"
"$bin/deltatape-relay" --listen 127.0.0.1:0 --upstream ws://127.0.0.1:9 --output-dir "$folder/out" \
    --drain-timeout 1 2>"$folder/stderr" &
relay=$!
for _ in $(seq 100); do
    grep -q "listening on" "$folder/stderr" && break
    sleep 0.1
done
grep -q "listening on" "$folder/stderr" || { echo "relay-smoke: the relay did not start" >&2; cat "$folder/stderr" >&2; exit 1; }
kill -TERM "$relay"
for _ in $(seq 100); do
    kill -0 "$relay" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$relay" 2>/dev/null; then
    kill -KILL "$relay"
    echo "relay-smoke: the relay ignored SIGTERM for 10 s" >&2
    exit 1
fi
status=0
wait "$relay" || status=$?
[[ $status -eq 0 ]] || { echo "relay-smoke: exit status $status after SIGTERM, expected 0" >&2; cat "$folder/stderr" >&2; exit 1; }
echo "relay-smoke: passed"
