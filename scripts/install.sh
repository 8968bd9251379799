#!/usr/bin/env bash
# Installs deltatape and deltatape-relay into PREFIX/bin (default ~/.local/bin): installs the C libraries if they are
# missing, builds both packages in release, and copies the two binaries. Idempotent: run it again after a pull.
#   scripts/install.sh                  into ~/.local/bin
#   scripts/install.sh --prefix DIR     into DIR/bin
#   scripts/install.sh --no-relay       deltatape alone (the relay's first build of SwiftNIO and Hummingbird takes minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$HOME/.local"
relay=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix)
            [[ $# -ge 2 && -n "$2" ]] || { echo "install: error: --prefix needs a folder, for example --prefix /usr/local" >&2; exit 64; }
            prefix="$2"
            shift 2
            ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --no-relay) relay=0; shift ;;
        -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install: error: unknown argument '$1'; expected --prefix DIR or --no-relay" >&2; exit 64 ;;
    esac
done
bin="${prefix%/}/bin"

scripts/setup.sh
echo "install: building deltatape (release; a first build takes a few minutes)" >&2
swift build -c release --product deltatape
built=$(swift build -c release --show-bin-path)
mkdir -p "$bin"
# install(1) writes a new file and renames it over the old one: a running deltatape keeps its binary.
install -m 0755 "$built/deltatape" "$bin/deltatape"
echo "install: $bin/deltatape"
if [[ $relay -eq 1 ]]; then
    echo "install: building deltatape-relay (release; a first build of SwiftNIO and Hummingbird takes several minutes)" >&2
    swift build --package-path Relay -c release --product deltatape-relay
    relay_built=$(swift build --package-path Relay -c release --show-bin-path)
    install -m 0755 "$relay_built/deltatape-relay" "$bin/deltatape-relay"
    echo "install: $bin/deltatape-relay"
fi
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "install: $bin is not on PATH; add it, for example: export PATH=\"$bin:\$PATH\"" >&2 ;;
esac
