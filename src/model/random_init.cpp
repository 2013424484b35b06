#include "model/random_init.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/params.h"

namespace ss {

namespace {

// Stores f as a tensor of dtype (1-D tensors of Q8_0 models stay f32, as in GGUF).
Tensor encode(const std::vector<float>& f, std::vector<int64_t> shape, DType dtype,
              TensorStore& ts) {
  Tensor t;
  t.dtype = dtype == DType::Q8_0 && shape.size() < 2 ? DType::F32 : dtype;
  t.shape = std::move(shape);
  auto buf = std::make_shared<std::vector<uint8_t>>(t.nbytes());
  for (size_t i = 0; i < f.size() && t.dtype != DType::Q8_0; ++i) {
    if (t.dtype == DType::F32) std::memcpy(buf->data() + 4 * i, &f[i], 4);
    const uint16_t h = t.dtype == DType::F16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
    if (t.dtype != DType::F32) std::memcpy(buf->data() + 2 * i, &h, 2);
  }
  if (t.dtype == DType::Q8_0) {
    check(t.cols() % kQ8Block == 0, "random weights: q8_0 needs rows of a multiple of ", kQ8Block,
          " values, not ", t.cols());
    quantize_row_q8_0(f.data(), t.numel(), reinterpret_cast<BlockQ8_0*>(buf->data()));
  }
  t.data = buf->data();
  ts.owners.push_back(buf);
  return t;
}

}  // namespace

Checkpoint random_llama(const ModelConfig& c, uint64_t seed, DType dtype) {
  c.validate();
  Checkpoint ck;
  ck.config = c;
  ck.format = "random";
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  // LayerNorm families (NeoX, Falcon, BLOOM, GPT-2) carry biases everywhere.
  const float s = 1.0f / std::sqrt(float(c.dim));
  for (const ParamSpec& p : model_params(c, c.norm == NormKind::LayerNorm)) {
    float scale = s, mean = 0;
    switch (p.role) {
      case ParamRole::Embedding:
        scale = p.name == "model.embed_tokens.weight" ? 1.0f : 0.5f;
        break;
      case ParamRole::Weight:  // q and k larger, so attention is far from uniform
        if (p.name.ends_with("q_proj.weight") || p.name.ends_with("k_proj.weight")) scale = 2 * s;
        break;
      case ParamRole::Output:
        if (p.name.ends_with("down_proj.weight")) scale = 1.0f / std::sqrt(float(c.hidden_dim));
        break;
      case ParamRole::NormGain:
        scale = 0.1f, mean = 1;
        break;
      case ParamRole::Bias:
      case ParamRole::NormBias:
        scale = 0.1f;
        break;
      case ParamRole::SinkLogit:
      case ParamRole::KvSlot:
        scale = 1;
        break;
    }
    std::vector<float> f(p.numel());
    for (float& v : f) v = mean + scale * g(rng);
    ck.tensors.tensors.emplace_back(p.name, encode(f, p.shape, dtype, ck.tensors));
  }
  return ck;
}

}  // namespace ss
