// Model families against their own defining equations. Each family gets a
// tiny random checkpoint written in its ORIGINAL Hugging Face layout (original
// names, fused QKV, Conv1D [in, out] weights, biases, LayerNorm biases), so
// the engine's config parsing, renaming, splitting and transposing are all on
// trial. The reference below reads those original tensors and runs each
// family's forward pass in double precision, written from the Hugging Face
// modelling code, not from the engine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <regex>
#include <stdexcept>
#include <utility>

#include "core/error.h"
#include "io/gguf_model.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/stream.h"
#include "testmodels.h"
#include "testutil.h"

using namespace ss;
using sstest::engine_logits;
using sstest::engine_nll;

namespace {

using json = nlohmann::json;
using Vec = std::vector<double>;

// ---------------------------------------------------------------------------
// Families and their quirks.

struct Spec {
  std::string name;    // test name
  std::string family;  // model_type
  int dim = 32, layers = 2, heads = 4, kv_heads = 4;
  int head_dim = 0;  // 0: dim / heads
  int ffn = 64, vocab = 64, positions = 64;
  double eps = 1e-5;
  double rope_theta = 10000;
  double rotary_pct = 1;      // gpt_neox: rotated share of each head
  bool bias = true;           // linear biases where the family makes them optional
  bool parallel = false;      // gpt_neox use_parallel_residual, falcon parallel_attn
  bool new_arch = false;      // falcon new_decoder_architecture
  bool one_ln = false;        // falcon num_ln_in_parallel_attn 1: no ln_attn/ln_mlp pair
  bool multi_query = false;   // falcon old architecture, one shared K/V head
  bool alibi = false;         // falcon
  bool tied = false;          // llama, mistral, qwen2
  bool sink_logits = false;   // llama: model.layers.N.self_attn.sinks
  int sliding_window = 0;     // mistral, gemma3_text; qwen2 writes one it must ignore
  int sliding_pattern = 0;    // gemma3_text: every n-th layer global
  bool layer_types = false;   // gemma3_text: the pattern as layer_types, not sliding_window_pattern
  double rope_local = 0;      // gemma3_text: RoPE base of the local layers
  double query_pre_attn = 0;  // gemma3_text: scores scaled by query_pre_attn^-0.5
  double attn_softcap = 0, final_softcap = 0;  // Gemma 2's soft-caps, honoured in gemma3_text
  double clip_qkv = 0;                         // mpt
  double alibi_bias_max = 8;
  bool alibi_scaled = true;  // reference knob: Falcon scales ALiBi with the scores
  int hd() const { return head_dim ? head_dim : dim / heads; }
  bool local(int l) const {
    if (family == "mistral") return sliding_window > 0;
    return family == "gemma3_text" && (l + 1) % sliding_pattern != 0;
  }
  double theta(int l) const {
    return family == "gemma3_text" && local(l) ? rope_local : rope_theta;
  }
};

std::vector<Spec> specs() {
  std::vector<Spec> v;
  Spec s;
  // Pythia: partial rotary (4 of 16 dims), LayerNorm biases, untied embed_out.
  s = {.name = "neox_parallel",
       .family = "gpt_neox",
       .dim = 48,
       .heads = 3,
       .kv_heads = 3,
       .ffn = 96,
       .rope_theta = 1000,
       .rotary_pct = 0.25,
       .parallel = true};
  v.push_back(s);
  s.name = "neox_sequential", s.parallel = false;
  v.push_back(s);
  // Falcon-40B style: grouped [kv, g+2, hd] QKV, ln_attn + ln_mlp.
  v.push_back({.name = "falcon_new",
               .family = "falcon",
               .kv_heads = 2,
               .rope_theta = 500,
               .parallel = true,
               .new_arch = true});
  // The same, with parallel_attn false, which HF ignores for the new architecture.
  v.push_back({.name = "falcon_new_parallel_attn_false",
               .family = "falcon",
               .kv_heads = 2,
               .rope_theta = 500,
               .parallel = false,
               .new_arch = true});
  // Falcon2-11B style: the new architecture with one shared input_layernorm.
  v.push_back({.name = "falcon_new_one_ln",
               .family = "falcon",
               .kv_heads = 2,
               .rope_theta = 500,
               .parallel = true,
               .new_arch = true,
               .one_ln = true});
  // Falcon-7B style: multi-query, one input_layernorm for both branches, no biases.
  v.push_back({.name = "falcon_mqa",
               .family = "falcon",
               .kv_heads = 1,
               .ffn = 48,
               .rope_theta = 500,
               .bias = false,
               .parallel = true,
               .multi_query = true});
  // Falcon-RW style: ALiBi (scaled with the scores), [H, 3, hd] QKV, sequential.
  v.push_back({.name = "falcon_alibi",
               .family = "falcon",
               .dim = 48,
               .heads = 3,
               .kv_heads = 3,
               .alibi = true});
  // MPT: ALiBi over 6 heads, clip_qkv that clips, no biases, tied.
  v.push_back({.name = "mpt",
               .family = "mpt",
               .dim = 48,
               .heads = 6,
               .kv_heads = 6,
               .ffn = 96,
               .bias = false,
               .tied = true,
               .clip_qkv = 0.5});
  // alibi_bias_max as llm-foundry applies it (HF's MptModel always uses 8).
  v.push_back({.name = "mpt_bias_max_4",
               .family = "mpt",
               .dim = 40,
               .heads = 5,
               .kv_heads = 5,
               .ffn = 80,
               .bias = false,
               .tied = true,
               .clip_qkv = 0.8,
               .alibi_bias_max = 4});
  // BLOOM: ALiBi over 5 heads, embedding LayerNorm, GELU tanh, tied.
  v.push_back({.name = "bloom",
               .family = "bloom",
               .dim = 40,
               .heads = 5,
               .kv_heads = 5,
               .ffn = 160,
               .tied = true});
  // GPT-2: learned positions, Conv1D, gelu_new, tied.
  v.push_back({.name = "gpt2", .family = "gpt2", .ffn = 128, .tied = true});
  // Qwen2: q/k/v biases, GQA, a sliding_window that use_sliding_window=false disables.
  v.push_back({.name = "qwen2",
               .family = "qwen2",
               .kv_heads = 2,
               .ffn = 48,
               .eps = 1e-6,
               .rope_theta = 1000,
               .tied = true,
               .sliding_window = 4});
  // Mistral: MQA, head_dim 12 != dim/heads, sliding window 6.
  v.push_back({.name = "mistral",
               .family = "mistral",
               .kv_heads = 1,
               .head_dim = 12,
               .ffn = 48,
               .rope_theta = 500,
               .bias = false,
               .sliding_window = 6});
  // Gemma 3: 2 local layers (window 4) and 1 global, per-layer RoPE bases,
  // QK-norm, sandwich norms stored as w for 1 + w, GELU-tanh, embedding x
  // sqrt(dim), GQA, tied.
  s = {.name = "gemma3",
       .family = "gemma3_text",
       .layers = 3,
       .kv_heads = 2,
       .head_dim = 12,
       .ffn = 48,
       .eps = 1e-6,
       .rope_theta = 5000,
       .bias = false,
       .tied = true,
       .sliding_window = 4,
       .sliding_pattern = 3,
       .rope_local = 50,
       .query_pre_attn = 12};
  v.push_back(s);
  // The same with HF's newer layer_types list, query_pre_attn_scalar !=
  // head_dim, and Gemma 2's soft-caps on.
  s.name = "gemma3_layer_types_softcap", s.layer_types = true, s.query_pre_attn = 10,
  s.attn_softcap = 2, s.final_softcap = 3;
  v.push_back(s);
  // gpt-oss-style per-head sink logits on a Llama.
  v.push_back({.name = "llama_sinks",
               .family = "llama",
               .kv_heads = 2,
               .ffn = 48,
               .rope_theta = 500,
               .bias = false,
               .sink_logits = true});
  return v;
}

void PrintTo(const Spec& s, std::ostream* os) { *os << s.name; }

bool is_llama_like(const Spec& s) {
  return s.family == "llama" || s.family == "mistral" || s.family == "qwen2";
}

// ---------------------------------------------------------------------------
// Checkpoints in the original layout.

struct Raw {
  std::vector<int64_t> shape;
  std::vector<float> v;
};
using Tensors = std::map<std::string, Raw>;

class Generator {
 public:
  Generator(const Spec& s, uint64_t seed) : s_(s), rng_(seed) {}

  Tensors make() {
    const int d = s_.dim, V = s_.vocab, L = s_.layers, F = s_.ffn;
    const int qd = s_.heads * s_.hd(), kvd = s_.kv_heads * s_.hd();
    const bool b = s_.bias;
    if (s_.family == "gpt_neox") {
      embed("gpt_neox.embed_in.weight", V, d);
      for (int l = 0; l < L; ++l) {
        const std::string p = "gpt_neox.layers." + std::to_string(l) + ".";
        norm(p + "input_layernorm", true);
        norm(p + "post_attention_layernorm", true);
        linear(p + "attention.query_key_value", 3 * d, d, true);
        linear(p + "attention.dense", d, d, true);
        linear(p + "mlp.dense_h_to_4h", F, d, true);
        linear(p + "mlp.dense_4h_to_h", d, F, true);
        // A buffer some checkpoints carry; the engine must ignore it.
        add(p + "attention.rotary_emb.inv_freq", {int64_t(s_.hd() * s_.rotary_pct / 2)}, 1, 0);
      }
      norm("gpt_neox.final_layer_norm", true);
      embed("embed_out.weight", V, d);
    } else if (s_.family == "falcon") {
      embed("transformer.word_embeddings.weight", V, d);
      for (int l = 0; l < L; ++l) {
        const std::string p = "transformer.h." + std::to_string(l) + ".";
        if (s_.new_arch && !s_.one_ln) {
          norm(p + "ln_attn", true);
          norm(p + "ln_mlp", true);
        } else {
          norm(p + "input_layernorm", true);
          if (!s_.parallel) norm(p + "post_attention_layernorm", true);
        }
        linear(p + "self_attention.query_key_value", qd + 2 * kvd, d, b);
        linear(p + "self_attention.dense", d, qd, b);
        linear(p + "mlp.dense_h_to_4h", F, d, b);
        linear(p + "mlp.dense_4h_to_h", d, F, b);
      }
      norm("transformer.ln_f", true);
    } else if (s_.family == "mpt") {
      embed("transformer.wte.weight", V, d);
      for (int l = 0; l < L; ++l) {
        const std::string p = "transformer.blocks." + std::to_string(l) + ".";
        norm(p + "norm_1", false);
        linear(p + "attn.Wqkv", 3 * d, d, false);
        linear(p + "attn.out_proj", d, d, false);
        norm(p + "norm_2", false);
        linear(p + "ffn.up_proj", F, d, false);
        linear(p + "ffn.down_proj", d, F, false);
      }
      norm("transformer.norm_f", false);
    } else if (s_.family == "bloom") {
      embed("transformer.word_embeddings.weight", V, d);
      norm("transformer.word_embeddings_layernorm", true);
      for (int l = 0; l < L; ++l) {
        const std::string p = "transformer.h." + std::to_string(l) + ".";
        norm(p + "input_layernorm", true);
        linear(p + "self_attention.query_key_value", 3 * d, d, true);
        linear(p + "self_attention.dense", d, d, true);
        norm(p + "post_attention_layernorm", true);
        linear(p + "mlp.dense_h_to_4h", 4 * d, d, true);
        linear(p + "mlp.dense_4h_to_h", d, 4 * d, true);
      }
      norm("transformer.ln_f", true);
    } else if (s_.family == "gpt2") {
      // openai-community/gpt2 names carry no "transformer." prefix.
      embed("wte.weight", V, d);
      add("wpe.weight", {s_.positions, d}, 0.5, 0);
      for (int l = 0; l < L; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        norm(p + "ln_1", true);
        conv1d(p + "attn.c_attn", d, 3 * d);
        conv1d(p + "attn.c_proj", d, d);
        norm(p + "ln_2", true);
        conv1d(p + "mlp.c_fc", d, F);
        conv1d(p + "mlp.c_proj", F, d);
        // The causal-mask buffer old checkpoints carry; the engine must ignore it.
        Raw& m = t_[p + "attn.bias"];
        m.shape = {1, 1, s_.positions, s_.positions};
        for (int i = 0; i < s_.positions; ++i)
          for (int j = 0; j < s_.positions; ++j) m.v.push_back(j <= i ? 1.0f : 0.0f);
      }
      norm("ln_f", true);
    } else if (s_.family == "gemma3_text") {
      embed("model.embed_tokens.weight", V, d);
      for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        gemma_norm(p + "input_layernorm.weight", d);
        linear(p + "self_attn.q_proj", qd, d, false);
        linear(p + "self_attn.k_proj", kvd, d, false);
        linear(p + "self_attn.v_proj", kvd, d, false);
        linear(p + "self_attn.o_proj", d, qd, false);
        gemma_norm(p + "self_attn.q_norm.weight", s_.hd());
        gemma_norm(p + "self_attn.k_norm.weight", s_.hd());
        gemma_norm(p + "post_attention_layernorm.weight", d);
        gemma_norm(p + "pre_feedforward_layernorm.weight", d);
        linear(p + "mlp.gate_proj", F, d, false);
        linear(p + "mlp.up_proj", F, d, false);
        linear(p + "mlp.down_proj", d, F, false);
        gemma_norm(p + "post_feedforward_layernorm.weight", d);
      }
      gemma_norm("model.norm.weight", d);
    } else {
      const bool qkv_bias = s_.family == "qwen2";
      embed("model.embed_tokens.weight", V, d);
      for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        rms(p + "input_layernorm");
        linear(p + "self_attn.q_proj", qd, d, qkv_bias);
        linear(p + "self_attn.k_proj", kvd, d, qkv_bias);
        linear(p + "self_attn.v_proj", kvd, d, qkv_bias);
        linear(p + "self_attn.o_proj", d, qd, false);
        if (s_.sink_logits) add(p + "self_attn.sinks", {s_.heads}, 1.0, 0.5);
        rms(p + "post_attention_layernorm");
        linear(p + "mlp.gate_proj", F, d, false);
        linear(p + "mlp.up_proj", F, d, false);
        linear(p + "mlp.down_proj", d, F, false);
      }
      rms("model.norm");
      if (!s_.tied) embed("lm_head.weight", V, d);
    }
    return std::move(t_);
  }

 private:
  void add(const std::string& name, std::vector<int64_t> shape, double sd, double mean) {
    Raw& r = t_[name];
    r.shape = std::move(shape);
    int64_t n = 1;
    for (int64_t x : r.shape) n *= x;
    std::normal_distribution<double> N(mean, sd);
    for (int64_t i = 0; i < n; ++i) r.v.push_back(float(N(rng_)));
  }
  void embed(const std::string& name, int rows, int d) { add(name, {rows, d}, 0.7, 0); }
  // PyTorch nn.Linear: weight [out, in].
  void linear(const std::string& p, int out, int in, bool bias) {
    add(p + ".weight", {out, in}, 1.0 / std::sqrt(in), 0);
    if (bias) add(p + ".bias", {out}, 0.2, 0);
  }
  // GPT-2 Conv1D: weight [in, out], always a bias.
  void conv1d(const std::string& p, int in, int out) {
    add(p + ".weight", {in, out}, 1.0 / std::sqrt(in), 0);
    add(p + ".bias", {out}, 0.2, 0);
  }
  void norm(const std::string& p, bool bias) {
    add(p + ".weight", {s_.dim}, 0.15, 1);
    if (bias) add(p + ".bias", {s_.dim}, 0.15, 0);
  }
  void rms(const std::string& p) { add(p + ".weight", {s_.dim}, 0.15, 1); }
  // Gemma stores w and scales by 1 + w: values near 0.
  void gemma_norm(const std::string& name, int n) { add(name, {n}, 0.3, 0); }

  const Spec& s_;
  std::mt19937_64 rng_;
  Tensors t_;
};

json hf_config(const Spec& s) {
  if (s.family == "gpt_neox")
    return {{"model_type", "gpt_neox"},       {"architectures", {"GPTNeoXForCausalLM"}},
            {"hidden_size", s.dim},           {"intermediate_size", s.ffn},
            {"num_attention_heads", s.heads}, {"num_hidden_layers", s.layers},
            {"vocab_size", s.vocab},          {"max_position_embeddings", 128},
            {"rotary_pct", s.rotary_pct},     {"rotary_emb_base", s.rope_theta},
            {"layer_norm_eps", s.eps},        {"use_parallel_residual", s.parallel},
            {"hidden_act", "gelu"},           {"tie_word_embeddings", false}};
  if (s.family == "falcon") {
    json j = {{"model_type", "falcon"},
              {"architectures", {"FalconForCausalLM"}},
              {"hidden_size", s.dim},
              {"num_attention_heads", s.heads},
              {"num_hidden_layers", s.layers},
              {"vocab_size", s.vocab},
              {"ffn_hidden_size", s.ffn},
              {"layer_norm_epsilon", s.eps},
              {"new_decoder_architecture", s.new_arch},
              {"multi_query", s.multi_query},
              {"parallel_attn", s.parallel},
              {"alibi", s.alibi},
              {"bias", s.bias},
              {"rope_theta", s.rope_theta}};
    if (s.new_arch) j["num_kv_heads"] = s.kv_heads;
    if (s.new_arch) j["num_ln_in_parallel_attn"] = s.one_ln ? 1 : 2;
    return j;
  }
  if (s.family == "mpt")
    return {{"model_type", "mpt"},
            {"architectures", {"MPTForCausalLM"}},
            {"d_model", s.dim},
            {"n_heads", s.heads},
            {"n_layers", s.layers},
            {"expansion_ratio", s.ffn / s.dim},
            {"max_seq_len", 128},
            {"vocab_size", s.vocab},
            {"no_bias", true},
            {"learned_pos_emb", true},  // switched off by alibi in MPT
            {"attn_config",
             {{"attn_type", "multihead_attention"},
              {"alibi", true},
              {"alibi_bias_max", s.alibi_bias_max},
              {"clip_qkv", s.clip_qkv},
              {"qk_ln", false},
              {"softmax_scale", nullptr}}}};
  if (s.family == "bloom")
    return {{"model_type", "bloom"},
            {"architectures", {"BloomForCausalLM"}},
            {"n_embed", s.dim},
            {"n_head", s.heads},
            {"n_layer", s.layers},
            {"vocab_size", s.vocab},
            {"layer_norm_epsilon", s.eps},
            {"apply_residual_connection_post_layernorm", false}};
  if (s.family == "gpt2")
    return {{"model_type", "gpt2"},
            {"architectures", {"GPT2LMHeadModel"}},
            {"n_embd", s.dim},
            {"n_head", s.heads},
            {"n_layer", s.layers},
            {"n_positions", s.positions},
            {"n_inner", nullptr},
            {"vocab_size", s.vocab},
            {"layer_norm_epsilon", s.eps},
            {"activation_function", "gelu_new"}};
  if (s.family == "gemma3_text") {
    json j = {{"model_type", "gemma3_text"},
              {"architectures", {"Gemma3ForCausalLM"}},
              {"hidden_size", s.dim},
              {"intermediate_size", s.ffn},
              {"num_attention_heads", s.heads},
              {"num_key_value_heads", s.kv_heads},
              {"head_dim", s.hd()},
              {"num_hidden_layers", s.layers},
              {"vocab_size", s.vocab},
              {"max_position_embeddings", 128},
              {"rms_norm_eps", s.eps},
              {"rope_theta", s.rope_theta},
              {"rope_local_base_freq", s.rope_local},
              {"sliding_window", s.sliding_window},
              {"query_pre_attn_scalar", s.query_pre_attn},
              {"hidden_activation", "gelu_pytorch_tanh"},
              {"rope_scaling", nullptr},
              {"attn_logit_softcapping", nullptr},
              {"final_logit_softcapping", nullptr}};
    if (s.layer_types) {
      j["layer_types"] = json::array();
      for (int l = 0; l < s.layers; ++l)
        j["layer_types"].push_back(s.local(l) ? "sliding_attention" : "full_attention");
    } else {
      j["sliding_window_pattern"] = s.sliding_pattern;
    }
    if (s.attn_softcap) j["attn_logit_softcapping"] = s.attn_softcap;
    if (s.final_softcap) j["final_logit_softcapping"] = s.final_softcap;
    return j;
  }
  const std::map<std::string, std::string> cls = {{"llama", "LlamaForCausalLM"},
                                                  {"mistral", "MistralForCausalLM"},
                                                  {"qwen2", "Qwen2ForCausalLM"}};
  json j = {{"model_type", s.family},         {"architectures", {cls.at(s.family)}},
            {"hidden_size", s.dim},           {"intermediate_size", s.ffn},
            {"num_attention_heads", s.heads}, {"num_key_value_heads", s.kv_heads},
            {"num_hidden_layers", s.layers},  {"vocab_size", s.vocab},
            {"max_position_embeddings", 128}, {"rms_norm_eps", s.eps},
            {"rope_theta", s.rope_theta},     {"hidden_act", "silu"},
            {"tie_word_embeddings", s.tied}};
  if (s.head_dim) j["head_dim"] = s.head_dim;
  if (s.sliding_window) j["sliding_window"] = s.sliding_window;
  if (s.family == "qwen2") j["use_sliding_window"] = false;
  return j;
}

enum class Store { F32, F16, BF16 };

// Every value as the given dtype stores it.
Tensors rounded(Tensors t, Store st) {
  for (auto& [name, r] : t)
    for (float& x : r.v) {
      if (st == Store::F16) x = f16_to_f32(f32_to_f16(x));
      if (st == Store::BF16) x = bf16_to_f32(f32_to_bf16(x));
    }
  return t;
}

// Writes config.json + model.safetensors into a fresh directory.
std::string write_checkpoint(const json& config, const Tensors& t, Store st = Store::F32) {
  const std::string dir = sstest::temp_dir();
  std::ofstream(dir + "/config.json") << config.dump(2);
  std::vector<std::vector<uint16_t>> half;
  half.reserve(t.size());
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, r] : t) {
    Tensor x;
    x.shape = r.shape;
    if (st == Store::F32) {
      x.data = r.v.data();
    } else {
      auto& h = half.emplace_back();
      for (float f : r.v) h.push_back(st == Store::F16 ? f32_to_f16(f) : f32_to_bf16(f));
      x.dtype = st == Store::F16 ? DType::F16 : DType::BF16;
      x.data = h.data();
    }
    out.emplace_back(name, x);
  }
  save_safetensors(dir + "/model.safetensors", out);
  return dir;
}

// ---------------------------------------------------------------------------
// The reference: each family's forward pass from its defining equations, in
// double, on the original tensors. Positions: dense runs use text positions
// (under the model's sliding window, if any); sink runs keep the first S and
// last W tokens and number them 0..n-1 by place, the query at n-1.

Vec linear(const Vec& W, const Vec* b, const Vec& x) {  // W: [out][in]
  Vec y(W.size() / x.size());
  for (size_t o = 0; o < y.size(); ++o) {
    double s = b ? (*b)[o] : 0.0;
    for (size_t i = 0; i < x.size(); ++i) s += W[o * x.size() + i] * x[i];
    y[o] = s;
  }
  return y;
}
Vec conv1d(const Vec& W, const Vec& b, const Vec& x) {  // W: [in][out]
  Vec y = b;
  for (size_t i = 0; i < x.size(); ++i)
    for (size_t o = 0; o < y.size(); ++o) y[o] += x[i] * W[i * y.size() + o];
  return y;
}
Vec layer_norm(const Vec& x, const Vec& g, const Vec* b, double eps) {
  double mean = 0, var = 0;
  for (double v : x) mean += v / x.size();
  for (double v : x) var += (v - mean) * (v - mean) / x.size();
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    y[i] = (x[i] - mean) / std::sqrt(var + eps) * g[i] + (b ? (*b)[i] : 0.0);
  return y;
}
Vec rms_norm(const Vec& x, const Vec& g, double eps) {
  double ms = 0;
  for (double v : x) ms += v * v / x.size();
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + eps) * g[i];
  return y;
}
double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
Vec each(Vec x, double (*f)(double)) {
  for (double& v : x) v = f(v);
  return x;
}
Vec operator+(Vec a, const Vec& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

// HF apply_rotary_pos_emb on the first r dims of one head: x * cos + rotate_half(x) * sin
// with emb = cat(freqs, freqs) and rotate_half(x) = cat(-x2, x1).
Vec rotary(const Vec& x, int r, double base, int64_t pos) {
  Vec y = x;
  for (int k = 0; k < r; ++k) {
    const double inv_freq = 1.0 / std::pow(base, double(2 * (k % (r / 2))) / r);
    const double ang = double(pos) * inv_freq;
    const double rot_half = k < r / 2 ? -x[k + r / 2] : x[k - r / 2];
    y[k] = x[k] * std::cos(ang) + rot_half * std::sin(ang);
  }
  return y;
}

// Press et al.'s get_slopes (BLOOM, Falcon): a geometric series from
// 2^(-8/n) for a power of two; otherwise the closest lower power's slopes and
// every other slope of the next power, recursively.
std::vector<double> press_slopes(int n) {
  const auto pow2 = [](int m) {
    std::vector<double> s;
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(double(m)) - 3)));
    for (int i = 0; i < m; ++i) s.push_back(start * std::pow(start, i));
    return s;
  };
  if (std::log2(double(n)) == std::floor(std::log2(double(n)))) return pow2(n);
  const int closest = 1 << int(std::floor(std::log2(double(n))));
  std::vector<double> s = pow2(closest);
  const std::vector<double> next = press_slopes(2 * closest);
  for (int i = 0; int(s.size()) < n; i += 2) s.push_back(next[i]);
  return s;
}

// MPT's gen_slopes: 1/2^(m * max / N) for m = 1..N, N the next power of two,
// then the odd-indexed ones followed by the even-indexed ones, cut to n.
std::vector<double> mpt_slopes(int n, double bias_max) {
  const int N = 1 << int(std::ceil(std::log2(double(n))));
  std::vector<double> s;
  for (int m = 1; m <= N; ++m) s.push_back(1.0 / std::pow(2.0, m * bias_max / N));
  if (N == n) return s;
  std::vector<double> r;
  for (int i = 1; i < N; i += 2) r.push_back(s[i]);
  for (int i = 0; i < N; i += 2) r.push_back(s[i]);
  r.resize(n);
  return r;
}

class Reference {
 public:
  Reference(const Spec& s, const Tensors& t) : s_(s), t_(t) {
    if (s.family == "bloom" || (s.family == "falcon" && s.alibi)) slopes_ = press_slopes(s.heads);
    if (s.family == "mpt") slopes_ = mpt_slopes(s.heads, s.alibi_bias_max);
  }

  // Logits after each token. window < 0: every token at its text position.
  // Local (sliding-window) layers see the last sliding_window tokens at their
  // text positions under every policy.
  std::vector<Vec> run(const std::vector<int>& tokens, int sinks, int window) {
    K_.assign(s_.layers, {});
    V_.assign(s_.layers, {});
    std::vector<Vec> out;
    for (size_t t = 0; t < tokens.size(); ++t) {
      Step st, local;
      for (int64_t j = 0; j <= int64_t(t); ++j) {
        if (window < 0) {
          st.kept.push_back(j);
          st.kpos.push_back(j);
        } else if (j < sinks || j >= int64_t(t) - window) {  // S sinks + W past + t
          st.kept.push_back(j);
          st.kpos.push_back(int64_t(st.kpos.size()));
        }
        if (j > int64_t(t) - s_.sliding_window) {
          local.kept.push_back(j);
          local.kpos.push_back(j);
        }
      }
      st.qpos = window < 0 ? int64_t(t) : int64_t(st.kept.size()) - 1;
      local.qpos = int64_t(t);
      Vec x = embed(tokens[t], int64_t(t));
      for (int l = 0; l < s_.layers; ++l) x = layer(l, x, s_.local(l) ? local : st);
      out.push_back(head(x));
    }
    return out;
  }
  int64_t clipped = 0;  // q/k/v values clip_qkv clamped

 private:
  struct Step {
    std::vector<int64_t> kept, kpos;  // kept tokens and their key positions
    int64_t qpos = 0;
  };

  const Vec& w(const std::string& name) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    const Raw& r = t_.at(name);
    return cache_[name] = Vec(r.v.begin(), r.v.end());
  }
  const Vec* opt(const std::string& name) { return t_.count(name) ? &w(name) : nullptr; }
  Vec row(const std::string& name, int64_t r) {
    const Vec& m = w(name);
    return Vec(m.begin() + r * s_.dim, m.begin() + (r + 1) * s_.dim);
  }
  Vec ln(const std::string& p, const Vec& x) {
    return layer_norm(x, w(p + ".weight"), opt(p + ".bias"), s_.eps);
  }
  Vec lin(const std::string& p, const Vec& x) {
    return linear(w(p + ".weight"), opt(p + ".bias"), x);
  }
  Vec conv(const std::string& p, const Vec& x) {
    return conv1d(w(p + ".weight"), w(p + ".bias"), x);
  }

  Vec embed(int tok, int64_t t) {
    const std::string& f = s_.family;
    if (f == "gpt_neox") return row("gpt_neox.embed_in.weight", tok);
    if (f == "falcon") return row("transformer.word_embeddings.weight", tok);
    if (f == "mpt") return row("transformer.wte.weight", tok);
    if (f == "bloom")
      return ln("transformer.word_embeddings_layernorm",
                row("transformer.word_embeddings.weight", tok));
    if (f == "gpt2") return row("wte.weight", tok) + row("wpe.weight", t);
    if (f == "gemma3_text") {  // Gemma3TextScaledWordEmbedding
      Vec e = row("model.embed_tokens.weight", tok);
      for (double& v : e) v *= std::sqrt(double(s_.dim));
      return e;
    }
    return row("model.embed_tokens.weight", tok);
  }

  Vec head(const Vec& x) {
    const std::string& f = s_.family;
    if (f == "gpt_neox")
      return linear(w("embed_out.weight"), nullptr, ln("gpt_neox.final_layer_norm", x));
    if (f == "falcon" || f == "bloom")
      return linear(w("transformer.word_embeddings.weight"), nullptr, ln("transformer.ln_f", x));
    if (f == "mpt")
      return linear(w("transformer.wte.weight"), nullptr, ln("transformer.norm_f", x));
    if (f == "gpt2") return linear(w("wte.weight"), nullptr, ln("ln_f", x));
    if (f == "gemma3_text") {
      Vec z = linear(w("model.embed_tokens.weight"), nullptr, gnorm("model.norm.weight", x));
      if (s_.final_softcap > 0)
        for (double& v : z) v = s_.final_softcap * std::tanh(v / s_.final_softcap);
      return z;
    }
    const Vec h = rms_norm(x, w("model.norm.weight"), s_.eps);
    return linear(w(s_.tied ? "model.embed_tokens.weight" : "lm_head.weight"), nullptr, h);
  }

  Vec layer(int l, const Vec& x, const Step& st) {
    const std::string& f = s_.family;
    const std::string L = std::to_string(l);
    if (f == "gpt_neox") return neox(l, "gpt_neox.layers." + L + ".", x, st);
    if (f == "falcon") return falcon(l, "transformer.h." + L + ".", x, st);
    if (f == "mpt") return mpt(l, "transformer.blocks." + L + ".", x, st);
    if (f == "bloom") return bloom(l, "transformer.h." + L + ".", x, st);
    if (f == "gpt2") return gpt2(l, "h." + L + ".", x, st);
    if (f == "gemma3_text") return gemma3(l, "model.layers." + L + ".", x, st);
    return llama(l, "model.layers." + L + ".", x, st);
  }

  // Picks head-major q [H][hd], k and v [Hkv][hd] out of a fused projection,
  // where element (h, i) of q sits at qi(h, i) and so on.
  template <typename Q, typename K, typename V>
  void split(const Vec& f, Q qi, K ki, V vi, Vec& q, Vec& k, Vec& v) const {
    const int hd = s_.hd();
    q.assign(size_t(s_.heads) * hd, 0);
    k.assign(size_t(s_.kv_heads) * hd, 0);
    v.assign(size_t(s_.kv_heads) * hd, 0);
    for (int h = 0; h < s_.heads; ++h)
      for (int i = 0; i < hd; ++i) q[h * hd + i] = f[qi(h, i)];
    for (int h = 0; h < s_.kv_heads; ++h)
      for (int i = 0; i < hd; ++i) {
        k[h * hd + i] = f[ki(h, i)];
        v[h * hd + i] = f[vi(h, i)];
      }
  }
  // fused.view(H, 3, hd): NeoX, BLOOM, Falcon without multi-query.
  void split_per_head(const Vec& f, Vec& q, Vec& k, Vec& v) const {
    const int hd = s_.hd();
    split(
        f, [&](int h, int i) { return (h * 3 + 0) * hd + i; },
        [&](int h, int i) { return (h * 3 + 1) * hd + i; },
        [&](int h, int i) { return (h * 3 + 2) * hd + i; }, q, k, v);
  }
  // [q | k | v] concatenated: MPT's chunk(3), GPT-2's split(n_embd).
  void split_concat(const Vec& f, Vec& q, Vec& k, Vec& v) const {
    const int d = s_.dim, hd = s_.hd();
    split(
        f, [&](int h, int i) { return h * hd + i; }, [&](int h, int i) { return d + h * hd + i; },
        [&](int h, int i) { return 2 * d + h * hd + i; }, q, k, v);
  }

  // Attention of the current token (whose k and v join the layer's store).
  Vec attend(int l, const Vec& q, const Vec& k, const Vec& v, const Step& st) {
    K_[l].push_back(k);
    V_[l].push_back(v);
    const int H = s_.heads, hd = s_.hd(), g = s_.heads / s_.kv_heads;
    const bool rope = s_.family == "gpt_neox" || is_llama_like(s_) || s_.family == "gemma3_text" ||
                      (s_.family == "falcon" && !s_.alibi);
    const double base = s_.theta(l);
    const double scale = 1 / std::sqrt(s_.query_pre_attn > 0 ? s_.query_pre_attn : double(hd));
    const int r = s_.family == "gpt_neox" ? int(hd * s_.rotary_pct) : hd;
    const Vec* sinks =
        s_.sink_logits ? &w("model.layers." + std::to_string(l) + ".self_attn.sinks") : nullptr;
    Vec out(size_t(H) * hd, 0.0);
    for (int h = 0; h < H; ++h) {
      const int kh = h / g;  // repeat_kv / Falcon's broadcast over the group
      Vec qh(q.begin() + h * hd, q.begin() + (h + 1) * hd);
      if (rope) qh = rotary(qh, r, base, st.qpos);
      Vec sc;
      for (size_t n = 0; n < st.kept.size(); ++n) {
        const Vec& kt = K_[l][st.kept[n]];
        Vec kh_(kt.begin() + kh * hd, kt.begin() + (kh + 1) * hd);
        if (rope) kh_ = rotary(kh_, r, base, st.kpos[n]);
        double dot = 0;
        for (int i = 0; i < hd; ++i) dot += qh[i] * kh_[i];
        const double dist = double(st.qpos - st.kpos[n]);
        if (s_.family == "falcon" && s_.alibi &&
            s_.alibi_scaled)  // (q.k + alibi) * inv_norm_factor
          sc.push_back((dot - slopes_[h] * dist) / std::sqrt(double(hd)));
        else if (!slopes_.empty())  // q.k / sqrt(d) + alibi
          sc.push_back(dot / std::sqrt(double(hd)) - slopes_[h] * dist);
        else if (s_.attn_softcap > 0)  // Gemma 2: tanh-capped after scaling
          sc.push_back(s_.attn_softcap * std::tanh(dot * scale / s_.attn_softcap));
        else
          sc.push_back(dot * scale);
      }
      double mx = sinks ? (*sinks)[h] : -1e300;
      for (double x : sc) mx = std::max(mx, x);
      double sum = sinks ? std::exp((*sinks)[h] - mx) : 0.0;
      for (double& x : sc) sum += (x = std::exp(x - mx));
      for (size_t n = 0; n < st.kept.size(); ++n)
        for (int i = 0; i < hd; ++i)
          out[h * hd + i] += sc[n] / sum * V_[l][st.kept[n]][kh * hd + i];
    }
    return out;
  }

  // GPTNeoXLayer: x + attn(ln1(x)) + mlp(ln2(x)), or sequential.
  Vec neox(int l, const std::string& p, const Vec& x, const Step& st) {
    Vec q, k, v;
    split_per_head(lin(p + "attention.query_key_value", ln(p + "input_layernorm", x)), q, k, v);
    const Vec a = lin(p + "attention.dense", attend(l, q, k, v, st));
    auto mlp = [&](const Vec& h) {
      return lin(p + "mlp.dense_4h_to_h", each(lin(p + "mlp.dense_h_to_4h", h), gelu));
    };
    if (s_.parallel) return x + a + mlp(ln(p + "post_attention_layernorm", x));
    const Vec y = x + a;
    return y + mlp(ln(p + "post_attention_layernorm", y));
  }

  // FalconDecoderLayer.
  Vec falcon(int l, const std::string& p, const Vec& x, const Step& st) {
    const bool two_ln = s_.new_arch && !s_.one_ln;
    const Vec ha = ln(p + (two_ln ? "ln_attn" : "input_layernorm"), x);
    const Vec f = lin(p + "self_attention.query_key_value", ha);
    const int hd = s_.hd(), H = s_.heads, Hkv = s_.kv_heads, g = H / Hkv;
    Vec q, k, v;
    if (s_.new_arch) {  // view(Hkv, g + 2, hd): the group's queries, then k, then v
      split(
          f, [&](int h, int i) { return ((h / g) * (g + 2) + h % g) * hd + i; },
          [&](int h, int i) { return (h * (g + 2) + g) * hd + i; },
          [&](int h, int i) { return (h * (g + 2) + g + 1) * hd + i; }, q, k, v);
    } else if (s_.multi_query) {  // view(H + 2, hd)
      split(
          f, [&](int h, int i) { return h * hd + i; }, [&](int, int i) { return H * hd + i; },
          [&](int, int i) { return (H + 1) * hd + i; }, q, k, v);
    } else {
      split_per_head(f, q, k, v);
    }
    const Vec a = lin(p + "self_attention.dense", attend(l, q, k, v, st));
    auto mlp = [&](const Vec& h) {
      return lin(p + "mlp.dense_4h_to_h", each(lin(p + "mlp.dense_h_to_4h", h), gelu));
    };
    if (two_ln) return x + a + mlp(ln(p + "ln_mlp", x));
    if (s_.new_arch || s_.parallel) return x + a + mlp(ha);  // new arch: parallel_attn ignored
    const Vec y = x + a;
    return y + mlp(ln(p + "post_attention_layernorm", y));
  }

  // MptBlock: weight-only LayerNorms, clamped Wqkv, GELU MLP.
  Vec mpt(int l, const std::string& p, const Vec& x, const Step& st) {
    Vec f = lin(p + "attn.Wqkv", ln(p + "norm_1", x));
    for (double& z : f) {
      if (s_.clip_qkv <= 0) break;
      const double c = std::clamp(z, -s_.clip_qkv, s_.clip_qkv);
      clipped += c != z;
      z = c;
    }
    Vec q, k, v;
    split_concat(f, q, k, v);
    const Vec y = x + lin(p + "attn.out_proj", attend(l, q, k, v, st));
    return y + lin(p + "ffn.down_proj", each(lin(p + "ffn.up_proj", ln(p + "norm_2", y)), gelu));
  }

  // BloomBlock (apply_residual_connection_post_layernorm false).
  Vec bloom(int l, const std::string& p, const Vec& x, const Step& st) {
    Vec q, k, v;
    split_per_head(lin(p + "self_attention.query_key_value", ln(p + "input_layernorm", x)), q, k,
                   v);
    const Vec y = x + lin(p + "self_attention.dense", attend(l, q, k, v, st));
    const Vec h = ln(p + "post_attention_layernorm", y);
    return y + lin(p + "mlp.dense_4h_to_h", each(lin(p + "mlp.dense_h_to_4h", h), gelu_tanh));
  }

  // GPT2Block with Conv1D projections.
  Vec gpt2(int l, const std::string& p, const Vec& x, const Step& st) {
    Vec q, k, v;
    split_concat(conv(p + "attn.c_attn", ln(p + "ln_1", x)), q, k, v);
    const Vec y = x + conv(p + "attn.c_proj", attend(l, q, k, v, st));
    return y + conv(p + "mlp.c_proj", each(conv(p + "mlp.c_fc", ln(p + "ln_2", y)), gelu_tanh));
  }

  // Gemma3RMSNorm: x / rms(x) * (1 + w).
  Vec gnorm(const std::string& name, const Vec& x) {
    Vec g = w(name);
    for (double& v : g) v += 1;
    return rms_norm(x, g, s_.eps);
  }
  // Each head of a [heads][hd] vector through gnorm (Gemma 3's q_norm, k_norm).
  Vec per_head(const std::string& name, const Vec& x) {
    const int hd = s_.hd();
    Vec y;
    for (size_t h = 0; h < x.size() / hd; ++h) {
      const Vec n = gnorm(name, Vec(x.begin() + h * hd, x.begin() + (h + 1) * hd));
      y.insert(y.end(), n.begin(), n.end());
    }
    return y;
  }
  // Gemma3DecoderLayer: sandwich norms around attention and the GELU-tanh MLP.
  Vec gemma3(int l, const std::string& p, const Vec& x, const Step& st) {
    const Vec h = gnorm(p + "input_layernorm.weight", x);
    const Vec q = per_head(p + "self_attn.q_norm.weight", lin(p + "self_attn.q_proj", h));
    const Vec k = per_head(p + "self_attn.k_norm.weight", lin(p + "self_attn.k_proj", h));
    const Vec v = lin(p + "self_attn.v_proj", h);
    const Vec a = lin(p + "self_attn.o_proj", attend(l, q, k, v, st));
    const Vec y = x + gnorm(p + "post_attention_layernorm.weight", a);
    const Vec h2 = gnorm(p + "pre_feedforward_layernorm.weight", y);
    Vec gate = each(lin(p + "mlp.gate_proj", h2), gelu_tanh);
    const Vec up = lin(p + "mlp.up_proj", h2);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] *= up[i];
    return y + gnorm(p + "post_feedforward_layernorm.weight", lin(p + "mlp.down_proj", gate));
  }

  // LlamaDecoderLayer (Mistral, Qwen2): RMSNorm, SwiGLU.
  Vec llama(int l, const std::string& p, const Vec& x, const Step& st) {
    const Vec h = rms_norm(x, w(p + "input_layernorm.weight"), s_.eps);
    const Vec q = lin(p + "self_attn.q_proj", h), k = lin(p + "self_attn.k_proj", h),
              v = lin(p + "self_attn.v_proj", h);
    const Vec y = x + lin(p + "self_attn.o_proj", attend(l, q, k, v, st));
    const Vec h2 = rms_norm(y, w(p + "post_attention_layernorm.weight"), s_.eps);
    Vec gate = lin(p + "mlp.gate_proj", h2);
    const Vec up = lin(p + "mlp.up_proj", h2);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
    return y + lin(p + "mlp.down_proj", gate);
  }

  const Spec& s_;
  const Tensors& t_;
  std::map<std::string, Vec> cache_;
  std::vector<double> slopes_;
  std::vector<std::vector<Vec>> K_, V_;  // per layer, per token: raw k and v
};

// ---------------------------------------------------------------------------
// Test plumbing.

struct Built {
  Tensors tensors;
  std::string dir;
};

const Built& built(const Spec& s) {
  static std::map<std::string, Built> cache;
  auto it = cache.find(s.name);
  if (it != cache.end()) return it->second;
  Built b;
  b.tensors = Generator(s, std::hash<std::string>()(s.name)).make();
  b.dir = write_checkpoint(hf_config(s), b.tensors);
  return cache[s.name] = std::move(b);
}

std::vector<int> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = int(rng() % vocab);
  return t;
}

// Per-token NLL of tokens[i+1] from the reference's logits.
std::vector<double> nll(const std::vector<Vec>& logits, const std::vector<int>& tokens) {
  std::vector<double> out;
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    out.push_back(sstest::reference_token_nll(logits[i], tokens[i + 1]));
  return out;
}

// Rows of logits: the engine's (float) or the reference's (double).
template <typename A, typename B>
double max_abs_diff(const std::vector<std::vector<A>>& a, const std::vector<std::vector<B>>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    for (size_t j = 0; j < a[i].size(); ++j) m = std::max(m, std::abs(double(a[i][j]) - b[i][j]));
  return m;
}
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  return max_abs_diff(std::vector<Vec>{a}, std::vector<Vec>{b});
}

constexpr double kTol = 1e-4;
constexpr int kDenseTokens = 24, kStreamTokens = 30, kSinks = 2, kWindow = 5;

void expect_one_line_error(const sstest::CliResult& r, const std::vector<std::string>& needles,
                           const std::string& what) {
  EXPECT_EQ(r.status, 2) << what << "\nstderr: " << r.err;
  ASSERT_FALSE(r.err.empty()) << what;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("sinkstream: error: ", 0), 0u) << r.err;
  for (const std::string& n : needles)
    EXPECT_NE(r.err.find(n), std::string::npos) << "want '" << n << "' in: " << r.err;
}

std::string ids_file(int n, int vocab) {
  const std::string p = sstest::temp_dir() + "/ids.txt";
  std::ofstream f(p);
  for (int t : random_tokens(n, vocab, 99)) f << t << ' ';
  return p;
}

// The fused QKV projection (or q's stand-in) of layer 0, by original name.
std::string qkv_name(const Spec& s) {
  if (s.family == "gpt_neox") return "gpt_neox.layers.0.attention.query_key_value.weight";
  if (s.family == "falcon" || s.family == "bloom")
    return "transformer.h.0.self_attention.query_key_value.weight";
  if (s.family == "mpt") return "transformer.blocks.0.attn.Wqkv.weight";
  if (s.family == "gpt2") return "h.0.attn.c_attn.weight";
  return "model.layers.0.self_attn.k_proj.weight";
}
// Layer 1's MLP down projection, by original name.
std::string down_name(const Spec& s) {
  if (s.family == "gpt_neox") return "gpt_neox.layers.1.mlp.dense_4h_to_h.weight";
  if (s.family == "falcon" || s.family == "bloom")
    return "transformer.h.1.mlp.dense_4h_to_h.weight";
  if (s.family == "mpt") return "transformer.blocks.1.ffn.down_proj.weight";
  if (s.family == "gpt2") return "h.1.mlp.c_proj.weight";
  return "model.layers.1.mlp.down_proj.weight";
}

class Families : public ::testing::TestWithParam<Spec> {};

TEST_P(Families, DenseLogitsMatchReference) {
  const Spec& s = GetParam();
  const Built& b = built(s);
  const auto tokens = random_tokens(kDenseTokens, s.vocab, 1);
  const auto ref = Reference(s, b.tensors).run(tokens, 0, -1);
  auto model = Model::load(b.dir);
  EXPECT_EQ(model->config().family, s.family);
  const auto got =
      engine_logits(model, CachePolicy::make("dense", 0, kDenseTokens), tokens, kDenseTokens);
  EXPECT_LT(max_abs_diff(got, ref), kTol);
  // Token by token (the GEMV path) agrees too.
  const auto got1 = engine_logits(model, CachePolicy::make("dense", 0, kDenseTokens), tokens, 1);
  EXPECT_LT(max_abs_diff(got1, ref), kTol);
}

TEST_P(Families, SinksStreamNllMatchesReference) {
  const Spec& s = GetParam();
  const Built& b = built(s);
  auto model = Model::load(b.dir);
  const auto tokens = random_tokens(kStreamTokens, s.vocab, 2);
  const CachePolicy sinks = CachePolicy::make("sinks", kSinks, kWindow);
  if (s.family == "gpt2") {
    for (const CachePolicy& p : {sinks, CachePolicy::make("window", 0, kWindow)}) {
      try {
        engine_logits(model, p, tokens, 7);
        ADD_FAILURE() << p.name() << " accepted learned absolute positions";
      } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_EQ(m.find('\n'), std::string::npos) << m;
        EXPECT_NE(m.find("learned absolute positions"), std::string::npos) << m;
        EXPECT_NE(m.find(p.name()), std::string::npos) << m;
      }
    }
    return;
  }
  Reference ref(s, b.tensors);
  const auto want = nll(ref.run(tokens, kSinks, kWindow), tokens);
  for (int chunk : {1, 7}) {
    const auto got = engine_nll(model, sinks, tokens, chunk);
    EXPECT_LT(max_abs_diff(got, want), kTol) << "chunk " << chunk;
  }
  // The sink cache really evicted: dense scores differ, unless every layer
  // is local (Mistral), so that no policy can change what it attends.
  const auto dense = nll(Reference(s, b.tensors).run(tokens, 0, -1), tokens);
  bool all_local = true;
  for (int l = 0; l < s.layers; ++l) all_local = all_local && s.local(l);
  if (all_local)
    EXPECT_LT(max_abs_diff(dense, want), kTol);
  else
    EXPECT_GT(max_abs_diff(dense, want), 1e-3);
}

TEST_P(Families, CliInfoPrintsFamily) {
  const Spec& s = GetParam();
  const auto r = sstest::run_cli("info " + built(s).dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("(^|\n)family +" + s.family + "\n"))) << r.out;
}

TEST_P(Families, CliPplMatchesReference) {
  const Spec& s = GetParam();
  const Built& b = built(s);
  const std::string ids = ids_file(kStreamTokens, s.vocab);
  const std::string args = "ppl --no-progress --no-bos --policy sinks --sinks " +
                           std::to_string(kSinks) + " --window " + std::to_string(kWindow) +
                           " --ids " + ids + " -m " + b.dir;
  const auto r = sstest::run_cli(args);
  if (s.family == "gpt2") {
    expect_one_line_error(r, {"learned absolute positions", "recompute"}, args);
    return;
  }
  ASSERT_EQ(r.status, 0) << r.err;
  double want = 0;
  const auto tokens = random_tokens(kStreamTokens, s.vocab, 99);
  for (double x : nll(Reference(s, b.tensors).run(tokens, kSinks, kWindow), tokens))
    want += x / (kStreamTokens - 1);
  EXPECT_NEAR(json::parse(r.out)["nll"].get<double>(), want, kTol);
}

TEST_P(Families, CliMissingTensorIsOneLineError) {
  const Spec& s = GetParam();
  Tensors t = built(s).tensors;
  ASSERT_EQ(t.erase(down_name(s)), 1u);
  const std::string dir = write_checkpoint(hf_config(s), t);
  for (const std::string& cmd : std::vector<std::string>{
           "info " + dir, "ppl --no-progress --ids " + ids_file(8, s.vocab) + " -m " + dir})
    expect_one_line_error(sstest::run_cli(cmd), {dir, "model.layers.1.mlp.down_proj.weight"}, cmd);
}

TEST_P(Families, CliMisshapedQkvIsOneLineError) {
  const Spec& s = GetParam();
  Tensors t = built(s).tensors;
  Raw& r = t.at(qkv_name(s));
  // One row too many (GPT-2's Conv1D: one output column too many).
  r.shape[s.family == "gpt2" ? 1 : 0] += 1;
  r.v.resize(size_t(r.shape[0] * r.shape[1]), 0.5f);
  const std::string dir = write_checkpoint(hf_config(s), t);
  Tensor shown;
  shown.shape = r.shape;
  const std::string cmd = "ppl --no-progress --ids " + ids_file(8, s.vocab) + " -m " + dir;
  std::vector<std::string> want = {dir, qkv_name(s), shown.shape_str()};
  if (s.family == "gpt2") want.push_back(" columns");
  expect_one_line_error(sstest::run_cli(cmd), want, cmd);
}

// GGUF under llama.cpp's names and keys (src/io/gguf_arch.cpp): written at f32
// and read back, every family is the model its Hugging Face checkpoint is.
TEST_P(Families, GgufRoundTripKeepsTheModel) {
  const Spec& s = GetParam();
  const Built& b = built(s);
  const std::string out = sstest::temp_dir() + "/" + s.name + ".gguf";
  if (s.attn_softcap > 0 || (s.query_pre_attn > 0 && s.query_pre_attn != s.hd())) {
    // llama.cpp's gemma3 has neither key: it scales by head_dim and caps no scores.
    const std::string m =
        sstest::error_of([&] { save_gguf(load_checkpoint(b.dir), nullptr, DType::F32, out); });
    EXPECT_NE(m.find("cannot hold this gemma3_text model's query scale"), std::string::npos) << m;
    EXPECT_NE(m.find("soft-capping"), std::string::npos) << m;
    return;
  }
  save_gguf(load_checkpoint(b.dir), nullptr, DType::F32, out);
  const auto hf = Model::load(b.dir);
  const auto gg = Model::load(out);
  ASSERT_EQ(gg->checkpoint().format, "gguf");
  const ModelConfig &h = hf->config(), &g = gg->config();
  EXPECT_EQ(g.family, s.family);
  EXPECT_EQ(g.sliding_window, h.sliding_window);
  EXPECT_EQ(g.max_seq_len, h.max_seq_len);
  EXPECT_EQ(g.norm_eps, h.norm_eps);
  EXPECT_EQ(g.position, h.position);
  EXPECT_EQ(g.rot_dim(), h.rot_dim());
  EXPECT_EQ(g.parallel_residual, h.parallel_residual);
  EXPECT_EQ(g.tied_embeddings, h.tied_embeddings);
  EXPECT_EQ(g.n_kv_heads, h.n_kv_heads);
  EXPECT_EQ(g.head_dim, h.head_dim);
  EXPECT_EQ(gg->n_params(), hf->n_params());
  const auto tokens = random_tokens(kDenseTokens, s.vocab, 3);
  const CachePolicy dense = CachePolicy::make("dense", 0, kDenseTokens);
  const auto want = engine_logits(hf, dense, tokens, kDenseTokens);
  EXPECT_LT(max_abs_diff(engine_logits(gg, dense, tokens, kDenseTokens), want), 1e-5);
  EXPECT_LT(max_abs_diff(engine_logits(gg, dense, tokens, 1), want), 1e-5);
  EXPECT_LT(max_abs_diff(engine_logits(gg, dense, tokens, kDenseTokens),
                         Reference(s, b.tensors).run(tokens, 0, -1)),
            kTol);
}

INSTANTIATE_TEST_SUITE_P(Families, Families, ::testing::ValuesIn(specs()),
                         [](const auto& info) { return info.param.name; });

const Spec& spec(const std::string& name) {
  static const std::vector<Spec> all = specs();
  for (const Spec& s : all)
    if (s.name == name) return s;
  throw std::runtime_error("no spec " + name);
}

// The reference is sensitive to each quirk, so the tests above could not pass
// with the quirk ignored on both sides.
TEST(FamiliesReference, EveryQuirkChangesTheLogits) {
  const auto tokens = random_tokens(kDenseTokens, 64, 1);
  auto differs = [&](const std::string& name, auto tweak) {
    const Spec& s = spec(name);
    Spec t = s;
    tweak(t);
    Tensors ts = built(s).tensors;
    return max_abs_diff(Reference(s, ts).run(tokens, 0, -1), Reference(t, ts).run(tokens, 0, -1));
  };
  EXPECT_GT(differs("neox_parallel", [](Spec& s) { s.rotary_pct = 1; }), 1e-2);
  EXPECT_GT(differs("neox_parallel", [](Spec& s) { s.rotary_pct = 0.5; }), 1e-2);
  EXPECT_GT(differs("falcon_alibi", [](Spec& s) { s.alibi_scaled = false; }), 1e-2);
  EXPECT_GT(differs("neox_parallel", [](Spec& s) { s.parallel = false; }), 1e-2);
  EXPECT_GT(differs("falcon_mqa", [](Spec& s) { s.rope_theta = 10000; }), 1e-2);
  EXPECT_GT(differs("mistral", [](Spec& s) { s.sliding_window = 1000; }), 1e-2);
  EXPECT_GT(differs("llama_sinks", [](Spec& s) { s.sink_logits = false; }), 1e-2);
  EXPECT_GT(differs("mpt", [](Spec& s) { s.clip_qkv = 1e9; }), 1e-2);
  EXPECT_GT(differs("mpt", [](Spec& s) { s.alibi_bias_max = 4; }), 1e-2);
  EXPECT_GT(differs("gemma3", [](Spec& s) { s.sliding_window = 1000; }), 1e-2);
  EXPECT_GT(differs("gemma3", [](Spec& s) { s.sliding_pattern = 1; }), 1e-2);
  EXPECT_GT(differs("gemma3", [](Spec& s) { s.rope_local = s.rope_theta; }), 1e-2);
  EXPECT_GT(differs("gemma3", [](Spec& s) { s.query_pre_attn = 10; }), 1e-2);
  EXPECT_GT(differs("gemma3_layer_types_softcap", [](Spec& s) { s.attn_softcap = 0; }), 1e-2);
  EXPECT_GT(differs("gemma3_layer_types_softcap", [](Spec& s) { s.final_softcap = 0; }), 1e-2);

  // clip_qkv clamps a good share of q, k and v.
  const Spec& m = spec("mpt");
  Reference ref(m, built(m).tensors);
  ref.run(tokens, 0, -1);
  const int64_t total = int64_t(kDenseTokens) * m.layers * 3 * m.dim;
  EXPECT_GT(ref.clipped, total / 10);
  EXPECT_LT(ref.clipped, total * 9 / 10);
}

// The tests tell exact GELU from its tanh approximation: a NeoX checkpoint
// that says gelu_new no longer matches the (exact-GELU) reference.
TEST(FamiliesReference, GeluVariantIsVisible) {
  const Spec& s = spec("neox_parallel");
  json config = hf_config(s);
  config["hidden_act"] = "gelu_new";
  auto model = Model::load(write_checkpoint(config, built(s).tensors));
  const auto tokens = random_tokens(kDenseTokens, s.vocab, 1);
  const auto ref = Reference(s, built(s).tensors).run(tokens, 0, -1);
  const auto got =
      engine_logits(model, CachePolicy::make("dense", 0, kDenseTokens), tokens, kDenseTokens);
  EXPECT_GT(max_abs_diff(got, ref), 1e-3);
}

// Press et al.'s recursion and MPT's interleaving agree, and give the slopes
// of the paper for 6 heads.
TEST(FamiliesReference, AlibiSlopes) {
  for (int n : {1, 2, 3, 5, 6, 8, 12, 16, 24})
    EXPECT_LT(max_abs_diff(press_slopes(n), mpt_slopes(n, 8)), 1e-15) << n;
  const std::vector<double> six = {1.0 / 4, 1.0 / 16, 1.0 / 64, 1.0 / 256, 1.0 / 2, 1.0 / 8};
  EXPECT_LT(max_abs_diff(press_slopes(6), six), 1e-15);
  std::vector<float> engine(6);
  alibi_slopes(6, 8, engine.data());
  EXPECT_LT(max_abs_diff(std::vector<double>(engine.begin(), engine.end()), six), 1e-7);
}

// Learned absolute positions: dense and recompute work and match the reference.
TEST(FamiliesGpt2, DenseAndRecomputeMatchReference) {
  const Spec& s = spec("gpt2");
  const Built& b = built(s);
  auto model = Model::load(b.dir);
  const auto tokens = random_tokens(kStreamTokens, s.vocab, 3);
  const auto dense = Reference(s, b.tensors).run(tokens, 0, -1);
  EXPECT_LT(
      max_abs_diff(engine_logits(model, CachePolicy::make("dense", 0, kStreamTokens), tokens, 7),
                   dense),
      kTol);
  // Recompute: every token re-encodes the last W past tokens and itself at positions 0..W.
  std::vector<Vec> want;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const size_t from = i > size_t(kWindow) ? i - kWindow : 0;
    const std::vector<int> ctx(tokens.begin() + from, tokens.begin() + i + 1);
    want.push_back(Reference(s, b.tensors).run(ctx, 0, -1).back());
  }
  const auto got = engine_logits(model, CachePolicy::make("recompute", 0, kWindow), tokens, 7);
  EXPECT_LT(max_abs_diff(got, want), kTol);
  EXPECT_GT(max_abs_diff(dense, want), 1e-2);
}

TEST(FamiliesGpt2, PastThePositionTableIsAnError) {
  const Spec& s = spec("gpt2");
  auto model = Model::load(built(s).dir);
  const auto tokens = random_tokens(s.positions + 1, s.vocab, 4);
  EXPECT_THROW(engine_logits(model, CachePolicy::make("dense", 0, s.positions + 1), tokens, 8),
               Error);
}

// f16 and bf16 copies load and match the reference on the same rounded values.
TEST(FamiliesHalf, F16AndBf16MatchReferenceOnRoundedWeights) {
  const auto tokens = random_tokens(kDenseTokens, 64, 5);
  for (const std::string& name : std::vector<std::string>{"gpt2", "falcon_new", "bloom"})
    for (Store st : {Store::F16, Store::BF16}) {
      const Spec& s = spec(name);
      const Tensors t = rounded(built(s).tensors, st);
      const std::string dir = write_checkpoint(hf_config(s), built(s).tensors, st);
      auto model = Model::load(dir);
      const auto ref = Reference(s, t).run(tokens, 0, -1);
      const std::string what = name + (st == Store::F16 ? " f16" : " bf16");
      for (int chunk : {1, kDenseTokens})
        EXPECT_LT(max_abs_diff(engine_logits(model, CachePolicy::make("dense", 0, kDenseTokens),
                                             tokens, chunk),
                               ref),
                  kTol)
            << what << " chunk " << chunk;
      // The rounding is visible, so this is not the f32 model again.
      EXPECT_GT(max_abs_diff(Reference(s, built(s).tensors).run(tokens, 0, -1), ref), 1e-4) << what;
    }
}

TEST(FamiliesCli, UnknownModelTypeListsTheFamilies) {
  const std::string dir = sstest::temp_dir();
  std::ofstream(dir + "/config.json") << R"({"model_type": "gptj", "n_embd": 32})";
  std::vector<std::string> want = {"gptj"};
  for (const Spec& s : specs()) want.push_back(s.family);
  expect_one_line_error(sstest::run_cli("info " + dir), want, "info");
}

// MPT without ALiBi adds learned positions (learned_pos_emb, on by default) or
// RoPE in llm-foundry; neither is supported, so they are errors, not NoPE.
// A sinkstream config.json names its norm, activation and positions as
// train's options do (core/names.h): an unknown name is a one-line error
// naming the file, the field and the supported names.
TEST(FamiliesSinkstream, NamedSwitchesParseOrListTheNames) {
  ModelConfig c = sstest::tiny_config();
  c.family = "sinkstream";
  const std::string path = sstest::temp_dir() + "/config.json";
  const std::pair<const char*, const char*> fields[] = {
      {"norm", "rmsnorm, layernorm"},
      {"hidden_act", "silu, gelu, gelu_tanh, relu"},
      {"position", "rope, alibi, learned, none"},
      {"attn_op", "softmax, softmax1, sigmoid, sigmoid_norm, elu1, elu1_norm"}};
  for (const auto& [key, names] : fields) {
    json j = json::parse(sinkstream_config_json(c));
    j[key] = "nope";
    sstest::spit(path, j.dump());
    EXPECT_EQ(sstest::error_of([&] { parse_hf_config(path); }),
              path + ": field " + key + ": unknown 'nope' (supported: " + names + ")");
  }
  json j = json::parse(sinkstream_config_json(c));
  j["norm"] = "layernorm";
  j["hidden_act"] = "gelu_tanh";
  j["position"] = "none";
  j["attn_op"] = "elu1_norm";
  sstest::spit(path, j.dump());
  const ModelConfig got = parse_hf_config(path);
  EXPECT_EQ(got.attn_op, AttnOp::Elu1Norm);
  EXPECT_EQ(got.norm, NormKind::LayerNorm);
  EXPECT_EQ(got.act, Activation::GELUTanh);
  EXPECT_EQ(got.position, PositionKind::None);
}

TEST(FamiliesCli, MptWithoutAlibiIsOneLineError) {
  const Spec& s = spec("mpt");
  auto with = [&](auto edit) {
    json config = hf_config(s);
    edit(config);
    return write_checkpoint(config, built(s).tensors);
  };
  const std::string learned = with([](json& j) { j["attn_config"]["alibi"] = false; });
  expect_one_line_error(sstest::run_cli("info " + learned), {learned, "learned_pos_emb"}, "wpe");
  const std::string rope = with([](json& j) {
    j["attn_config"]["alibi"] = false;
    j["attn_config"]["rope"] = true;
  });
  expect_one_line_error(sstest::run_cli("info " + rope), {rope, "rope"}, "rope");
  // No positions at all is NoPE, which the engine runs.
  const std::string nope = with([](json& j) {
    j["attn_config"]["alibi"] = false;
    j["learned_pos_emb"] = false;
  });
  EXPECT_EQ(Model::load(nope)->config().position, PositionKind::None);
}

// A fused QKV stored as a scalar is an error naming it, not a crash.
TEST(FamiliesCli, ScalarFusedQkvIsOneLineError) {
  for (const char* name : {"neox_parallel", "gpt2"}) {
    const Spec& s = spec(name);
    Tensors t = built(s).tensors;
    t.at(qkv_name(s)) = Raw{{}, {1.0f}};
    const std::string dir = write_checkpoint(hf_config(s), t);
    expect_one_line_error(sstest::run_cli("info " + dir), {dir, qkv_name(s)}, name);
  }
}

}  // namespace

// Gemma 3's local layers keep exactly their own window under every policy,
// while the global layer holds the policy's cache: window and recompute (a
// fresh pass over the last W past tokens and the current one) too.
TEST(FamiliesGemma3, WindowAndRecomputeMatchReference) {
  const Spec& s = spec("gemma3");
  const Built& b = built(s);
  auto model = Model::load(b.dir);
  const auto tokens = random_tokens(kStreamTokens, s.vocab, 4);
  const auto window = Reference(s, b.tensors).run(tokens, 0, kWindow);
  for (int chunk : {1, 7})
    EXPECT_LT(
        max_abs_diff(engine_logits(model, CachePolicy::make("window", 0, kWindow), tokens, chunk),
                     window),
        kTol)
        << "chunk " << chunk;
  std::vector<Vec> recompute;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const size_t from = t > size_t(kWindow) ? t - kWindow : 0;
    const std::vector<int> ctx(tokens.begin() + from, tokens.begin() + t + 1);
    recompute.push_back(Reference(s, b.tensors).run(ctx, 0, -1).back());
  }
  EXPECT_LT(
      max_abs_diff(engine_logits(model, CachePolicy::make("recompute", 0, kWindow), tokens, 3),
                   recompute),
      kTol);
  // The local layers' window (4) is smaller than the policy's (6 tokens), so
  // both matter: recompute differs from the window cache.
  EXPECT_GT(max_abs_diff(recompute, window), 1e-3);
}

// A local layer's ring is its window whatever the policy: under dense it
// costs 4 slots, the global layer the policy's capacity.
TEST(FamiliesGemma3, LocalLayersHoldTheirWindowUnderEveryPolicy) {
  const Spec& s = spec("gemma3");
  const ModelConfig c = load_checkpoint(built(s).dir).config;
  ASSERT_TRUE(c.local_layer(0) && c.local_layer(1) && !c.local_layer(2));
  for (const CachePolicy& p :
       {CachePolicy::make("dense", 0, 100), CachePolicy::make("sinks", kSinks, kWindow),
        CachePolicy::make("window", 0, kWindow), CachePolicy::make("recompute", 0, kWindow)}) {
    const KvCache cache = make_cache(c, p);
    EXPECT_EQ(cache.capacity(0), s.sliding_window) << p.describe();
    EXPECT_EQ(cache.capacity(1), s.sliding_window) << p.describe();
    EXPECT_EQ(cache.capacity(2), p.capacity()) << p.describe();
    EXPECT_EQ(cache.capacity(), p.capacity()) << p.describe();  // kind 0: the global layers'
    const size_t slot = 2 * sizeof(float) * s.kv_heads * s.hd();
    EXPECT_EQ(cache.bytes(), slot * (2 * s.sliding_window + p.capacity())) << p.describe();
  }
}

TEST(FamiliesGemma3, MissingSandwichNormIsOneLineError) {
  const Spec& s = spec("gemma3");
  for (const char* name : {"model.layers.2.post_feedforward_layernorm.weight",
                           "model.layers.0.post_attention_layernorm.weight",
                           "model.layers.1.self_attn.k_norm.weight"}) {
    Tensors t = built(s).tensors;
    ASSERT_EQ(t.erase(name), 1u) << name;
    const std::string dir = write_checkpoint(hf_config(s), t);
    const std::string cmd = "ppl --no-progress --ids " + ids_file(8, s.vocab) + " -m " + dir;
    expect_one_line_error(sstest::run_cli(cmd), {dir}, cmd);
  }
}

TEST(FamiliesGemma3, BadLayerPatternIsOneLineError) {
  const Spec& s = spec("gemma3");
  const std::vector<std::pair<json, std::string>> bad = {
      {{"full_attention", "sliding_attention", "sliding_attention"}, "not every n-th layer"},
      {{"sliding_attention", "full_attention"}, "one type per layer"},
      {{"sliding_attention", "sliding_attention", "chunked_attention"}, "chunked_attention"}};
  for (const auto& [types, why] : bad) {
    json config = hf_config(s);
    config.erase("sliding_window_pattern");
    config["layer_types"] = types;
    const std::string dir = write_checkpoint(config, built(s).tensors);
    expect_one_line_error(sstest::run_cli("info " + dir), {dir, "layer_types", why}, types.dump());
  }
  json config = hf_config(s);
  config["sliding_window_pattern"] = 4;  // more than the 3 layers
  const std::string dir = write_checkpoint(config, built(s).tensors);
  expect_one_line_error(sstest::run_cli("info " + dir), {dir, "sliding_window_pattern"}, "4");
}

// HF's layer_types and GGUF's per-layer sliding_window_pattern become one
// period, or nothing.
TEST(FamiliesGemma3, PatternOfLayerFlags) {
  EXPECT_EQ(sliding_window_pattern_of({true, true, false, true, true, false}), 3);
  EXPECT_EQ(sliding_window_pattern_of({true, true, true}), 0);
  EXPECT_EQ(sliding_window_pattern_of({false, false}), 1);
  EXPECT_EQ(sliding_window_pattern_of({true, false, true}), 2);
  EXPECT_EQ(sliding_window_pattern_of({false, true}), -1);
  // Gemma 3 1B: 26 layers, every 6th global, the last two local.
  std::vector<bool> g1b(26);
  for (int l = 0; l < 26; ++l) g1b[l] = (l + 1) % 6 != 0;
  EXPECT_EQ(sliding_window_pattern_of(g1b), 6);
}

// A window cache larger than Mistral's sliding window (8 past tokens against a
// span of 6): every layer still sees exactly its last 6 tokens, wherever the
// ring happens to wrap (the mask once narrowed only unwrapped rings).
TEST(FamiliesMistral, WindowPolicyWiderThanTheSlidingWindow) {
  const Spec& s = spec("mistral");
  const Built& b = built(s);
  auto model = Model::load(b.dir);
  const auto tokens = random_tokens(kStreamTokens, s.vocab, 5);
  const auto want = Reference(s, b.tensors).run(tokens, 0, -1);
  for (int chunk : {1, 7})
    EXPECT_LT(
        max_abs_diff(engine_logits(model, CachePolicy::make("window", 0, 8), tokens, chunk), want),
        kTol)
        << "chunk " << chunk;
  ASSERT_EQ(make_cache(model->config(), CachePolicy::make("window", 0, 8)).capacity(0), 6);
}
