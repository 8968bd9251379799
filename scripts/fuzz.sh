#!/usr/bin/env bash
# Fuzzes DeltaTape's message reading with libFuzzer for SECONDS (default 600): builds Fuzz/ with AddressSanitizer
# and coverage, replays Fuzz/Regressions/, then mutates the seed corpus. Exits non-zero on a crash, leak or hang;
# the input that caused it is written to Fuzz/.build/findings/. See docs/FUZZING.md.
#
# Usage: scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#        scripts/fuzz.sh --build-only      (what CI runs, so that the target never rots)
# Environment: FUZZ_CONFIGURATION=debug builds without optimization (about 7 times fewer executions a second, but
#              debug-only assertions run).
set -euo pipefail
seconds="${1:-600}"
shift || true
configuration="${FUZZ_CONFIGURATION:-release}"
cd "$(dirname "$0")/../Fuzz"

# The whole graph (DeltaTape's targets too) is instrumented for coverage and the address sanitizer; C kernels as well.
# Optimized builds keep Swift's bounds, overflow and precondition checks. Fuzz/.build is this package's own build
# folder: the main package's .build is left alone.
swift build -c "$configuration" --scratch-path .build \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xcc -fsanitize=fuzzer-no-link,address
fuzzer=".build/$configuration/MessageFuzzer"
if [ "$seconds" = "--build-only" ]; then
    exit 0
fi

mkdir -p .build/corpus .build/findings
# The Swift runtime's own crash reporter would race libFuzzer's; the sanitizer and libFuzzer report instead.
export SWIFT_BACKTRACE=enable=no

if compgen -G "Regressions/*" > /dev/null; then
    echo "Replaying Fuzz/Regressions/"
    "$fuzzer" -runs=1 Regressions/*
fi

# New inputs go to .build/corpus (first folder); Seeds/ is read only. -timeout: an input running 10 s is a hang.
"$fuzzer" .build/corpus Seeds \
    -max_total_time="$seconds" -dict=MessageFuzzer.dict -max_len=8192 -timeout=10 \
    -artifact_prefix=.build/findings/ -print_final_stats=1 "$@"
