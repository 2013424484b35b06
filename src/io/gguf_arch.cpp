#include "io/gguf_arch.h"

#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include "core/error.h"

namespace ss {
namespace {

// Typed metadata, from a file or from what we are about to write (so that
// writing can check that reading gives the same model back).
class Meta {
 public:
  virtual ~Meta() = default;
  virtual bool has(const std::string& key) const = 0;
  virtual int64_t integer(const std::string& key) const = 0;
  virtual double number(const std::string& key) const = 0;
  virtual bool boolean(const std::string& key) const = 0;
  virtual std::string string(const std::string& key) const = 0;
  virtual bool is_array(const std::string& key) const = 0;
  virtual std::vector<bool> flags(const std::string& key) const = 0;  // an array of bools
};

class FileMeta : public Meta {
 public:
  explicit FileMeta(const GgufFile& f) : f_(f) {}
  bool has(const std::string& key) const override { return f_.has(key); }
  int64_t integer(const std::string& key) const override { return f_.get_int(key); }
  double number(const std::string& key) const override { return f_.get_float(key); }
  bool boolean(const std::string& key) const override { return f_.get_bool(key); }
  std::string string(const std::string& key) const override {
    return std::string(f_.get_string(key));
  }
  bool is_array(const std::string& key) const override {
    return f_.find(key)->type == GgufType::Array;
  }
  std::vector<bool> flags(const std::string& key) const override {
    const GgufKv& kv = *f_.find(key);
    check(kv.type == GgufType::Array && kv.elem_type == GgufType::Bool, f_.path(), ": metadata ",
          key, " is not an array of bools");
    std::vector<bool> out(kv.count);
    for (uint64_t i = 0; i < kv.count; ++i) {
      const uint8_t v = f_.data()[kv.offset + i];
      check(v <= 1, f_.path(), ": metadata ", key, " holds a bool of value ", int(v));
      out[i] = v;
    }
    return out;
  }

 private:
  const GgufFile& f_;
};

class ListMeta : public Meta {
 public:
  explicit ListMeta(const std::vector<std::pair<std::string, GgufValue>>& kvs) : kvs_(kvs) {}
  bool has(const std::string& key) const override { return find(key) != nullptr; }
  int64_t integer(const std::string& key) const override { return std::get<uint32_t>(get(key)); }
  double number(const std::string& key) const override { return std::get<float>(get(key)); }
  bool boolean(const std::string& key) const override { return std::get<bool>(get(key)); }
  std::string string(const std::string& key) const override {
    return std::get<std::string>(get(key));
  }
  bool is_array(const std::string&) const override { return false; }
  std::vector<bool> flags(const std::string& key) const override {
    fail("convert: metadata ", key, " is not an array");
  }

 private:
  const GgufValue* find(const std::string& key) const {
    for (auto& [k, v] : kvs_)
      if (k == key) return &v;
    return nullptr;
  }
  const GgufValue& get(const std::string& key) const {
    const GgufValue* v = find(key);
    check(v != nullptr, "convert: metadata ", key, " is missing");
    return *v;
  }
  const std::vector<std::pair<std::string, GgufValue>>& kvs_;
};

// One architecture's keys ({arch}.suffix), with range checks.
struct Keys {
  const Meta& m;
  std::string arch;
  std::string where;                               // file name for errors
  std::function<bool(const std::string&)> tensor;  // has this GGUF tensor

  std::string key(const char* s) const { return arch + "." + s; }
  bool has(const char* s) const { return m.has(key(s)); }
  int count(const char* s) const {
    const int64_t v = m.integer(key(s));
    check(v >= 0 && v <= INT_MAX, where, ": metadata ", key(s), " = ", v, " is out of range");
    return int(v);
  }
  int count(const char* s, int fallback) const { return has(s) ? count(s) : fallback; }
  double num(const char* s) const {
    const double v = m.number(key(s));
    check(std::isfinite(v), where, ": metadata ", key(s), " is not finite");
    return v;
  }
  double num(const char* s, double fallback) const { return has(s) ? num(s) : fallback; }
  bool flag(const char* s, bool fallback) const { return has(s) ? m.boolean(key(s)) : fallback; }
};

// --- Reading: metadata -> ModelConfig, one function per architecture ---------

void shape(const Keys& k, ModelConfig& c) {
  c.dim = k.count("embedding_length");
  c.n_layers = k.count("block_count");
  c.n_heads = k.count("attention.head_count");
  c.n_kv_heads = k.count("attention.head_count_kv", c.n_heads);
  c.hidden_dim = k.count("feed_forward_length");
  c.max_seq_len = k.count("context_length");
  if (k.has("attention.key_length")) {
    c.head_dim = k.count("attention.key_length");
  } else {
    check(c.n_heads > 0 && c.dim % c.n_heads == 0, k.where, ": ", k.key("embedding_length"), " ",
          c.dim, " is not a multiple of ", k.key("attention.head_count"), " ", c.n_heads);
    c.head_dim = c.dim / c.n_heads;
  }
  check(!k.has("attention.value_length") || k.count("attention.value_length") == c.head_dim,
        k.where, ": ", k.key("attention.value_length"), " differs from the key length ", c.head_dim,
        " (not supported)");
  check(k.count("expert_count", 0) == 0, k.where, ": mixture-of-experts models (",
        k.key("expert_count"), ") are not supported");
}

void rope(const Keys& k, ModelConfig& c, RopeLayout layout) {
  c.position = PositionKind::Rope;
  c.rope_layout = layout;
  c.rope_theta = k.num("rope.freq_base", 10000.0);  // llama.cpp's default
  const int r = k.count("rope.dimension_count", c.head_dim);
  check(r > 0 && r <= c.head_dim && r % 2 == 0, k.where, ": ", k.key("rope.dimension_count"), " ",
        r, " must be even and at most the head size ", c.head_dim);
  c.rotary_dim = r == c.head_dim ? 0 : r;
  if (k.has("rope.scaling.type")) {
    const std::string t = k.m.string(k.key("rope.scaling.type"));
    check(t == "none", k.where, ": ", k.key("rope.scaling.type"), " '", t, "' is not supported");
  }
  check(k.num("rope.scale_linear", 1.0) == 1.0, k.where, ": ", k.key("rope.scale_linear"),
        " is not supported");
}

void rms_swiglu(const Keys& k, ModelConfig& c) {
  c.norm = NormKind::RMSNorm;
  c.norm_eps = float(k.num("attention.layer_norm_rms_epsilon"));
  c.act = Activation::SiLU;
  c.gated_ffn = true;
}

void layer_norm(const Keys& k, ModelConfig& c, Activation act) {
  c.norm = NormKind::LayerNorm;
  c.norm_eps = float(k.num("attention.layer_norm_epsilon"));
  c.act = act;
  c.gated_ffn = false;
}

void read_llama(const Keys& k, ModelConfig& c) {
  shape(k, c);
  rms_swiglu(k, c);
  rope(k, c, RopeLayout::Interleaved);
  c.sliding_window = k.count("attention.sliding_window", 0);
  // llama.cpp writes Mistral as llama; its sliding window tells them apart.
  if (c.family == "llama" && c.sliding_window > 0) c.family = "mistral";
}

// Gemma 3: local layers (all but every sliding_window_pattern-th, 6 by
// default as in llama.cpp) with their own RoPE base, QK-norm, sandwich norms,
// GELU-tanh, a scaled embedding. llama.cpp's converter has already added
// Gemma's +1 to every norm weight, so they are plain gains here.
void read_gemma3(const Keys& k, ModelConfig& c) {
  shape(k, c);
  rms_swiglu(k, c);
  c.act = Activation::GELUTanh;
  rope(k, c, RopeLayout::RotateHalf);
  c.sliding_window = k.count("attention.sliding_window", 0);
  if (c.sliding_window > 0) {
    c.sliding_window_pattern = 6;
    if (k.has("attention.sliding_window_pattern") &&
        k.m.is_array(k.key("attention.sliding_window_pattern"))) {
      const std::vector<bool> local = k.m.flags(k.key("attention.sliding_window_pattern"));
      check(int(local.size()) == c.n_layers, k.where, ": ",
            k.key("attention.sliding_window_pattern"), " has ", local.size(), " entries for ",
            c.n_layers, " layers");
      c.sliding_window_pattern = sliding_window_pattern_of(local);
      check(c.sliding_window_pattern >= 0, k.where, ": ", k.key("attention.sliding_window_pattern"),
            " is not every n-th layer global (not supported)");
    } else {
      c.sliding_window_pattern = k.count("attention.sliding_window_pattern", 6);
    }
    c.rope_theta_local = k.num("rope.freq_base_swa", 10000.0);  // llama.cpp's default
  }
  c.qk_norm = c.sandwich_norm = true;
  c.embed_scale = std::sqrt(float(c.dim));
  // llama.cpp (after gemma_pytorch): 27B (62 layers) scales by dim / heads.
  c.query_scale = 1.0f / std::sqrt(float(c.n_layers == 62 ? c.dim / c.n_heads : c.head_dim));
  c.final_softcap = float(k.num("final_logit_softcapping", 0));  // llama.cpp reads no attention cap
}

void read_qwen2(const Keys& k, ModelConfig& c) {
  shape(k, c);
  rms_swiglu(k, c);
  rope(k, c, RopeLayout::RotateHalf);
  c.sliding_window = k.count("attention.sliding_window", 0);
}

void read_gptneox(const Keys& k, ModelConfig& c) {
  shape(k, c);
  layer_norm(k, c, Activation::GELU);
  c.parallel_residual = k.flag("use_parallel_residual", true);
  rope(k, c, RopeLayout::RotateHalf);
}

void read_falcon(const Keys& k, ModelConfig& c) {
  shape(k, c);
  layer_norm(k, c, Activation::GELU);
  c.parallel_residual = k.flag("use_parallel_residual", true);
  // Falcon-RW's ALiBi has no llama.cpp key of its own; max_alibi_bias marks it.
  const double bias_max = k.num("attention.max_alibi_bias", 0);
  if (bias_max > 0) {
    c.position = PositionKind::Alibi;
    c.alibi_bias_max = float(bias_max);
    c.alibi_scaled = true;  // Falcon adds the bias before dividing by sqrt(d)
  } else {
    rope(k, c, RopeLayout::RotateHalf);
  }
}

void read_mpt(const Keys& k, ModelConfig& c) {
  shape(k, c);
  layer_norm(k, c, Activation::GELU);
  const double bias_max = k.num("attention.max_alibi_bias", 0);  // 0: no ALiBi
  c.position = bias_max > 0                       ? PositionKind::Alibi
               : k.tensor("position_embd.weight") ? PositionKind::Learned
                                                  : PositionKind::None;
  if (bias_max > 0) c.alibi_bias_max = float(bias_max);
  c.clip_qkv = float(k.num("attention.clamp_kqv", 0));
}

void read_bloom(const Keys& k, ModelConfig& c) {
  shape(k, c);
  layer_norm(k, c, Activation::GELUTanh);
  c.position = PositionKind::Alibi;
  c.alibi_bias_max = float(k.num("attention.max_alibi_bias", 8));  // llama.cpp fixes 8
}

void read_gpt2(const Keys& k, ModelConfig& c) {
  shape(k, c);
  layer_norm(k, c, Activation::GELUTanh);
  c.position = PositionKind::Learned;
}

struct Arch {
  const char* name;    // general.architecture
  const char* family;  // ModelConfig::family it loads as
  bool fused_qkv;      // blk.N.attn_qkv instead of attn_q, attn_k, attn_v
  bool gated;          // blk.N.ffn_gate
  bool permute_qk;     // q/k rows in interleaved RoPE order (llama.cpp's permute)
  const char* ffn_norm;
  bool gemma_norms;   // blk.N.attn_q_norm, attn_k_norm, post_attention_norm, post_ffw_norm
  const char* extra;  // a global tensor only this architecture has, or ""
  void (*read)(const Keys&, ModelConfig&);
};

constexpr Arch kArchs[] = {
    {"llama", "llama", false, true, true, "ffn_norm", false, "", read_llama},
    {"mistral", "mistral", false, true, true, "ffn_norm", false, "", read_llama},
    {"qwen2", "qwen2", false, true, false, "ffn_norm", false, "", read_qwen2},
    {"gptneox", "gpt_neox", true, false, false, "ffn_norm", false, "", read_gptneox},
    {"falcon", "falcon", true, false, false, "attn_norm_2", false, "", read_falcon},
    {"mpt", "mpt", true, false, false, "ffn_norm", false, "position_embd", read_mpt},
    {"bloom", "bloom", true, false, false, "ffn_norm", false, "token_embd_norm", read_bloom},
    {"gpt2", "gpt2", true, false, false, "ffn_norm", false, "position_embd", read_gpt2},
    {"gemma3", "gemma3_text", false, true, false, "ffn_norm", true, "", read_gemma3},
};

const Arch* arch_named(const std::string& name) {
  for (const Arch& a : kArchs)
    if (name == a.name) return &a;
  return nullptr;
}

// The architecture a family is written as (llama.cpp writes Mistral as llama).
const Arch* arch_of_family(const std::string& family) {
  for (const Arch& a : kArchs)
    if (family == a.family) return family == "mistral" ? &kArchs[0] : &a;
  return nullptr;
}

// two_norms: Falcon-40B's pair of pre-norms. llama.cpp names ln_attn (our
// input_layernorm) attn_norm_2 and ln_mlp attn_norm; Falcon-7B's one norm is attn_norm.
std::vector<std::pair<std::string, std::string>> names_of(const Arch& a, int n_layers,
                                                          bool two_norms) {
  const bool falcon = std::string(a.ffn_norm) == "attn_norm_2";
  std::vector<std::pair<std::string, std::string>> out = {
      {"model.embed_tokens.weight", "token_embd.weight"}};
  const std::string extra = a.extra;
  if (extra == "position_embd")
    out.emplace_back("model.embed_positions.weight", "position_embd.weight");
  if (extra == "token_embd_norm") {
    out.emplace_back("model.embed_norm.weight", "token_embd_norm.weight");
    out.emplace_back("model.embed_norm.bias", "token_embd_norm.bias");
  }
  std::vector<std::pair<std::string, std::string>> layer = {
      {"input_layernorm", falcon && two_norms ? "attn_norm_2" : "attn_norm"}};
  if (a.fused_qkv) {
    layer.emplace_back("self_attn.qkv_proj", "attn_qkv");
  } else {
    layer.emplace_back("self_attn.q_proj", "attn_q");
    layer.emplace_back("self_attn.k_proj", "attn_k");
    layer.emplace_back("self_attn.v_proj", "attn_v");
  }
  layer.emplace_back("self_attn.o_proj", "attn_output");
  if (!falcon)
    layer.emplace_back("post_attention_layernorm", a.ffn_norm);
  else if (two_norms)
    layer.emplace_back("post_attention_layernorm", "attn_norm");
  if (a.gemma_norms) {
    layer.emplace_back("self_attn.q_norm", "attn_q_norm");
    layer.emplace_back("self_attn.k_norm", "attn_k_norm");
    layer.emplace_back("attn_output_layernorm", "post_attention_norm");
    layer.emplace_back("ffn_output_layernorm", "post_ffw_norm");
  }
  if (a.gated) layer.emplace_back("mlp.gate_proj", "ffn_gate");
  layer.emplace_back("mlp.up_proj", "ffn_up");
  layer.emplace_back("mlp.down_proj", "ffn_down");
  for (int l = 0; l < n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::string b = "blk." + std::to_string(l) + ".";
    for (auto& [canon, gguf] : layer)
      for (const char* suffix : {".weight", ".bias"})
        out.emplace_back(p + canon + suffix, b + gguf + suffix);
    if (!a.fused_qkv) out.emplace_back(p + "self_attn.sinks", b + "attn_sinks.weight");
  }
  out.emplace_back("model.norm.weight", "output_norm.weight");
  out.emplace_back("model.norm.bias", "output_norm.bias");
  out.emplace_back("lm_head.weight", "output.weight");
  return out;
}

const Arch& arch_for(const ModelConfig& c) {
  const Arch* a = arch_of_family(c.family);
  check(a != nullptr, "GGUF: family '", c.family, "' has no GGUF architecture (supported: ",
        "llama, mistral, qwen2, gpt_neox, falcon, mpt, bloom, gpt2, gemma3_text)");
  return *a;
}

bool two_norms(const GgufFile& f) { return f.find_tensor("blk.0.attn_norm_2.weight") != nullptr; }

}  // namespace

std::string gguf_supported_architectures() {
  std::string s;
  for (const Arch& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

ModelConfig gguf_read_config(const GgufFile& f) {
  const std::string& path = f.path();
  const std::string name(f.get_string("general.architecture"));
  const Arch* a = arch_named(name);
  check(a != nullptr, path, ": GGUF architecture '", name,
        "' is not supported yet (supported: ", gguf_supported_architectures(), ")");
  ModelConfig c;
  c.family = a->family;
  const FileMeta meta(f);
  const Keys k{meta, a->name, path,
               [&f](const std::string& t) { return f.find_tensor(t) != nullptr; }};
  a->read(k, c);
  if (f.has("tokenizer.ggml.bos_token_id"))
    c.bos_id = int(f.get_int("tokenizer.ggml.bos_token_id"));
  if (f.has("tokenizer.ggml.eos_token_id"))
    c.eos_id = int(f.get_int("tokenizer.ggml.eos_token_id"));
  const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  check(emb && emb->dims.size() == 2, path, ": missing tensor token_embd.weight");
  check(emb->dims[1] > 0 && emb->dims[1] <= INT_MAX, path, ": token_embd.weight has ", emb->dims[1],
        " rows");
  c.vocab_size = int(emb->dims[1]);
  const int vocab_key = k.count("vocab_size", c.vocab_size);
  check(vocab_key == c.vocab_size, path, ": ", k.key("vocab_size"), " ", vocab_key,
        " differs from token_embd.weight's ", c.vocab_size, " rows");
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  for (const GgufTensorInfo& t : f.tensors())
    c.sink_logits = c.sink_logits || t.name.find(".attn_sinks.") != std::string::npos;
  try {
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  // Every tensor must be one the model reads: an unknown one (rope_freqs, a
  // q/k norm, experts) would change the model silently.
  std::set<std::string> known;
  for (auto& [canon, gguf] : names_of(*a, c.n_layers, two_norms(f))) known.insert(gguf);
  for (const GgufTensorInfo& t : f.tensors())
    check(known.count(t.name) > 0, path, ": tensor ", t.name, " is not one GGUF architecture ",
          name, " has in sinkstream (not supported)");
  return c;
}

std::vector<std::pair<std::string, std::string>> gguf_tensor_names(const ModelConfig& c,
                                                                   const GgufFile& f) {
  return names_of(arch_for(c), c.n_layers, two_norms(f));
}

void gguf_add_tensor(const ModelConfig& c, const std::string& canonical, const std::string& gguf,
                     const Tensor& t, TensorStore& ts, const std::string& path) {
  const size_t at = canonical.find("self_attn.qkv_proj");
  if (at == std::string::npos) {
    ts.tensors.emplace_back(canonical, t);
    return;
  }
  const std::string pre = canonical.substr(0, at + 10);  // "...self_attn."
  const std::string suffix = canonical.substr(at + 18);  // ".weight" or ".bias"
  const int64_t qd = c.q_dim(), kvd = c.kv_dim(), rows = qd + 2 * kvd;
  const bool vec = t.shape.size() == 1;
  check(!t.shape.empty() && t.shape.size() <= 2 && t.shape[0] == rows, path, ": tensor ", gguf,
        " has shape ", t.shape_str(), ", expected ", rows, " rows (q, k and v of ", c.n_heads, "+",
        c.n_kv_heads, "+", c.n_kv_heads, " heads of ", c.head_dim, ")");
  check(!vec || dtype_bytes(t.dtype, 1) > 0, path, ": tensor ", gguf, " is a block-quantised ",
        "vector (not supported)");
  const int64_t cols = vec ? 1 : t.shape[1];
  int64_t row = 0;
  for (auto [name, n] :
       {std::pair<const char*, int64_t>{"q_proj", qd}, {"k_proj", kvd}, {"v_proj", kvd}}) {
    Tensor part = t;
    part.shape[0] = n;
    part.data = static_cast<const uint8_t*>(t.data) + dtype_bytes(t.dtype, row * cols);
    ts.tensors.emplace_back(pre + name + suffix, part);
    row += n;
  }
}

std::vector<std::pair<std::string, GgufValue>> gguf_write_config(const ModelConfig& c) {
  const Arch& a = arch_for(c);
  const std::string A = a.name;
  std::vector<std::pair<std::string, GgufValue>> kv;
  auto u32 = [&](const char* k, int v) { kv.emplace_back(A + "." + k, uint32_t(v)); };
  auto f32 = [&](const char* k, double v) { kv.emplace_back(A + "." + k, float(v)); };
  kv.emplace_back("general.architecture", A);
  u32("context_length", c.max_seq_len);
  u32("embedding_length", c.dim);
  u32("feed_forward_length", c.hidden_dim);
  u32("block_count", c.n_layers);
  u32("attention.head_count", c.n_heads);
  u32("attention.head_count_kv", c.n_kv_heads);
  if (c.n_heads == 0 || c.dim % c.n_heads || c.head_dim != c.dim / c.n_heads) {
    u32("attention.key_length", c.head_dim);
    u32("attention.value_length", c.head_dim);
  }
  if (c.norm == NormKind::RMSNorm)
    f32("attention.layer_norm_rms_epsilon", c.norm_eps);
  else
    f32("attention.layer_norm_epsilon", c.norm_eps);
  if (c.position == PositionKind::Rope) {
    f32("rope.freq_base", c.rope_theta);
    u32("rope.dimension_count", c.rot_dim());
  }
  if (c.position == PositionKind::Alibi) f32("attention.max_alibi_bias", c.alibi_bias_max);
  if (c.clip_qkv > 0) f32("attention.clamp_kqv", c.clip_qkv);
  if (A == "gptneox" || A == "falcon")
    kv.emplace_back(A + ".use_parallel_residual", c.parallel_residual);
  if (c.sliding_window > 0) u32("attention.sliding_window", c.sliding_window);
  if (A == "gemma3" && c.sliding_window > 0) {
    u32("attention.sliding_window_pattern", c.sliding_window_pattern);
    f32("rope.freq_base_swa", c.rope_theta_local > 0 ? c.rope_theta_local : c.rope_theta);
  }
  if (c.final_softcap > 0) f32("final_logit_softcapping", c.final_softcap);

  // Read it back the way load_gguf will, and name every switch that would change.
  ModelConfig r;
  r.family = a.family;
  const ListMeta meta(kv);
  const bool learned = c.position == PositionKind::Learned;
  const Keys k{meta, A, "convert",
               [learned](const std::string& t) { return learned && t == "position_embd.weight"; }};
  a.read(k, r);
  std::string diff;
  auto same = [&](bool ok, const char* what, const std::string& have) {
    if (!ok) diff += (diff.empty() ? "" : ", ") + std::string(what) + " " + have;
  };
  same(r.norm == c.norm, "norm", kNormNames[int(c.norm)]);
  same(r.act == c.act, "activation", kActivationNames[int(c.act)]);
  same(r.gated_ffn == c.gated_ffn, "gated FFN", c.gated_ffn ? "on" : "off");
  same(r.parallel_residual == c.parallel_residual, "parallel residual",
       c.parallel_residual ? "on" : "off");
  same(r.position == c.position, "positions", kPositionNames[int(c.position)]);
  if (c.position == PositionKind::Rope) {
    same(r.rot_dim() == c.rot_dim(), "rotary dims", std::to_string(c.rot_dim()));
    same(a.permute_qk || c.rope_layout == RopeLayout::RotateHalf, "RoPE layout", "interleaved");
  }
  if (c.position == PositionKind::Alibi) {
    same(r.alibi_bias_max == c.alibi_bias_max, "alibi_bias_max", std::to_string(c.alibi_bias_max));
    same(r.alibi_scaled == c.alibi_scaled, "scaled ALiBi", c.alibi_scaled ? "on" : "off");
  }
  same(r.clip_qkv == c.clip_qkv, "clip_qkv", std::to_string(c.clip_qkv));
  same(r.sliding_window == c.sliding_window, "sliding window", std::to_string(c.sliding_window));
  bool layers_same = true;
  for (int l = 0; l < c.n_layers; ++l)
    layers_same = layers_same && r.local_layer(l) == c.local_layer(l) &&
                  float(r.layer_rope_theta(l)) == float(c.layer_rope_theta(l));
  same(layers_same, "local/global layer pattern and RoPE bases",
       std::to_string(c.sliding_window_pattern));
  same(r.qk_norm == c.qk_norm, "QK-norm", c.qk_norm ? "on" : "off");
  same(r.sandwich_norm == c.sandwich_norm, "sandwich norms", c.sandwich_norm ? "on" : "off");
  same(r.embed_scale == c.embed_scale, "embedding scale", std::to_string(c.embed_scale));
  same(r.attn_scale() == c.attn_scale(), "query scale", std::to_string(c.attn_scale()));
  same(r.attn_softcap == c.attn_softcap && r.final_softcap == c.final_softcap, "soft-capping",
       std::to_string(c.attn_softcap) + "/" + std::to_string(c.final_softcap));
  same(c.attn_op == AttnOp::Softmax, "attention op", attn_op_name(c.attn_op));
  same(!c.attn_logn_bias, "log-n bias", "on");
  same(!c.attn_gate, "attention gate", "on");
  same(!c.kv_bias, "kv-bias slot", "on");
  same(!c.post_norm, "post-norm", "on");
  same(c.prefix_lm == 0, "prefix LM", std::to_string(c.prefix_lm));
  same(c.sink_token_id < 0, "sink token", std::to_string(c.sink_token_id));
  check(diff.empty(), "convert: GGUF architecture ", A, " cannot hold this ", c.family, " model's ",
        diff);
  return kv;
}

std::vector<GgufOutTensor> gguf_tensor_plan(const ModelConfig& c, const TensorStore& ts) {
  const Arch& a = arch_for(c);
  std::vector<GgufOutTensor> out;
  const bool two = ts.find("model.layers.0.post_attention_layernorm.weight") != nullptr;
  for (auto& [canon, gguf] : names_of(a, c.n_layers, two)) {
    GgufOutTensor o;
    o.name = gguf;
    const size_t at = canon.find("qkv_proj");
    if (at != std::string::npos) {
      for (const char* p : {"q_proj", "k_proj", "v_proj"})
        o.parts.push_back(canon.substr(0, at) + p + canon.substr(at + 8));
    } else {
      o.parts.push_back(canon);
    }
    int present = 0;
    for (const std::string& p : o.parts) present += ts.find(p) != nullptr;
    if (present == 0) continue;
    check(present == int(o.parts.size()), "convert: ", gguf, " needs ", o.parts[0], ", ",
          o.parts[1], " and ", o.parts[2]);
    const Tensor& first = *ts.find(o.parts[0]);
    o.shape = first.shape;
    o.shape[0] = 0;
    for (const std::string& p : o.parts) {
      const Tensor& t = *ts.find(p);
      check(t.shape.size() == first.shape.size() &&
                (t.shape.size() < 2 || t.shape[1] == first.shape[1]),
            "convert: ", p, " has shape ", t.shape_str(), ", unlike ", o.parts[0], "'s ",
            first.shape_str());
      o.shape[0] += t.shape[0];
    }
    if (a.permute_qk && c.position == PositionKind::Rope &&
        c.rope_layout == RopeLayout::RotateHalf) {
      if (canon.find("self_attn.q_proj") != std::string::npos) o.permute_heads = c.n_heads;
      if (canon.find("self_attn.k_proj") != std::string::npos) o.permute_heads = c.n_kv_heads;
      o.permute_rot = c.rot_dim();
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<float> gguf_tensor_values(const TensorStore& ts, const GgufOutTensor& p) {
  int64_t numel = 1;
  for (int64_t d : p.shape) numel *= d;
  std::vector<float> f(static_cast<size_t>(numel));
  float* at = f.data();
  for (const std::string& name : p.parts) {
    const Tensor& t = *ts.find(name);
    for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t, r, at + r * t.cols());
    at += t.numel();
  }
  if (p.permute_heads <= 0) return f;
  // llama.cpp's permute: within each head, interleaved row 2i+j is rotate-half
  // row j*r/2 + i over the first r (rotary) rows; the rest stay.
  const int64_t rows = p.shape[0], cols = numel / rows, hd = rows / p.permute_heads;
  const int64_t half = p.permute_rot / 2;
  std::vector<float> out = f;
  for (int64_t h = 0; h < p.permute_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(out.data() + (h * hd + 2 * i + j) * cols,
                    f.data() + (h * hd + j * half + i) * cols, size_t(cols) * sizeof(float));
  return out;
}

}  // namespace ss
