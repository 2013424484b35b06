// llama2.c's legacy checkpoint format: a header of 7 int32 values, then every
// weight as f32 in a fixed order.
#pragma once
#include <string>

#include "io/checkpoint.h"

namespace ss {

// Maps a llama2.c .bin file. Tensors get Hugging Face names and point into the
// map; the q/k rows keep llama2.c's order, so config.rope_layout is
// Interleaved. Any problem is a one-line ss::Error naming the file.
Checkpoint load_llama2c(const std::string& path);

}  // namespace ss
