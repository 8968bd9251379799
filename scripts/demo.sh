#!/usr/bin/env bash
# The README's first command: install what is missing, build, and convert a bundled session log (WebM Opus, and WAV).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 TestAudio/make-sessions.py TestAudio/generated >/dev/null
# swift build's own progress, straight to the terminal (a first build takes about a minute).
echo "demo: building deltatape (release)" >&2
swift build --product deltatape -c release >&2
deltatape="$(swift build -c release --show-bin-path)/deltatape"
echo "demo: built $deltatape (scripts/install.sh puts it on PATH)" >&2
"$deltatape" inspect TestAudio/generated/ga-basic.jsonl | head -4
"$deltatape" convert TestAudio/generated/ga-basic.jsonl -o TestAudio/generated/demo.webm
"$deltatape" convert TestAudio/generated/ga-basic.jsonl -o TestAudio/generated/demo.wav
