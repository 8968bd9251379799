#!/usr/bin/env bash
# `swift build ARGUMENTS...`, its output shown as it comes, failing when the compiler warned about one of the project's
# own files (Sources/, Tests/, Relay/, Benchmarks/, Fuzz/, Examples/; not the dependencies under .build/). scripts/test.sh
# builds through it, so CI fails on a new warning. (A warnings-as-errors flag in Package.swift would need unsafeFlags,
# which the manifest keeps out, or apply to Relay/'s and Benchmarks/' builds of this package too; and a build only
# compiles what changed, which is where a new warning comes from.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build "$@" 2>&1 | tee "$log"
# file:line:column: warning: …, from a file of the project's own.
own=$(grep -E '^/[^ ]+:[0-9]+:[0-9]+: warning: ' "$log" | grep -F "$root/" | grep -vF '/.build' | sort -u || true)
if [[ -n "$own" ]]; then
    echo "build-checked: the compiler warned about the project's own code ($(wc -l <<<"$own") warnings); fix them, a warning fails CI:" >&2
    echo "$own" >&2
    exit 1
fi
