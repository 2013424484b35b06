#!/usr/bin/env bash
# The longest CPU run toward an attention sink (issue 13): the benchmark's
# 4-layer, 256-dim byte-level model, context 256, BOS first, batch 8, on the
# full KJV, Austen and TinyStories texts, for 100M tokens (48,828 steps of
# 2,048 tokens), with Sink_1..4 and the validation loss every 1,000 steps
# (about 2M tokens). It resumes from OUT/latest, so run it again (in the
# background, session after session) until it reaches the last step.
#   scripts/sink-emergence.sh TEXT_DIR OUT [ATTN_OP=softmax] [THREADS=1]
# TEXT_DIR holds kjv.txt, austen_all.txt and tinystories_val_sample.txt
# (sources in tests/data/text/README.md). ATTN_OP sigmoid is the control:
# sigmoid attention without normalisation, which should have no sink.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:?usage: sink-emergence.sh TEXT_DIR OUT [ATTN_OP] [THREADS]}
out=${2:?usage: sink-emergence.sh TEXT_DIR OUT [ATTN_OP] [THREADS]}
op=${3:-softmax}
threads=${4:-1}
bin=${SINKSTREAM:-build/sinkstream}
exec "$bin" train --no-progress --resume -o "$out" -t "$threads" \
  --text "$text/kjv.txt" "$text/austen_all.txt" "$text/tinystories_val_sample.txt" \
  --dim 256 --layers 4 --heads 4 --hidden 688 --ctx 256 --attn-op "$op" \
  --batch 8 --steps 48828 --lr 1e-3 --warmup 500 --weight-decay 0.1 --seed 1 \
  --log-every 100 --eval-every 1000 --eval-samples 64 --save-every 500
