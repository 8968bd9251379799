#!/usr/bin/env bash
# The README's second command: install what is missing (libraries and reference tools), then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
swift build --build-tests
swift test --skip-build --disable-xctest "$@"
