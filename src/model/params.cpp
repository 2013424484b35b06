#include "model/params.h"

namespace ss {

int64_t ParamSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<ParamSpec> model_schema(const ModelConfig& c) {
  std::vector<ParamSpec> ps;
  const int64_t d = c.dim;
  int layer = -1;
  auto add = [&](std::string name, std::vector<int64_t> shape, ParamRole role, ParamPart part,
                 bool optional = false) {
    ps.push_back({std::move(name), std::move(shape), role, part, layer, false, optional});
    return &ps.back();
  };
  auto linear = [&](const std::string& name, ParamPart part, int64_t out, int64_t in,
                    ParamRole role = ParamRole::Weight) {
    add(name + ".weight", {out, in}, role, part);
    add(name + ".bias", {out}, ParamRole::Bias, part, true)->bias = true;
  };
  auto norm = [&](const std::string& name, ParamPart part, bool optional = false, int64_t n = 0) {
    add(name + ".weight", {n ? n : d}, ParamRole::NormGain, part, optional);
    if (c.norm == NormKind::LayerNorm)
      add(name + ".bias", {n ? n : d}, ParamRole::NormBias, part, true)->bias = true;
  };
  add("model.embed_tokens.weight", {c.vocab_size, d}, ParamRole::Embedding, ParamPart::Embed);
  if (c.position == PositionKind::Learned)
    add("model.embed_positions.weight", {c.max_seq_len, d}, ParamRole::Embedding,
        ParamPart::Positions);
  const size_t embed_norm = ps.size();
  norm("model.embed_norm", ParamPart::EmbedNorm, true);
  for (size_t i = embed_norm; i < ps.size(); ++i) ps[i].inference_only = true;
  for (layer = 0; layer < c.n_layers; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".";
    norm(p + "input_layernorm", ParamPart::AttnNorm);
    linear(p + "self_attn.q_proj", ParamPart::Q, c.q_dim(), d);
    linear(p + "self_attn.k_proj", ParamPart::K, c.kv_dim(), d);
    linear(p + "self_attn.v_proj", ParamPart::V, c.kv_dim(), d);
    linear(p + "self_attn.o_proj", ParamPart::O, d, c.q_dim(), ParamRole::Output);
    if (c.qk_norm) {
      norm(p + "self_attn.q_norm", ParamPart::QNorm, false, c.head_dim);
      norm(p + "self_attn.k_norm", ParamPart::KNorm, false, c.head_dim);
    }
    if (c.sandwich_norm) norm(p + "attn_output_layernorm", ParamPart::AttnOutNorm);
    if (c.attn_gate) linear(p + "self_attn.g_proj", ParamPart::Gate, c.q_dim(), d);
    // Sink logits are also used when a checkpoint has them (gpt-oss under llama's name).
    add(p + "self_attn.sinks", {c.n_heads}, ParamRole::SinkLogit, ParamPart::Sinks, !c.sink_logits)
        ->inference_only = !c.sink_logits;
    if (c.kv_bias) {
      add(p + "self_attn.kv_bias_k", {c.kv_dim()}, ParamRole::KvSlot, ParamPart::KvBiasK);
      add(p + "self_attn.kv_bias_v", {c.kv_dim()}, ParamRole::KvSlot, ParamPart::KvBiasV);
    }
    // Parallel blocks may share the attention norm (Falcon) or have their own (NeoX).
    norm(p + "post_attention_layernorm", ParamPart::FfnNorm, c.parallel_residual);
    if (c.gated_ffn) linear(p + "mlp.gate_proj", ParamPart::FfnGate, c.hidden_dim, d);
    linear(p + "mlp.up_proj", ParamPart::FfnUp, c.hidden_dim, d);
    linear(p + "mlp.down_proj", ParamPart::FfnDown, d, c.hidden_dim, ParamRole::Output);
    if (c.sandwich_norm) norm(p + "ffn_output_layernorm", ParamPart::FfnOutNorm);
  }
  layer = -1;
  norm("model.norm", ParamPart::FinalNorm);
  if (!c.tied_embeddings)
    add("lm_head.weight", {c.vocab_size, d}, ParamRole::Weight, ParamPart::LmHead);
  return ps;
}

std::vector<ParamSpec> model_params(const ModelConfig& c, bool biases) {
  std::vector<ParamSpec> ps;
  for (ParamSpec& s : model_schema(c))
    if (!s.inference_only && (!s.bias || biases)) ps.push_back(std::move(s));
  return ps;
}

}  // namespace ss
