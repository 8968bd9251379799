#!/usr/bin/env bash
# Counts what `import DeltaTape` shows a library user: the public types and symbols in the symbol graphs of the
# library's modules (SPI and package declarations are not in them). Issue 24 bounds them (at most 60 types, 400 symbols).
#   scripts/public-api.sh            the counts, per module and in all
#   scripts/public-api.sh --list     also every public type, by module
#   scripts/public-api.sh --check    exit 1 past the bounds
set -euo pipefail
cd "$(dirname "$0")/.."
graphs=$(swift package dump-symbol-graph --minimum-access-level public 2>/dev/null | sed -n 's/^Files written to //p')
python3 - "$graphs" "${1:-}" <<'PY'
import collections, glob, json, os, sys
folder, mode = sys.argv[1], sys.argv[2]
modules = ["DeltaTape", "DeltaTapeKernels", "DeltaTapeEvents", "DeltaTapeTimeline", "DeltaTapeCodecs", "DeltaTapeContainers"]
type_kinds = {"swift.struct", "swift.class", "swift.enum", "swift.protocol", "swift.typealias", "swift.actor"}
total_types = total_symbols = 0
for module in modules:
    symbols = []
    for path in glob.glob(os.path.join(folder, module + ".symbols.json")) + glob.glob(os.path.join(folder, module + "@*.symbols.json")):
        symbols += json.load(open(path))["symbols"]
    types = sorted(".".join(s["pathComponents"]) for s in symbols if s["kind"]["identifier"] in type_kinds)
    print(f"{module}: {len(types)} types, {len(symbols)} symbols")
    if mode == "--list":
        for name in types:
            print("   ", name)
    total_types += len(types)
    total_symbols += len(symbols)
print(f"public API: {total_types} types, {total_symbols} symbols (bounds: 60 types, 400 symbols)")
if mode == "--check" and (total_types > 60 or total_symbols > 400):
    sys.exit(1)
PY
