#!/usr/bin/env bash
# Installs the browser the web-page tests (tests/ui) drive: Debian's chromium, from the
# system's own APT sources. Playwright (the dev extra) drives it through /usr/bin/chromium
# over the DevTools protocol (no chromedriver); Playwright's own browser download is never
# used.
#
# Idempotent: does nothing when chromium is already installed. Needs root (or sudo) the
# first time; without either it says what to run and exits non-zero.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "installing chromium needs root: run 'sudo apt-get install chromium'" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium
echo "installed $(chromium --version)"
