#!/usr/bin/env bash
# Runs the whole suite. Multi-peer tests (real WebRTC, Chromium) must stay on loopback, so
# as root the suite runs inside a fresh network namespace that has only `lo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && [ -z "${TABSWARM_NETNS:-}" ] && command -v unshare >/dev/null; then
  exec unshare -n bash -c 'ip link set lo up && TABSWARM_NETNS=1 exec npx vitest run "$@"' _ "$@"
fi
exec npx vitest run "$@"
