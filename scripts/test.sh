#!/usr/bin/env bash
# Installs what is missing, checks formatting, builds with warnings as errors,
# runs every test, then runs the unit tests again under ASan/UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
git ls-files -- '*.cpp' '*.h' | xargs clang-format --dry-run --Werror
scripts/build.sh build -DSINKSTREAM_WERROR=ON
(cd build && ctest --output-on-failure -j2)
scripts/build.sh build-asan -DSINKSTREAM_WERROR=ON -DSINKSTREAM_SANITIZE=ON -DSINKSTREAM_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2 -LE slow)
