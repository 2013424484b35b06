// The parameters a ModelConfig implies: canonical names, shapes and roles.
// Random checkpoints and the trainer's initialisation both walk this list.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"

namespace ss {

enum class ParamRole {
  Embedding,  // token or position table
  Weight,     // a linear layer's [out][in]
  Output,     // a projection back into the residual stream (o_proj, down_proj)
  Bias,       // a linear layer's bias
  NormGain,
  NormBias,
  SinkLogit,  // per-head sink logits
  KvSlot,     // the learned key/value slot
};

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  ParamRole role;
  int64_t numel() const;
};

// Linear biases are included when biases is set (the LayerNorm families).
std::vector<ParamSpec> model_params(const ModelConfig& c, bool biases);

}  // namespace ss
