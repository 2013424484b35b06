#include "model/random_init.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace ss {

Checkpoint random_llama(const ModelConfig& c, uint64_t seed, DType dtype) {
  check(dtype != DType::Q8_0, "random_llama: q8_0 weights are not generated");
  c.validate();
  Checkpoint ck;
  ck.config = c;
  ck.format = "random";
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float mean) {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    const int64_t n = t.numel();
    auto buf = std::make_shared<std::vector<uint16_t>>(dtype == DType::F32 ? 2 * n : n);
    float* f = reinterpret_cast<float*>(buf->data());
    for (int64_t i = 0; i < n; ++i) {
      const float v = mean + scale * g(rng);
      if (dtype == DType::F32)
        f[i] = v;
      else if (dtype == DType::F16)
        (*buf)[i] = ss::f32_to_f16(v);
      else
        (*buf)[i] = ss::f32_to_bf16(v);
    }
    t.data = buf->data();
    ck.tensors.owners.push_back(buf);
    ck.tensors.tensors.emplace_back(name, t);
  };
  const int64_t d = c.dim, qd = int64_t(c.n_heads) * c.head_dim, kvd = c.kv_dim();
  const float s = 1.0f / std::sqrt(float(d));
  add("model.embed_tokens.weight", {c.vocab_size, d}, 1.0f, 0);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d}, 0.1f, 1);
    add(p + "self_attn.q_proj.weight", {qd, d}, 2 * s, 0);
    add(p + "self_attn.k_proj.weight", {kvd, d}, 2 * s, 0);
    add(p + "self_attn.v_proj.weight", {kvd, d}, s, 0);
    add(p + "self_attn.o_proj.weight", {d, qd}, s, 0);
    add(p + "post_attention_layernorm.weight", {d}, 0.1f, 1);
    add(p + "mlp.gate_proj.weight", {c.hidden_dim, d}, s, 0);
    add(p + "mlp.up_proj.weight", {c.hidden_dim, d}, s, 0);
    add(p + "mlp.down_proj.weight", {d, c.hidden_dim}, s, 0);
  }
  add("model.norm.weight", {d}, 0.1f, 1);
  if (!c.tied_embeddings) add("lm_head.weight", {c.vocab_size, d}, s, 0);
  return ck;
}

}  // namespace ss
