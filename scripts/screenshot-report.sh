#!/usr/bin/env bash
# Renders an HTML report to a PNG with headless Chromium, to check plots by eye.
# Usage: scripts/screenshot-report.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# Needs `chromium` (Debian: apt-get install chromium); not installed by install-deps.sh.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
report=$1
out=$2
size=${3:-1200x1600}

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [ -z "$browser" ]; then
  echo "chromium not found; install it with: apt-get install -y chromium" >&2
  exit 1
fi
if [ ! -f "$report" ]; then
  echo "no such report: $report" >&2
  exit 1
fi

abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --screenshot="$out_abs" --window-size="${size/x/,}" "file://$abs" 2>/dev/null
echo "$out_abs"
