#!/usr/bin/env bash
# Fuzzes DeltaTape's message reading with libFuzzer for SECONDS (default 600): builds Fuzz/ with AddressSanitizer
# and coverage, replays Fuzz/Regressions/, then mutates the seed corpus. Exits non-zero on a crash, leak or hang;
# the input that caused it is written to Fuzz/.build/findings/. See docs/FUZZING.md.
#
# Usage: scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
#        scripts/fuzz.sh --build-only      (what CI runs, so that the target never rots)
# Environment: FUZZ_CONFIGURATION=debug builds without optimization (about 7 times fewer executions a second, but
#              debug-only assertions run).
#              FUZZ_TARGET=RepairFuzzer fuzzes `deltatape repair` instead (files of any bytes, seeded with real
#              recordings cut short: Fuzz/RepairSeeds/, regressions in Fuzz/RepairRegressions/).
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
target="${FUZZ_TARGET:-MessageFuzzer}"
fuzzer=".build/$configuration/$target"
if [ "$seconds" = "--build-only" ]; then
    exit 0
fi
case "$target" in
MessageFuzzer) seeds=Seeds regressions=Regressions corpus=.build/corpus tuning=(-dict=MessageFuzzer.dict -max_len=8192) ;;
RepairFuzzer) seeds=RepairSeeds regressions=RepairRegressions corpus=.build/corpus-repair tuning=(-max_len=65536) ;;
*) echo "fuzz.sh: no fuzz target $target (MessageFuzzer, RepairFuzzer)" >&2; exit 64 ;;
esac

mkdir -p "$corpus" .build/findings
# The Swift runtime's own crash reporter would race libFuzzer's; the sanitizer and libFuzzer report instead.
export SWIFT_BACKTRACE=enable=no

if compgen -G "$regressions/*" > /dev/null; then
    echo "Replaying Fuzz/$regressions/"
    "$fuzzer" -runs=1 "$regressions"/*
fi

# New inputs go to the corpus folder (the first); the seeds are read only. -timeout: an input running 10 s is a hang.
"$fuzzer" "$corpus" "$seeds" \
    -max_total_time="$seconds" "${tuning[@]}" -timeout=10 \
    -artifact_prefix=.build/findings/ -print_final_stats=1 "$@"
