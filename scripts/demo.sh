#!/usr/bin/env bash
# Installs what is missing, builds, and streams 400 tokens from the bundled
# stories260K through a 4-sink + 60-token window cache: generation runs well
# past the cache size, evicting as it goes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/sinkstream generate --policy sinks --sinks 4 --window 60 --max-tokens 400 \
  --temperature 0.8 --top-p 0.9 --seed 7 --prompt "Once upon a time" "$@"
