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

// Stores f as a tensor of dtype (1-D tensors of quantised models stay f32, as in GGUF).
Tensor encode(const std::vector<float>& f, std::vector<int64_t> shape, DType dtype,
              TensorStore& ts) {
  Tensor t;
  t.dtype = traits(dtype).quantized() && shape.size() < 2 ? DType::F32 : dtype;
  t.shape = std::move(shape);
  auto buf = std::make_shared<std::vector<uint8_t>>(t.nbytes());
  for (int64_t r = 0; r < t.rows(); ++r)
    quantize_row(t.dtype, f.data() + r * t.cols(), t.cols(),
                 buf->data() + traits(t.dtype).bytes(t.cols()) * size_t(r));
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
        scale = p.part == ParamPart::Embed ? 1.0f : 0.5f;
        break;
      case ParamRole::Weight:  // q and k larger, so attention is far from uniform
        if (p.part == ParamPart::Q || p.part == ParamPart::K) scale = 2 * s;
        break;
      case ParamRole::Output:
        if (p.part == ParamPart::FfnDown) scale = 1.0f / std::sqrt(float(c.hidden_dim));
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
