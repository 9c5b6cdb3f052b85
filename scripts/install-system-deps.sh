#!/usr/bin/env bash
# Installs the real servers the tests run against (none are mocked):
#   redis-server (Debian), promtool (Debian prometheus), chromium (Debian) for browser tests,
#   anvil (npm @foundry-rs/anvil-linux-amd64) as a local Ethereum node -> .tools/bin/anvil.
# Idempotent; safe to re-run. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "apt: installing ${need_apt[*]} ..." >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  # The Debian packages start their daemons; the tests start their own on free ports.
  $SUDO systemctl stop redis-server prometheus 2>/dev/null || true
  pkill -x redis-server 2>/dev/null || true
  pkill -x prometheus 2>/dev/null || true
fi

if [ ! -x .tools/bin/anvil ]; then
  echo "npm: installing anvil into .tools ..." >&2
  mkdir -p .tools/bin
  npm install --silent --prefix .tools @foundry-rs/anvil-linux-amd64 >&2
  found=$(find .tools/node_modules/@foundry-rs -type f -name anvil | head -n 1)
  [ -n "$found" ] || { echo "anvil binary not found in the npm package" >&2; exit 1; }
  chmod +x "$found"
  ln -sf "$(realpath "$found")" .tools/bin/anvil
fi
.tools/bin/anvil --version >&2
