// Random-weight checkpoints in realistic shapes: for conformance tests against
// naive reference code and for benchmarks of model sizes we cannot download.
#pragma once
#include <cstdint>

#include "io/checkpoint.h"

namespace ss {

// Canonical tensors for any ModelConfig (gate only for gated FFNs, learned
// positions when configured, biases for the LayerNorm families). Gaussian
// weights with std 2/sqrt(dim) for q/k (so attention is far from uniform),
// 1/sqrt(fan_in) elsewhere, 1 for embeddings; norm gains near 1. Tensors are
// stored in dtype (F32, F16, BF16, or Q8_0 with f32 norms) in owned buffers.
Checkpoint random_llama(const ModelConfig& c, uint64_t seed, DType dtype = DType::F32);

}  // namespace ss
