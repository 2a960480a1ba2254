#!/usr/bin/env bash
# The main job on built-in defaults. Grows as the training issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .build/release/graft demo "$@"
