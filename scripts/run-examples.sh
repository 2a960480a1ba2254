#!/usr/bin/env bash
# Builds the Examples package, which depends on Graft by path and imports only `Graft`, and runs
# each program on the fixture photos (three classes of four JPEGs, at 32², a few steps), checking
# what each prints. `make test` runs it, so the examples cannot rot.
set -euo pipefail
cd "$(dirname "$0")/../Examples"
SWIFT="${SWIFT:-swift}"
photos="$(cd ../../shared/fixtures/imagefolder && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "Building the examples (Graft as a dependency)…"
"$SWIFT" build -c release 2>&1 | grep -E "error|warning: |Compiling Graft |Build complete" || true
bin="$("$SWIFT" build -c release --show-bin-path)"
catalog="$work/catalog.sqlite"

expect() {  # pattern program args…: runs the program and fails unless its output matches
  local pattern="$1"; shift
  local output
  output="$("$bin/$@" 2>&1)" || { echo "$output"; echo "FAILED: $*" >&2; exit 1; }
  echo "$output" | sed 's/^/  /'
  grep -Eq "$pattern" <<<"$output" || { echo "FAILED: $1 printed nothing matching /$pattern/" >&2; exit 1; }
}

echo "fine-tune:"; expect "^run 1: best checkpoint [0-9]+" fine-tune "$photos" "$catalog" 4
echo "best-checkpoints:"; expect "^adam: checkpoint [0-9]+, run 1" best-checkpoints "$catalog"
echo "snapshot-ensemble:"; expect "^probs: accuracy [0-9.]+" snapshot-ensemble "$catalog" 1
echo "predict:"; expect "[0-9.]+% (daisy|rose|tulip)" predict "$catalog" 1 "$photos/rose/rose_00.jpg"
echo "examples: all four ran"
