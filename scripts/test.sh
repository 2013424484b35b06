#!/usr/bin/env bash
# Installs what is missing, fetches the real models (scripts/fetch-models.sh),
# checks formatting, builds with warnings as errors, runs every test (the
# real-model ones included), then runs the unit tests again under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
stage() { echo "== $1 ($(date +%T), ${SECONDS}s since start)"; }
stage deps
scripts/deps.sh
stage models
scripts/fetch-models.sh
stage format
git ls-files -- '*.cpp' '*.h' | xargs clang-format --dry-run --Werror
stage build
scripts/build.sh build -DSINKSTREAM_WERROR=ON
stage tests
(cd build && ctest --output-on-failure -j2)
stage build-asan
scripts/build.sh build-asan -DSINKSTREAM_WERROR=ON -DSINKSTREAM_SANITIZE=ON -DSINKSTREAM_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage tests-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 -LE 'slow|real')
stage done
