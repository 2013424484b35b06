#!/usr/bin/env bash
# Build llama.cpp (the reference engine for issue 10) from the llama-cpp-python
# sdist on PyPI, into the git-ignored build-ref/. Nothing of llama.cpp is ever
# committed to this repository.
#
#   scripts/build-llamacpp.sh            # download (once), configure, build
#   JOBS=4 scripts/build-llamacpp.sh     # more parallel jobs (default 2)
#   NO_CLI=1 scripts/build-llamacpp.sh   # skip llama-cli (it pulls in the server code)
#
# What it does, each step skipped when its result is already there:
#   1. pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36
#      into build-ref/dl/ (or copies $LLAMA_CPP_PY_SDIST if that file exists).
#   2. Extracts it to build-ref/llama_cpp_python-0.3.36/ and links
#      build-ref/llama.cpp -> build-ref/llama_cpp_python-0.3.36/vendor/llama.cpp
#   3. CMake, Release, shared libs, GGML_NATIVE=ON, no OpenSSL/curl, no tests,
#      no examples, into build-ref/llama.cpp/build; builds only the targets
#      llama (libllama.so + libggml*.so), llama-tokenize, llama-bench,
#      llama-perplexity, llama-completion, and then llama-cli (needs the server
#      sources; the prebuilt web UI download is switched off).
#   4. Prints the llama.cpp version (build number and commit) it built.
#
# Using the Python bindings without a second compile (llama-cpp-python's own
# build would compile llama.cpp again):
#   source build-ref/env.sh
# which sets
#   PYTHONPATH=build-ref/llama_cpp_python-0.3.36   (the sdist's llama_cpp/ package)
#   LLAMA_CPP_LIB_PATH=build-ref/llama.cpp/build/bin (read by llama_cpp/llama_cpp.py
#                                                   to find libllama.so)
#   PATH+=build-ref/llama.cpp/build/bin             (llama-bench, llama-perplexity, ...)
# It also links llama_cpp/lib -> build/bin inside the extracted sdist, because
# llama_cpp/_ggml.py looks for libggml.so there without reading the variable.
# The package imports diskcache, jinja2, typing_extensions and numpy; the
# script pip-installs the ones missing (diskcache usually).
set -euo pipefail

VERSION=0.3.36
ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF="$ROOT/build-ref"
JOBS=${JOBS:-2}
SDIST_NAME="llama_cpp_python-$VERSION.tar.gz"
SRC="$REF/llama_cpp_python-$VERSION"
LLAMA="$SRC/vendor/llama.cpp"
BUILD="$LLAMA/build"

mkdir -p "$REF/dl"

# 1. the sdist
if [ ! -f "$REF/dl/$SDIST_NAME" ]; then
    if [ -n "${LLAMA_CPP_PY_SDIST:-}" ] && [ -f "$LLAMA_CPP_PY_SDIST" ]; then
        cp "$LLAMA_CPP_PY_SDIST" "$REF/dl/$SDIST_NAME"
    else
        python3 -m pip download --no-deps --no-binary :all: \
            "llama-cpp-python==$VERSION" -d "$REF/dl"
    fi
fi
echo "sdist: $REF/dl/$SDIST_NAME sha256 $(sha256sum "$REF/dl/$SDIST_NAME" | cut -d' ' -f1)"

# 2. extract
if [ ! -f "$LLAMA/CMakeLists.txt" ]; then
    tar xzf "$REF/dl/$SDIST_NAME" -C "$REF"
fi
ln -sfn "llama_cpp_python-$VERSION/vendor/llama.cpp" "$REF/llama.cpp"

# 3. configure + build
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$LLAMA" -B "$BUILD" \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON \
        -DGGML_NATIVE=ON \
        -DLLAMA_OPENSSL=OFF \
        -DLLAMA_CURL=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF
fi

have_all() {
    for t in "$@"; do [ -x "$BUILD/bin/$t" ] || return 1; done
}
CORE=(llama-tokenize llama-bench llama-perplexity llama-completion)
if ! have_all "${CORE[@]}" || [ ! -e "$BUILD/bin/libllama.so" ]; then
    cmake --build "$BUILD" -j "$JOBS" --target llama "${CORE[@]}"
fi
if [ -z "${NO_CLI:-}" ] && ! have_all llama-cli; then
    cmake --build "$BUILD" -j "$JOBS" --target llama-cli
fi

# Python bindings without a second compile
ln -sfn "$BUILD/bin" "$SRC/llama_cpp/lib"
python3 - <<'EOF' || python3 -m pip install --quiet diskcache jinja2 typing_extensions
import diskcache, jinja2, typing_extensions, numpy
EOF
cat > "$REF/env.sh" <<EOF
# source this: llama.cpp from llama-cpp-python $VERSION, reference build (scripts/build-llamacpp.sh)
export PYTHONPATH="$SRC\${PYTHONPATH:+:\$PYTHONPATH}"
export LLAMA_CPP_LIB_PATH="$BUILD/bin"
export PATH="$BUILD/bin:\$PATH"
EOF

# 4. version
COMMIT=$(git -C "$LLAMA" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "llama-cpp-python $VERSION, llama.cpp commit $COMMIT"
"$BUILD/bin/llama-bench" --version 2>&1 | head -n 2 || true
echo "binaries: $BUILD/bin"
echo "python:   source $REF/env.sh"
