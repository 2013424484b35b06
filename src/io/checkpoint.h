// Reading checkpoints of every format into one ModelConfig + TensorStore.
// Tensor names follow Hugging Face's LlamaForCausalLM layout whatever the file
// format, so the model code knows one naming scheme.
#pragma once
#include <string>

#include "core/tensor.h"
#include "model/config.h"

namespace ss {

struct Checkpoint {
  ModelConfig config;
  TensorStore tensors;
  std::string format;  // "llama2c", "safetensors"
  std::string path;
};

// Detects the format from the path: a directory with config.json (Hugging
// Face, model.safetensors or sharded with model.safetensors.index.json), or a
// llama2.c .bin file. Any problem is a one-line ss::Error naming the file.
Checkpoint load_checkpoint(const std::string& path);

// Checks that every tensor a llama model needs is present with its shape
// (lm_head.weight only when the embeddings are untied). The one-line ss::Error
// names the file, the tensor and both shapes.
void check_llama_tensors(const Checkpoint& ck);

}  // namespace ss
