#!/usr/bin/env bash
# Cross-builds the library, the CLI and the kernel tests for aarch64 with Debian 12's
# toolchain (g++-aarch64-linux-gnu, arm64 multiarch -dev packages) and runs
# the kernel tests under qemu-user: every SIMD target Highway compiled and
# qemu's CPU offers (NEON, SVE, SVE2) against the scalar references.
# Installs what is missing, as deps.sh does. Usage:
#   scripts/cross-aarch64.sh [BUILD_DIR]   (default build-arm)
# libsentencepiece is not multiarch-installable beside the amd64 one, so its
# arm64 packages are unpacked into BUILD_DIR/sysroot instead.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi
scripts/deps.sh g++-aarch64-linux-gnu qemu-user libopenblas-openmp-dev:arm64 libpcre2-dev:arm64 \
  libcairo2-dev:arm64 libcpp-httplib-dev:arm64 libssl-dev:arm64 libhwy-dev:arm64 \
  libgtest-dev:arm64 librapidcheck-dev:arm64

sysroot=$PWD/$build/sysroot
spm_lib=$sysroot/usr/lib/aarch64-linux-gnu
if [ ! -e "$spm_lib/libsentencepiece.so" ]; then
  mkdir -p "$build/debs"
  (cd "$build/debs" && apt-get download libsentencepiece0:arm64 libsentencepiece-dev:arm64)
  for d in "$build"/debs/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
fi
mkdir -p "$build/pkgconfig"
cat > "$build/pkgconfig/sentencepiece.pc" <<EOF
Name: sentencepiece
Description: arm64 sentencepiece unpacked in $sysroot (headers: the host's, the same version)
Version: $(dpkg-query -W -f='${Version}' libsentencepiece-dev:amd64)
Libs: -L$spm_lib -lsentencepiece
Cflags:
EOF
export PKG_CONFIG_LIBDIR=$PWD/$build/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
emulator="qemu-aarch64;-L;/;-E;LD_LIBRARY_PATH=$spm_lib"

cmake -S . -B "$build" -DSINKSTREAM_WERROR=ON -DSINKSTREAM_BENCH=OFF \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ -DCMAKE_CROSSCOMPILING_EMULATOR="$emulator" \
  -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER >/dev/null
cmake --build "$build" -j"$(nproc)" --target sinkstream_lib sinkstream sinkstream_kernel_tests

file "$build/sinkstream" "$build/tests/sinkstream_kernel_tests"
run() { qemu-aarch64 -L / -E "LD_LIBRARY_PATH=$spm_lib" "$@"; }
run "$build/sinkstream" --version
# The kernel tests: each target against the references, the weight types,
# the ops (the CLI test is below: qemu-user cannot exec the CLI from a test).
run "$build/tests/sinkstream_kernel_tests" --gtest_filter='-Simd.TheCli*'
# The CLI on the best target and on the baseline one, the same greedy tokens.
model=models/stories260K/stories260K.bin
best=$(run "$build/sinkstream" generate -m "$model" -n 24 --temperature 0 -p "Once upon a time")
echo "$best"
for t in sve neon; do  # below the best (SVE2 under qemu); NEON is the baseline
  got=$(SINKSTREAM_SIMD=$t run "$build/sinkstream" generate -m "$model" -n 24 --temperature 0 \
        -p "Once upon a time")
  [ "$got" = "$best" ] || { echo "SINKSTREAM_SIMD=$t differs: $got" >&2; exit 1; }
  echo "SINKSTREAM_SIMD=$t: the same tokens"
done
