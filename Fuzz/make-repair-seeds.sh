#!/usr/bin/env bash
# Writes Fuzz/RepairSeeds/: short recordings in every form `deltatape repair` reads (WAV finished and streamed, Ogg
# Opus, WebM finished and live), whole and cut short as a kill leaves them, from the first lines of ga-basic.
# Usage: Fuzz/make-repair-seeds.sh [path/to/deltatape]   (default: the main package's debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
deltatape=${1:-.build/debug/deltatape}
log=TestAudio/generated/ga-basic.jsonl
[[ -f $log ]] || python3 TestAudio/make-sessions.py TestAudio/generated >/dev/null
out=Fuzz/RepairSeeds
rm -rf "$out"
mkdir -p "$out"
short=$(mktemp)
trap 'rm -f "$short"' EXIT
head -n 60 "$log" >"$short"
"$deltatape" convert "$short" -o "$out/finished.wav" --rate 8000 --quiet
# Through a pipe, as streams are written (standard output redirected to a file would be seekable, and finalized).
"$deltatape" convert "$short" -o - --format wav --rate 8000 --quiet | cat >"$out/streamed.wav"
head -n 25 "$log" >"$short"
"$deltatape" convert "$short" -o "$out/stereo.wav" --track both --rate 8000 --quiet
head -n 60 "$log" >"$short"
"$deltatape" convert "$short" -o "$out/finished.ogg" --complexity 0 --quiet
"$deltatape" convert "$short" -o "$out/finished.webm" --complexity 0 --quiet
"$deltatape" convert "$short" -o - --format webm --complexity 0 --quiet | cat >"$out/live.webm"
for file in "$out"/*; do
    size=$(stat -c %s "$file")
    head -c $((size * 2 / 3)) "$file" >"${file%.*}-cut.${file##*.}"
    head -c $((size / 5)) "$file" >"${file%.*}-cut-early.${file##*.}"
done
ls -l "$out"
