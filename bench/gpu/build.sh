#!/usr/bin/env bash
# Rebuilds .gpu/bench.cjs from .gpu/src/bench.ts (run on the dev machine, in the repo root).
set -euo pipefail
cd "$(dirname "$0")/.."
node_modules/.bin/esbuild .gpu/src/bench.ts --bundle --platform=node --target=node20 --format=cjs \
  --outfile=.gpu/bench.cjs --log-level=warning --legal-comments=none --minify-whitespace
