// The tensor schema: every tensor a ModelConfig implies, with its canonical
// name, shape, role and the part of the model it is. Model binds checkpoint
// tensors by this list (never by names of its own); random checkpoints and
// the trainer's parameters are the part of it that a new model has.
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

// Which piece of the model a tensor is (with ParamSpec::bias: that piece's bias).
enum class ParamPart {
  Embed,
  Positions,
  EmbedNorm,
  AttnNorm,
  QNorm,
  KNorm,
  AttnOutNorm,
  Q,
  K,
  V,
  O,
  Gate,  // the attention output gate
  Sinks,
  KvBiasK,
  KvBiasV,
  FfnNorm,
  FfnGate,
  FfnUp,
  FfnDown,
  FfnOutNorm,
  FinalNorm,
  LmHead,
};

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  ParamRole role;
  ParamPart part;
  int layer = -1;               // -1 outside the layers
  bool bias = false;            // the part's bias (a linear's, or a LayerNorm's)
  bool optional = false;        // a checkpoint may leave it out: then the part is off
  bool inference_only = false;  // loaded when present, never made (an embedding norm)
  int64_t numel() const;
};

// Every tensor c can use, in checkpoint order.
std::vector<ParamSpec> model_schema(const ModelConfig& c);
// The tensors of a new model of c (random or trained): the schema less the
// inference-only parts, with linear and norm biases when biases is set (the
// LayerNorm families).
std::vector<ParamSpec> model_params(const ModelConfig& c, bool biases);

}  // namespace ss
