#include "model/params.h"

namespace ss {

int64_t ParamSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<ParamSpec> model_params(const ModelConfig& c, bool biases) {
  std::vector<ParamSpec> ps;
  const int64_t d = c.dim;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamRole role) {
    ps.push_back({std::move(name), std::move(shape), role});
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in, ParamRole role) {
    add(name + ".weight", {out, in}, role);
    if (biases) add(name + ".bias", {out}, ParamRole::Bias);
  };
  auto norm = [&](const std::string& name, int64_t n = 0) {
    add(name + ".weight", {n ? n : d}, ParamRole::NormGain);
    if (c.norm == NormKind::LayerNorm) add(name + ".bias", {n ? n : d}, ParamRole::NormBias);
  };
  add("model.embed_tokens.weight", {c.vocab_size, d}, ParamRole::Embedding);
  if (c.position == PositionKind::Learned)
    add("model.embed_positions.weight", {c.max_seq_len, d}, ParamRole::Embedding);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    norm(p + "input_layernorm");
    linear(p + "self_attn.q_proj", c.q_dim(), d, ParamRole::Weight);
    linear(p + "self_attn.k_proj", c.kv_dim(), d, ParamRole::Weight);
    linear(p + "self_attn.v_proj", c.kv_dim(), d, ParamRole::Weight);
    linear(p + "self_attn.o_proj", d, c.q_dim(), ParamRole::Output);
    if (c.qk_norm) {
      norm(p + "self_attn.q_norm", c.head_dim);
      norm(p + "self_attn.k_norm", c.head_dim);
    }
    if (c.sandwich_norm) norm(p + "attn_output_layernorm");
    if (c.attn_gate) linear(p + "self_attn.g_proj", c.q_dim(), d, ParamRole::Weight);
    if (c.sink_logits) add(p + "self_attn.sinks", {c.n_heads}, ParamRole::SinkLogit);
    if (c.kv_bias) {
      add(p + "self_attn.kv_bias_k", {c.kv_dim()}, ParamRole::KvSlot);
      add(p + "self_attn.kv_bias_v", {c.kv_dim()}, ParamRole::KvSlot);
    }
    norm(p + "post_attention_layernorm");
    if (c.gated_ffn) linear(p + "mlp.gate_proj", c.hidden_dim, d, ParamRole::Weight);
    linear(p + "mlp.up_proj", c.hidden_dim, d, ParamRole::Weight);
    linear(p + "mlp.down_proj", d, c.hidden_dim, ParamRole::Output);
    if (c.sandwich_norm) norm(p + "ffn_output_layernorm");
  }
  norm("model.norm");
  if (!c.tied_embeddings) add("lm_head.weight", {c.vocab_size, d}, ParamRole::Weight);
  return ps;
}

}  // namespace ss
