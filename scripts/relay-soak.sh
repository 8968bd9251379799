#!/usr/bin/env bash
# The relay soak of issue 27, run by hand (not by CI: it takes its minutes and both cores): three release relays (WAV,
# Ogg, WebM) behind a fake upstream on loopback, driven in waves of normal recording sessions mixed with every attack of
# issue 27 at once, while each relay's threads, descriptors and RSS are sampled from /proc. At the end it reports them
# (before, max during, after), sessions completed, attacks and how each was answered, and every recording read by
# ffmpeg and Python's wave against what the upstream sent; one JSON line too. Exit 1 when a check failed.
# docs/TESTING.md ("The relay soak") says what it does and checks.
#   scripts/relay-soak.sh [--minutes N] [--max-rss-mb MB] [--seed N] [--keep] [--no-build] [-- soak.py options]
# --minutes: how long waves are started (10; fractions allowed); --max-rss-mb: the peak RSS a relay may reach (2048);
# --keep: keep the recordings of a passing run (a failing run keeps everything); --no-build: use the release build as
# it is. The run's folder is .build-soak/run-<UTC time>/ (report.txt, summary.json, each relay's stderr, samples).
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=10
max_rss=2048
keep=0
build=1
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --minutes) minutes=${2:?--minutes needs a number}; shift 2 ;;
        --max-rss-mb) max_rss=${2:?--max-rss-mb needs a number}; shift 2 ;;
        --seed) extra+=(--seed "${2:?--seed needs a number}"); shift 2 ;;
        --keep) keep=1; shift ;;
        --no-build) build=0; shift ;;
        --) shift; extra+=("$@"); break ;;
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "relay-soak: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
[[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "relay-soak: --minutes $minutes: expected a number of minutes" >&2; exit 64; }
[[ $max_rss =~ ^[0-9]+$ ]] || { echo "relay-soak: --max-rss-mb $max_rss: expected a number of MiB" >&2; exit 64; }
for tool in python3 ffmpeg; do
    command -v "$tool" >/dev/null || { echo "relay-soak: $tool is missing (scripts/setup.sh --test installs it)" >&2; exit 1; }
done

scripts/setup.sh
if [[ $build -eq 1 ]]; then
    nice -n 19 swift build --package-path Relay -c release --product deltatape-relay
fi
bin=$(swift build --package-path Relay -c release --show-bin-path)
[[ -x $bin/deltatape-relay ]] || { echo "relay-soak: no release build at $bin (run without --no-build)" >&2; exit 1; }

export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ beside the scripts
run="$PWD/.build-soak/run-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run"
: >"$run/report.txt"  # before tail follows it
soak=""
follow=""
# Everything the soak starts (relays, the fake upstream, killed clients) is in timeout's process group. (Called by the
# traps only, which shellcheck does not see.)
# shellcheck disable=SC2317
stop() {
    [[ -n $soak ]] && kill -TERM -- "-$soak" 2>/dev/null
    [[ -n $follow ]] && kill "$follow" 2>/dev/null
    return 0
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

# Waves stop starting after --minutes; the last one, the settling and the reading take a few minutes more.
limit=$(awk -v minutes="$minutes" 'BEGIN { printf "%d", (minutes + 10) * 60 }')
timeout --kill-after=10 "$limit" nice -n 19 python3 scripts/relay_soak/soak.py --bin "$bin" --folder "$run" \
    --speech TestAudio/assistant-speech.wav --minutes "$minutes" --max-rss-mb "$max_rss" "${extra[@]}" \
    >"$run/report.txt" 2>&1 &
soak=$!
tail --pid="$soak" -n +1 -f "$run/report.txt" | grep --line-buffered -v '^relay-soak-json: ' &
follow=$!
status=0
wait "$soak" || status=$?
wait "$follow" 2>/dev/null || true
soak=""
follow=""
grep '^relay-soak-json: ' "$run/report.txt" | sed 's/^relay-soak-json: //' >"$run/summary.json" || true
if [[ -s $run/summary.json ]]; then
    tail -n 1 "$run/report.txt"
fi
if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "relay-soak: the soak did not end within $limit s; killed (the run's folder: $run)" >&2
elif [[ $status -eq 0 && $keep -eq 0 ]]; then
    rm -rf "$run/wav" "$run/ogg" "$run/webm"
fi
echo "relay-soak: the run's folder is $run"
exit $((status == 0 ? 0 : 1))
