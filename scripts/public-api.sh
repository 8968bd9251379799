#!/usr/bin/env bash
# Counts what `import DeltaTape` shows a library user: the public types and symbols in the symbol graphs of the
# library's modules (SPI and package declarations are not in them). Issue 24 bounds them (at most 60 types, 400 symbols).
#   scripts/public-api.sh            the counts, per module and in all
#   scripts/public-api.sh --list     also every public type, by module
#   scripts/public-api.sh --check    exit 1 past the bounds
set -euo pipefail
cd "$(dirname "$0")/.."
# SwiftPM exits 1 when it cannot emit the graphs of the test-discovery modules (not built unless the tests are); the
# library's graphs are written all the same, and each is checked for below. Old graphs are removed first.
rm -rf "$(swift build --show-bin-path)/../symbolgraph"
graphs=$( (swift package dump-symbol-graph --minimum-access-level public 2>/dev/null || true) | sed -n 's/^Files written to //p')
[[ -n "$graphs" ]] || { echo "public-api: swift package dump-symbol-graph wrote no symbol graphs" >&2; exit 1; }
python3 - "$graphs" "${1:-}" <<'PY'
import collections, glob, json, os, sys
folder, mode = sys.argv[1], sys.argv[2]
modules = ["DeltaTape", "DeltaTapeKernels", "DeltaTapeEvents", "DeltaTapeTimeline", "DeltaTapeCodecs", "DeltaTapeContainers"]
type_kinds = {"swift.struct", "swift.class", "swift.enum", "swift.protocol", "swift.typealias", "swift.actor"}
total_types = total_symbols = 0
for module in modules:
    symbols = []
    main_graph = os.path.join(folder, module + ".symbols.json")
    if not os.path.exists(main_graph):
        sys.exit(f"public-api: no symbol graph for {module} in {folder}")
    for path in [main_graph] + glob.glob(os.path.join(folder, module + "@*.symbols.json")):
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
