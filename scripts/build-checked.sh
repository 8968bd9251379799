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
# A warning inside a macro's expansion (`#expect(try ...)`) is printed as "macro expansion #expect:1:22: warning: …"
# with the project's file on the note line after it: that file is taken instead.
own=$( { grep -E '^/[^ ]+:[0-9]+:[0-9]+: warning: ' "$log" || true
         grep -A1 -E '^macro expansion [^ ]+: warning: ' "$log" | grep -oE '/[^ ]+:[0-9]+:[0-9]+: note: expanded code originates here' || true
       } | grep -F "$root/" | grep -vF '/.build' | sort -u || true)
if [[ -n "$own" ]]; then
    echo "build-checked: the compiler warned about the project's own code ($(wc -l <<<"$own") warnings); fix them, a warning fails CI:" >&2
    echo "$own" >&2
    exit 1
fi
