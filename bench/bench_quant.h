// The quant section of sinkstream_bench (bench_quant.cpp): decode and prefill
// tokens/s of every weight type in the 110M shape and of the real GGUFs, peak
// RSS while prefilling SmolLM2, and llama.cpp's llama-bench on the same files.
#pragma once
#include <string>

#include "model/stream.h"

namespace ssbench {

struct QuantOptions {
  bool quick = false;
  int threads = 1;
  std::string llama_bench;                // llama-bench binary; empty or missing: our figures alone
  std::string models_dir;                 // SmolLM2 and Gemma 3 GGUFs (scripts/fetch-models.sh)
  int reps = 3;                           // llama-bench -r
  int chunk = ss::Stream::kDefaultChunk;  // our prefill's chunk (Stream max_chunk)
};

// triad_gbs: the in-process STREAM triad (4 KiB pages) the weight GB/s is compared with.
void quant_section(const QuantOptions& o, double triad_gbs);

}  // namespace ssbench
