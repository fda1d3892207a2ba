#!/usr/bin/env bash
# Installs what building, running and testing Rampart need, only when it is missing.
# Sourced by ./run, ./test and bench/run. Safe to run repeatedly.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if [ "${RAMPART_TEST:-0}" = 1 ]; then
  # The shared rate-limit store's tests run a real Redis.
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
fi
if [ "${RAMPART_BENCH:-0}" = 1 ]; then
  command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
  command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
  command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust from https://rustup.rs first" >&2
  exit 1
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import flask, gunicorn' >/dev/null 2>&1; then
  echo "==> installing the example app's Python packages (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check -r "$(dirname "${BASH_SOURCE[0]}")/../examples/legacy_app/requirements.txt"
fi
