#!/usr/bin/env bash
# The README's second command: install what is missing (libraries and reference tools), then run every test: the
# package's, then the relay's (Relay/ is a package of its own, so that only it builds SwiftNIO and Hummingbird).
# Arguments (a --filter, say) go to the package's tests; with arguments the relay's are not run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# A compiler warning about the project's own code fails the run (scripts/build-checked.sh says why it is done this way).
scripts/build-checked.sh --build-tests
swift test --skip-build --disable-xctest "$@"
if [[ $# -eq 0 ]]; then
    echo "test: the relay (Relay/)"
    # Optimized, in a build folder of its own: the test process plays every client and fake upstream at real-time
    # pace, and unoptimized NIO (WebSocket masking a byte at a time) and log parsing kept both cores busy; its late
    # handshakes and frames failed tests that have nothing to do with speed (the suite: 50 s and flaky in a debug
    # build, 20 s and steady in this one). A folder of its own, so that the release relay users install (built
    # without -enable-testing) and this build never rebuild each other.
    relay_tests=(--package-path Relay -c release -Xswiftc -enable-testing --scratch-path Relay/.build-tests)
    scripts/build-checked.sh "${relay_tests[@]}" --build-tests
    # The memory tests push hundreds of MiB through a relay and read its peak memory: on their own, so that their bulk
    # neither starves the timing-bound tests beside them nor shares their measurements with them.
    swift test "${relay_tests[@]}" --skip-build --disable-xctest --skip RelayMemoryTests
    swift test "${relay_tests[@]}" --skip-build --disable-xctest --filter RelayMemoryTests
fi
