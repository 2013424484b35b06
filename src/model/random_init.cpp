#include "model/random_init.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

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
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float mean) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> f(n);
    for (float& v : f) v = mean + scale * g(rng);
    ck.tensors.tensors.emplace_back(name, encode(f, std::move(shape), dtype, ck.tensors));
  };
  // LayerNorm families (NeoX, Falcon, BLOOM, GPT-2) carry biases everywhere.
  const bool biases = c.norm == NormKind::LayerNorm;
  auto linear = [&](const std::string& name, int64_t out, int64_t in, float scale) {
    add(name + ".weight", {out, in}, scale, 0);
    if (biases) add(name + ".bias", {out}, 0.1f, 0);
  };
  auto norm = [&](const std::string& name) {
    add(name + ".weight", {c.dim}, 0.1f, 1);
    if (biases) add(name + ".bias", {c.dim}, 0.1f, 0);
  };
  const int64_t d = c.dim;
  const float s = 1.0f / std::sqrt(float(d));
  add("model.embed_tokens.weight", {c.vocab_size, d}, 1.0f, 0);
  if (c.position == PositionKind::Learned)
    add("model.embed_positions.weight", {c.max_seq_len, d}, 0.5f, 0);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    norm(p + "input_layernorm");
    linear(p + "self_attn.q_proj", c.q_dim(), d, 2 * s);
    linear(p + "self_attn.k_proj", c.kv_dim(), d, 2 * s);
    linear(p + "self_attn.v_proj", c.kv_dim(), d, s);
    linear(p + "self_attn.o_proj", d, c.q_dim(), s);
    norm(p + "post_attention_layernorm");
    if (c.gated_ffn) linear(p + "mlp.gate_proj", c.hidden_dim, d, s);
    linear(p + "mlp.up_proj", c.hidden_dim, d, s);
    linear(p + "mlp.down_proj", d, c.hidden_dim, 1.0f / std::sqrt(float(c.hidden_dim)));
  }
  norm("model.norm");
  if (!c.tied_embeddings) add("lm_head.weight", {c.vocab_size, d}, s, 0);
  return ck;
}

}  // namespace ss
