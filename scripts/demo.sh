#!/usr/bin/env bash
# The README's first command: install what is missing, build, and convert a bundled session log (WebM Opus, and WAV).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 TestAudio/make-sessions.py TestAudio/generated >/dev/null
swift build --product deltatape -c release 2>&1 | grep -E "error:|Build complete" >&2 || true
deltatape=".build/release/deltatape"
"$deltatape" inspect TestAudio/generated/ga-basic.jsonl | head -4
"$deltatape" convert TestAudio/generated/ga-basic.jsonl -o TestAudio/generated/demo.webm
"$deltatape" convert TestAudio/generated/ga-basic.jsonl -o TestAudio/generated/demo.wav
