#!/usr/bin/env bash
# The benchmarks (Benchmarks/, ordo-one/package-benchmark), and the malloc budget each suite keeps.
#   scripts/benchmarks.sh run [OPTIONS]                 run suites (--target Kernels, --filter REGEX, ...)
#   scripts/benchmarks.sh thresholds-update [OPTIONS]   record each benchmark's p90 malloc count in Benchmarks/Thresholds/
#   scripts/benchmarks.sh thresholds-check [OPTIONS]    fail when a benchmark mallocs more than recorded (+2% or +20)
# OPTIONS go to the benchmark plugin. Only mallocs are recorded: they are exact on a noisy machine, times are not.
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
scripts_dir=$(pwd)/../scripts
"$scripts_dir/setup.sh"
command=${1:-run}
shift || true
plugin=(swift package --allow-writing-to-package-directory benchmark)
case "$command" in
run)
    "${plugin[@]}" --no-progress "$@"
    ;;
thresholds-update)
    # package-benchmark 1.38 writes threshold files with the spaces of a benchmark's name turned into underscores
    # but looks them up by the name as it is: the files are renamed to the name it looks for.
    recorded=$(mktemp -d)
    trap 'rm -rf "$recorded"' EXIT
    "${plugin[@]}" thresholds update --metric mallocCountTotal --no-progress --path "$recorded" "$@"
    mkdir -p Thresholds
    for file in "$recorded"/*.p90.json; do
        name=$(basename "$file")
        mv "$file" "Thresholds/${name//_/ }"
    done
    ;;
thresholds-check)
    "${plugin[@]}" thresholds check --metric mallocCountTotal --no-progress --path "$(pwd)/Thresholds" "$@"
    ;;
*)
    echo "usage: scripts/benchmarks.sh run|thresholds-update|thresholds-check [OPTIONS]" >&2
    exit 64
    ;;
esac
