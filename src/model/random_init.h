// Random-weight checkpoints in realistic shapes: for conformance tests against
// naive reference code and for benchmarks of model sizes we cannot download.
#pragma once
#include <cstdint>

#include "io/checkpoint.h"

namespace ss {

// Gaussian weights with std 2/sqrt(dim) for q/k (so attention is far from
// uniform), 1/sqrt(fan_in) elsewhere, 1 for embeddings; norm gains near 1.
// Tensors are stored in dtype (F32, F16 or BF16) in owned buffers.
Checkpoint random_llama(const ModelConfig& c, uint64_t seed, DType dtype = DType::F32);

}  // namespace ss
