#!/usr/bin/env bash
# Replays tests/fuzz/regressions/<target>/ through each fuzz target of a
# SINKSTREAM_FUZZ build (UBSan included), then fuzzes it for SECONDS, JOBS at
# a time, from its seeds in tests/fuzz/corpus/<target>/ (what it finds goes
# to a scratch corpus, not the repo). Fails when any target crashes, leaks,
# times out or runs out of memory; the input is kept as
# OUT/<target>/crash-*, to commit under tests/fuzz/regressions/<target>/.
# Prints each target's last libFuzzer stats line (execs, cov, ft).
# The seed is fixed (FUZZ_SEED, default 1) so that CI explores the same inputs
# on every run and a change, not luck, is what makes it fail; FUZZ_SEED=0
# draws a fresh seed, for longer runs that look for new crashes.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS=60] [JOBS=1] [OUT=BUILD_DIR/fuzz-out]
set -euo pipefail
build=$(realpath "${1:?usage: run.sh BUILD_DIR [SECONDS] [JOBS] [OUT]}")
seconds=${2:-60}
jobs=${3:-1}
out=${4:-$build/fuzz-out}
here=$(realpath "$(dirname "$0")")
targets=(fuzz_gguf fuzz_safetensors fuzz_llama2c fuzz_tokenizer_json fuzz_request)

run_one() {
  local t=$1 dir=$out/$1
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  # The inputs that once crashed it, under this build's sanitizers first.
  if [ -d "$here/regressions/$t" ] &&
     ! OMP_NUM_THREADS=1 "$build/tests/fuzz/$t" "$here/regressions/$t"/* >"$dir/replay.log" 2>&1; then
    echo "$t: FAILED replaying tests/fuzz/regressions/$t (log $dir/replay.log)"
    tail -20 "$dir/replay.log"
    return 1
  fi
  # One kernel thread: the fuzzers share the machine.
  if OMP_NUM_THREADS=1 "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=20 \
       -rss_limit_mb=2048 -seed="${FUZZ_SEED:-1}" -print_final_stats=1 -artifact_prefix="$dir/" \
       "$dir/corpus" "$here/corpus/$t" >"$dir/log" 2>&1; then
    echo "$t: ok, $(grep -E '^#[0-9]+' "$dir/log" | tail -1)"
  else
    echo "$t: FAILED (log $dir/log, input $(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* \
      "$dir"/oom-* 2>/dev/null | head -1))"
    tail -40 "$dir/log"
    return 1
  fi
}

mkdir -p "$out"
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
