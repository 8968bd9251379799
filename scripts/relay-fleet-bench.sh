#!/usr/bin/env bash
# The relay fleet benchmark of issue 29, run by hand (not by CI): nginx with docs/DEPLOY.md's configuration in front
# of a release relay and the soak's fake upstream; added round-trip latency against nginx alone, recordings finalized
# per second when a second SIGTERM cuts a drain of 100 sessions short, a drain that ends by itself, no session dropped.
# scripts/relay_fleet/bench.py says what it measures. Exit 1 when a check failed (the run's folder is kept and named).
#   scripts/relay-fleet-bench.sh [--no-build] [bench.py's options: --round-trips N --sessions N --only latency,cut,natural --keep]
# DELTATAPE_RELAY_BIN=DIR uses the deltatape-relay in DIR and builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
extra=()
for argument in "$@"; do
    case "$argument" in
        --no-build) build=0 ;;
        -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) extra+=("$argument") ;;
    esac
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$nginx" ]] || { echo "relay-fleet-bench: no nginx (scripts/setup.sh --test installs it)" >&2; exit 1; }
if [[ -n "${DELTATAPE_RELAY_BIN:-}" ]]; then
    bin=$DELTATAPE_RELAY_BIN
else
    [[ $build -eq 1 ]] && swift build --package-path Relay -c release --product deltatape-relay
    bin=$(swift build --package-path Relay -c release --show-bin-path)
fi
[[ -x "$bin/deltatape-relay" ]] || { echo "relay-fleet-bench: no deltatape-relay in $bin" >&2; exit 1; }
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ beside the scripts (bench.py imports fleet.py)
echo "relay-fleet-bench: nginx + relay against nginx alone; drains of 100 sessions ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
exec python3 scripts/relay_fleet/bench.py --bin "$bin" --speech TestAudio/assistant-speech.wav --nginx "$nginx" "${extra[@]}"
