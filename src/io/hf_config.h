// Hugging Face config.json -> ModelConfig.
#pragma once
#include <string>

#include "model/config.h"

namespace ss {

// Parses a config.json of a supported family (model_type: llama, mistral,
// qwen2, gpt_neox, falcon, mpt, bloom, gpt2, and
// sinkstream: models trained by `sinkstream train`). Any problem is a one-line
// ss::Error naming the file and the field; an unknown family's lists the
// supported ones.
ModelConfig parse_hf_config(const std::string& path);

// The config.json of a model of the sinkstream family (what `train` writes):
// every ModelConfig switch it can hold, by name.
std::string sinkstream_config_json(const ModelConfig& c);

// "llama, mistral, ..." for error messages and `info`.
std::string supported_families();

}  // namespace ss
