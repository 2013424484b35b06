#!/usr/bin/env bash
# Installs the Debian 12 packages sinkstream needs, skipping those present.
# With arguments, those packages instead (scripts/cross-aarch64.sh).
set -euo pipefail
pkgs=("$@")
((${#pkgs[@]})) || pkgs=(build-essential cmake pkg-config clang-format ccache
      libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev libsentencepiece-dev
      libpcre2-dev libcpp-httplib-dev libssl-dev libcairo2-dev
      libgtest-dev libbenchmark-dev librapidcheck-dev libhwy-dev unzip
      clang-14 libclang-rt-14-dev libomp-14-dev  # the fuzz targets (libFuzzer, clang's OpenMP)
      chromium)  # the web page test drives headless chromium
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
