#!/usr/bin/env bash
# Runs the browser end-to-end tests: builds the server, starts it on a free loopback port and
# drives Debian's Chromium through playwright-core. Usage: bash e2e/run.sh [node --test args]
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "e2e: Chromium is missing at $CHROMIUM_PATH." >&2
  echo "e2e: install it with: apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v node >/dev/null 2>&1; then
  echo "e2e: Node.js 20 or newer is needed: apt-get install -y nodejs npm" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "e2e: the Go toolchain is needed to build the server." >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi
export CHROMIUM_PATH
exec node --test --test-concurrency=1 "$@" tests/
