// Reading checkpoints of every format into one ModelConfig + TensorStore.
// Tensor names are canonical whatever the format and family: Hugging Face's
// LlamaForCausalLM names (model.embed_tokens.weight, model.layers.N.
// self_attn.q_proj.weight, ..., model.norm.weight, lm_head.weight), plus
// ".bias" twins, model.embed_positions.weight (learned positions),
// model.embed_norm.* (BLOOM) and model.layers.N.self_attn.sinks (per-head
// sink logits). The model knows this one scheme; Model checks the shapes.
#pragma once
#include <string>

#include "core/tensor.h"
#include "model/config.h"

namespace ss {

struct Checkpoint {
  ModelConfig config;
  TensorStore tensors;
  std::string format;  // "llama2c", "safetensors", "gguf", "random"
  std::string path;
};

// Detects the format from the path: a directory with config.json (Hugging
// Face, model.safetensors or sharded with model.safetensors.index.json), a
// GGUF file (by its magic), or a llama2.c .bin file. Any problem is a one-line ss::Error naming the
// file.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace ss
