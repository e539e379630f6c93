#!/usr/bin/env bash
# The test command (README command 2, and what .ci/run calls): fast tests, then the slow real-model ones.
# Installs the Debian packages the tests use when they are missing: chromium for the browser tests
# (Playwright's own browser download is not reachable offline) and packages.txt (Apertium, the offline
# translators; what a Space installs). Needs root or sudo for that one step.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=""
command -v chromium >/dev/null 2>&1 || missing="chromium"
for pkg in $(cat packages.txt); do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages for the tests:$missing (apt-get)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
export XLT_DATA_DIR="${XLT_DATA_DIR:-$(cd ../shared/data 2>/dev/null && pwd || echo ../shared/data)}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec .venv/bin/python -m pytest -q -m "slow or not slow" "$@"
