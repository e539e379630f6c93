#!/usr/bin/env bash
# The test command (README command 2, and what .ci/run calls): fast tests, then the slow real-model ones.
# Installs Debian's chromium for the browser tests when it is missing (Playwright's own browser download is
# not reachable offline); needs root or sudo for that one step.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing chromium for the browser tests (apt-get)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export XLT_DATA_DIR="${XLT_DATA_DIR:-$(cd ../shared/data 2>/dev/null && pwd || echo ../shared/data)}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec .venv/bin/python -m pytest -q -m "slow or not slow" "$@"
