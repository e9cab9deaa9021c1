#!/usr/bin/env bash
# Installs everything pocketvec's build, tests, benchmarks and demo need on Debian 12.
# Idempotent: packages already present are skipped by apt; safe to run again.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  catch2 libxsimd-dev libbenchmark-dev          # native tests / SIMD / benchmarks
  clang libclang-rt-14-dev valgrind              # fuzzing, sanitizers, callgrind gate
  emscripten nodejs                              # WASM build + JS package (npm ships with nodejs)
  chromium                                       # real-browser tests: the three engines Debian ships,
  firefox-esr                                    #  driven without downloads (js/test/browser/engines.mjs):
  webkit2gtk-driver xvfb                         #  WebKitWebDriver + MiniBrowser, which needs an X server
  dataset-fashion-mnist                          # real data for demo and benchmarks
  python3 gzip
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "deps: all system packages present"
