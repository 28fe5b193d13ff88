#!/usr/bin/env bash
# Makes sure a Chromium is there for the headless workers: the system one (Debian's
# `chromium`), installed with apt-get when we are root, else Playwright's own if present.
set -euo pipefail
for b in /usr/bin/chromium /usr/lib/chromium/chromium /usr/bin/chromium-browser /usr/bin/google-chrome "${TABSWARM_CHROMIUM:-}"; do
  [ -n "$b" ] && [ -x "$b" ] && exit 0
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tabswarm: installing Debian's chromium for the headless workers…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  exit 0
fi
if ls "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium* >/dev/null 2>&1; then exit 0; fi
echo "tabswarm: no Chromium found. Install one (Debian: apt-get install chromium) or run: npx playwright install chromium" >&2
exit 1
