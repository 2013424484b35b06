// Hugging Face config.json -> ModelConfig.
#pragma once
#include <string>

#include "model/config.h"

namespace ss {

// Parses a LlamaForCausalLM config.json (the only architecture supported so
// far). Any problem is a one-line ss::Error naming the file and the field.
ModelConfig parse_hf_config(const std::string& path);

}  // namespace ss
