#include "io/hf_config.h"

#include <climits>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"
#include "core/names.h"
#include "io/mmap.h"

namespace ss {
namespace {

using nlohmann::json;

// Typed access to the fields of one config file; errors name file and field.
class Fields {
 public:
  Fields(const json& j, const std::string& file) : j_(j), file_(file) {}

  // The field, or nullptr when absent or null.
  const json* find(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const char* key) const {
    const json* v = find(key);
    check(v != nullptr, file_, ": missing field ", key);
    return *v;
  }

  int to_int(const json& v, const char* key) const {
    check(v.is_number_integer(), file_, ": field ", key, " must be an integer, not ",
          v.type_name());
    const bool fits = v.is_number_unsigned()
                          ? v.get<uint64_t>() <= INT_MAX
                          : v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX;
    check(fits, file_, ": field ", key, " is out of range");
    return v.get<int>();
  }
  int get_int(const char* key) const { return to_int(require(key), key); }
  int get_int(const char* key, int fallback) const {
    const json* v = find(key);
    return v ? to_int(*v, key) : fallback;
  }
  double get_number(const char* key) const {
    const json& v = require(key);
    check(v.is_number(), file_, ": field ", key, " must be a number, not ", v.type_name());
    return v.get<double>();
  }
  double get_number(const char* key, double fallback) const {
    return find(key) ? get_number(key) : fallback;
  }
  bool get_bool(const char* key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    check(v->is_boolean(), file_, ": field ", key, " must be a boolean, not ", v->type_name());
    return v->get<bool>();
  }
  std::string get_string(const char* key, const std::string& fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    check(v->is_string(), file_, ": field ", key, " must be a string, not ", v->type_name());
    return v->get<std::string>();
  }
  // The index in names (an enum's, in enum order) of the string field.
  template <size_t N>
  int get_name(const char* key, const char* const (&names)[N], const char* fallback) const {
    return name_index(get_string(key, fallback), names, file_ + ": field " + key);
  }
  // A token id, or the first of a list of them.
  int get_token(const char* key, int fallback) const {
    const json* v = find(key);
    if (!v || !v->is_array()) return get_int(key, fallback);
    check(!v->empty(), file_, ": field ", key, " is an empty list");
    return to_int(v->front(), key);
  }

 private:
  const json& j_;
  const std::string& file_;
};

}  // namespace

namespace {

// head_dim from the config, or hidden size / heads.
int head_dim_of(const Fields& f, const std::string& path, int dim, int heads) {
  if (f.find("head_dim")) return f.get_int("head_dim");
  check(heads > 0 && dim % heads == 0, path, ": hidden size (", dim,
        ") is not a multiple of the head count (", heads, ")");
  return dim / heads;
}

Activation activation_of(const Fields& f, const std::string& path, const char* key,
                         const std::string& fallback) {
  const std::string a = f.get_string(key, fallback);
  if (a == "silu" || a == "swish") return Activation::SiLU;
  if (a == "gelu") return Activation::GELU;
  if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast") return Activation::GELUTanh;
  if (a == "relu") return Activation::ReLU;
  fail(path, ": field ", key, ": activation '", a, "' is not supported");
}

// Llama, Mistral and Qwen2: RMSNorm, rotate-half RoPE, SwiGLU.
// The sizes under Llama's field names.
void llama_shape(const Fields& f, const std::string& path, ModelConfig& c) {
  c.dim = f.get_int("hidden_size");
  c.hidden_dim = f.get_int("intermediate_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = f.get_int("num_attention_heads");
  c.n_kv_heads = f.get_int("num_key_value_heads", c.n_heads);
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("max_position_embeddings");
}

void llama_like(const Fields& f, const std::string& path, ModelConfig& c) {
  llama_shape(f, path, c);
  c.norm_eps = float(f.get_number("rms_norm_eps"));
  c.rope_theta = f.get_number("rope_theta", 10000.0);
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.bos_id = f.get_token("bos_token_id", 1);
  c.eos_id = f.get_token("eos_token_id", 2);
  c.act = activation_of(f, path, "hidden_act", "silu");
  check(f.find("rope_scaling") == nullptr, path, ": rope_scaling is not supported");
  // Qwen2 has q/k/v biases by design; the loader finds them as tensors.
  check(c.family == "qwen2" || !f.get_bool("attention_bias", false), path,
        ": attention_bias is not supported for ", c.family);
  check(!f.get_bool("mlp_bias", false), path, ": mlp_bias is not supported");
  if (c.family == "mistral") c.sliding_window = f.get_int("sliding_window", 0);
  // Qwen2 windows the layers from max_window_layers on; we run all-or-none.
  if (c.family == "qwen2" && f.get_bool("use_sliding_window", false)) {
    const int from = f.get_int("max_window_layers", c.n_layers);
    check(from == 0 || from >= c.n_layers, path, ": sliding window on layers ", from,
          " and up only is not supported");
    if (from == 0) c.sliding_window = f.get_int("sliding_window", 0);
  }
}

void gpt_neox(const Fields& f, const std::string& path, ModelConfig& c) {
  c.dim = f.get_int("hidden_size");
  c.hidden_dim = f.get_int("intermediate_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = c.n_kv_heads = f.get_int("num_attention_heads");
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("max_position_embeddings");
  c.norm_eps = float(f.get_number("layer_norm_eps", 1e-5));
  c.norm = NormKind::LayerNorm;
  c.act = activation_of(f, path, "hidden_act", "gelu");
  c.gated_ffn = false;
  c.parallel_residual = f.get_bool("use_parallel_residual", true);
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  c.rotary_dim = int(c.head_dim * f.get_number("rotary_pct", 0.25));
  c.rotary_dim -= c.rotary_dim % 2;
  c.rope_theta = f.get_number("rotary_emb_base", f.get_number("rope_theta", 10000.0));
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.bos_id = f.get_token("bos_token_id", 0);
  c.eos_id = f.get_token("eos_token_id", 0);
  check(f.find("rope_scaling") == nullptr, path, ": rope_scaling is not supported");
}

void falcon(const Fields& f, const std::string& path, ModelConfig& c) {
  // RefinedWeb-era configs spell the counts n_layer, n_head and n_head_kv.
  c.dim = f.get_int("hidden_size");
  c.n_layers = f.find("n_layer") ? f.get_int("n_layer") : f.get_int("num_hidden_layers");
  c.n_heads = f.find("n_head") ? f.get_int("n_head") : f.get_int("num_attention_heads");
  c.hidden_dim = f.get_int("ffn_hidden_size", 4 * c.dim);
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("max_position_embeddings", 2048);
  c.norm_eps = float(f.get_number("layer_norm_epsilon", 1e-5));
  c.norm = NormKind::LayerNorm;
  c.act = activation_of(f, path, "activation", "gelu");
  c.gated_ffn = false;
  // The new decoder architecture is always parallel; HF ignores parallel_attn there.
  const bool new_arch = f.get_bool("new_decoder_architecture", false);
  c.parallel_residual = new_arch || f.get_bool("parallel_attn", true);
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  if (new_arch)
    c.n_kv_heads = f.get_int("num_kv_heads", f.get_int("n_head_kv", c.n_heads));
  else
    c.n_kv_heads = f.get_bool("multi_query", true) ? 1 : c.n_heads;
  if (f.get_bool("alibi", false)) {
    c.position = PositionKind::Alibi;
    c.alibi_scaled = true;  // Falcon adds the bias before dividing by sqrt(d)
  }
  c.rope_theta = f.get_number("rope_theta", 10000.0);
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_id = f.get_token("bos_token_id", 11);
  c.eos_id = f.get_token("eos_token_id", 11);
  check(f.find("rope_scaling") == nullptr, path, ": rope_scaling is not supported");
}

void mpt(const Fields& f, const std::string& path, ModelConfig& c) {
  c.dim = f.get_int("d_model");
  c.n_layers = f.get_int("n_layers");
  c.n_heads = c.n_kv_heads = f.get_int("n_heads");
  c.hidden_dim = int(c.dim * f.get_number("expansion_ratio", 4));
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("max_seq_len", 2048);
  c.norm_eps = float(f.get_number("layer_norm_epsilon", 1e-5));
  c.norm = NormKind::LayerNorm;
  c.act = Activation::GELU;
  c.gated_ffn = false;
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  c.position = PositionKind::None;
  c.tied_embeddings = true;
  c.bos_id = f.get_token("bos_token_id", 0);
  c.eos_id = f.get_token("eos_token_id", 0);
  if (const json* a = f.find("attn_config")) {
    check(a->is_object(), path, ": field attn_config must be an object");
    const Fields af(*a, path);
    if (af.get_bool("alibi", false)) c.position = PositionKind::Alibi;
    check(c.position == PositionKind::Alibi || !af.get_bool("rope", false), path,
          ": attn_config.rope is not supported");
    c.alibi_bias_max = float(af.get_number("alibi_bias_max", 8));
    c.clip_qkv = float(af.get_number("clip_qkv", 0));
    c.n_kv_heads = af.get_int("kv_n_heads", c.n_heads);
    check(!af.get_bool("qk_ln", false), path, ": attn_config.qk_ln is not supported");
    check(af.find("softmax_scale") == nullptr, path,
          ": attn_config.softmax_scale is not supported");
  }
  // Without ALiBi, llm-foundry adds learned positions (transformer.wpe) unless told not to.
  check(c.position == PositionKind::Alibi || !f.get_bool("learned_pos_emb", true), path,
        ": MPT with learned_pos_emb (attn_config.alibi false) is not supported");
  if (const json* ffn = f.find("ffn_config")) {
    check(ffn->is_object(), path, ": field ffn_config must be an object");
    const std::string t = Fields(*ffn, path).get_string("ffn_type", "mptmlp");
    check(t == "mptmlp", path, ": ffn_config.ffn_type '", t, "' is not supported");
  }
}

void bloom(const Fields& f, const std::string& path, ModelConfig& c) {
  c.dim = f.find("hidden_size") ? f.get_int("hidden_size") : f.get_int("n_embed");
  c.n_layers = f.get_int("n_layer");
  c.n_heads = c.n_kv_heads = f.get_int("n_head");
  c.hidden_dim = 4 * c.dim;
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("seq_length", 2048);
  c.norm_eps = float(f.get_number("layer_norm_epsilon", 1e-5));
  c.norm = NormKind::LayerNorm;
  c.act = Activation::GELUTanh;
  c.gated_ffn = false;
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  c.position = PositionKind::Alibi;
  c.tied_embeddings = true;
  c.bos_id = f.get_token("bos_token_id", 1);
  c.eos_id = f.get_token("eos_token_id", 2);
  check(!f.get_bool("apply_residual_connection_post_layernorm", false), path,
        ": apply_residual_connection_post_layernorm is not supported");
}

void gpt2(const Fields& f, const std::string& path, ModelConfig& c) {
  c.dim = f.get_int("n_embd");
  c.n_layers = f.get_int("n_layer");
  c.n_heads = c.n_kv_heads = f.get_int("n_head");
  c.hidden_dim = f.get_int("n_inner", 4 * c.dim);
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("n_positions");
  c.norm_eps = float(f.get_number("layer_norm_epsilon", 1e-5));
  c.norm = NormKind::LayerNorm;
  c.act = activation_of(f, path, "activation_function", "gelu_new");
  c.gated_ffn = false;
  c.head_dim = head_dim_of(f, path, c.dim, c.n_heads);
  c.position = PositionKind::Learned;
  c.tied_embeddings = true;
  c.bos_id = f.get_token("bos_token_id", 50256);
  c.eos_id = f.get_token("eos_token_id", 50256);
  check(!f.get_bool("scale_attn_by_inverse_layer_idx", false), path,
        ": scale_attn_by_inverse_layer_idx is not supported");
  check(f.get_bool("scale_attn_weights", true), path,
        ": scale_attn_weights=false is not supported");
}

// Gemma 3 (gemma3_text): local layers with their own RoPE base, QK-norm,
// sandwich norms, GELU-tanh, an embedding scaled by sqrt(dim).
void gemma3(const Fields& f, const std::string& path, ModelConfig& c) {
  llama_shape(f, path, c);
  c.norm_eps = float(f.get_number("rms_norm_eps", 1e-6));
  c.act = activation_of(f, path, "hidden_activation", "gelu_pytorch_tanh");
  c.rope_theta = f.get_number("rope_theta", 1000000.0);
  check(f.find("rope_scaling") == nullptr, path, ": rope_scaling is not supported");
  c.sliding_window = f.get_int("sliding_window", 0);
  if (const json* types = f.find("layer_types")) {
    check(types->is_array() && int(types->size()) == c.n_layers, path,
          ": field layer_types must list one type per layer (", c.n_layers, ")");
    std::vector<bool> local;
    for (const json& t : *types) {
      const std::string s = t.is_string() ? t.get<std::string>() : "";
      check(s == "sliding_attention" || s == "full_attention", path, ": field layer_types: '",
            t.dump(), "' is not sliding_attention or full_attention");
      local.push_back(s == "sliding_attention");
    }
    c.sliding_window_pattern = sliding_window_pattern_of(local);
    check(c.sliding_window_pattern >= 0, path,
          ": field layer_types is not every n-th layer global (not supported)");
  } else {
    c.sliding_window_pattern = f.get_int("sliding_window_pattern", 6);
  }
  c.rope_theta_local = f.get_number("rope_local_base_freq", 10000.0);
  c.qk_norm = c.sandwich_norm = true;
  c.embed_scale = std::sqrt(float(c.dim));
  c.query_scale = float(1 / std::sqrt(f.get_number("query_pre_attn_scalar", c.head_dim)));
  c.attn_softcap = float(f.get_number("attn_logit_softcapping", 0));
  c.final_softcap = float(f.get_number("final_logit_softcapping", 0));
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_id = f.get_token("bos_token_id", 2);
  c.eos_id = f.get_token("eos_token_id", 1);
}

// Models trained by sinkstream: a Llama-like decoder with every knob of the
// sink study spelled out (see sinkstream_config_json).
void sinkstream(const Fields& f, const std::string& path, ModelConfig& c) {
  llama_shape(f, path, c);
  c.norm = NormKind(f.get_name("norm", kNormNames, "rmsnorm"));
  c.norm_eps = float(f.get_number("norm_eps", 1e-5));
  c.post_norm = f.get_bool("post_norm", false);
  c.act = Activation(f.get_name("hidden_act", kActivationNames, "silu"));
  c.gated_ffn = f.get_bool("gated_ffn", true);
  c.position = PositionKind(f.get_name("position", kPositionNames, "rope"));
  c.rope_theta = f.get_number("rope_theta", 10000.0);
  c.alibi_bias_max = float(f.get_number("alibi_bias_max", 8));
  c.attn_op = AttnOp(f.get_name("attn_op", kAttnOpNames, "softmax"));
  c.attn_logn_bias = f.get_bool("attn_logn_bias", false);
  c.attn_gate = f.get_bool("attn_gate", false);
  c.kv_bias = f.get_bool("kv_bias", false);
  c.sink_logits = f.get_bool("sink_logits", false);
  c.prefix_lm = f.get_int("prefix_lm", 0);
  c.sliding_window = f.get_int("sliding_window", 0);
  c.sink_token_id = f.get_int("sink_token_id", -1);
  c.tied_embeddings = f.get_bool("tie_word_embeddings", true);
  c.bos_id = f.get_token("bos_token_id", 1);
  c.eos_id = f.get_token("eos_token_id", 2);
}

struct Family {
  const char* model_type;
  const char* architecture;  // the HF class name
  void (*parse)(const Fields&, const std::string&, ModelConfig&);
};

constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", llama_like},
    {"mistral", "MistralForCausalLM", llama_like},
    {"qwen2", "Qwen2ForCausalLM", llama_like},
    {"gpt_neox", "GPTNeoXForCausalLM", gpt_neox},
    {"falcon", "FalconForCausalLM", falcon},
    {"mpt", "MPTForCausalLM", mpt},
    {"bloom", "BloomForCausalLM", bloom},
    {"gpt2", "GPT2LMHeadModel", gpt2},
    {"gemma3_text", "Gemma3ForCausalLM", gemma3},
    {"sinkstream", "SinkstreamForCausalLM", sinkstream},
};

}  // namespace

std::string supported_families() {
  std::string s;
  for (const Family& f : kFamilies) s += (s.empty() ? "" : ", ") + std::string(f.model_type);
  return s;
}

std::string sinkstream_config_json(const ModelConfig& c) {
  check(c.rope_layout == RopeLayout::RotateHalf && c.rotary_dim == 0 && c.clip_qkv == 0 &&
            !c.parallel_residual && !c.alibi_scaled,
        "config.json: the sinkstream family has no partial rotary, interleaved RoPE, clip_qkv, "
        "parallel residual or scaled ALiBi");
  const json j = {{"architectures", {"SinkstreamForCausalLM"}},
                  {"model_type", "sinkstream"},
                  {"hidden_size", c.dim},
                  {"intermediate_size", c.hidden_dim},
                  {"num_hidden_layers", c.n_layers},
                  {"num_attention_heads", c.n_heads},
                  {"num_key_value_heads", c.n_kv_heads},
                  {"head_dim", c.head_dim},
                  {"vocab_size", c.vocab_size},
                  {"max_position_embeddings", c.max_seq_len},
                  {"norm", kNormNames[int(c.norm)]},
                  {"norm_eps", c.norm_eps},
                  {"post_norm", c.post_norm},
                  {"hidden_act", kActivationNames[int(c.act)]},
                  {"gated_ffn", c.gated_ffn},
                  {"position", kPositionNames[int(c.position)]},
                  {"rope_theta", c.rope_theta},
                  {"alibi_bias_max", c.alibi_bias_max},
                  {"attn_op", attn_op_name(c.attn_op)},
                  {"attn_logn_bias", c.attn_logn_bias},
                  {"attn_gate", c.attn_gate},
                  {"kv_bias", c.kv_bias},
                  {"sink_logits", c.sink_logits},
                  {"prefix_lm", c.prefix_lm},
                  {"sliding_window", c.sliding_window},
                  {"sink_token_id", c.sink_token_id},
                  {"tie_word_embeddings", c.tied_embeddings},
                  {"bos_token_id", c.bos_id},
                  {"eos_token_id", c.eos_id}};
  return j.dump(2) + "\n";
}

ModelConfig parse_hf_config(const std::string& path) {
  auto map = MappedFile::open(path);
  const char* text = reinterpret_cast<const char*>(map->data());
  const json j = parse_json({text, map->size()}, path);
  check(j.is_object(), path, ": not a JSON object");
  const Fields f(j, path);

  // model_type names the family; the class in architectures, when given, must
  // be its causal-LM class (RefinedWeb* are Falcon's old names).
  std::string type = f.get_string("model_type", "");
  if (type == "RefinedWeb" || type == "RefinedWebModel") type = "falcon";
  std::string cls;
  if (const json* archs = f.find("architectures")) {
    check(archs->is_array() && !archs->empty() && archs->front().is_string(), path,
          ": field architectures must be a non-empty list of strings");
    cls = archs->front().get<std::string>();
  }
  const Family* fam = nullptr;
  for (const Family& k : kFamilies)
    if (type == k.model_type || (type.empty() && cls == k.architecture)) fam = &k;
  check(!type.empty() || !cls.empty(), path, ": missing field model_type");
  check(fam != nullptr, path, ": unsupported architecture '", type.empty() ? cls : type,
        "' (supported: ", supported_families(), ")");
  check(cls.empty() || cls == fam->architecture ||
            (std::string(fam->model_type) == "falcon" && cls.rfind("RWFor", 0) == 0),
        path, ": architecture class '", cls, "' is not a causal LM of family ", fam->model_type,
        " (expected ", fam->architecture, ")");

  ModelConfig c;
  c.family = fam->model_type;
  fam->parse(f, path, c);
  try {
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  return c;
}

}  // namespace ss
