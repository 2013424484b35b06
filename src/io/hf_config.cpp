#include "io/hf_config.h"

#include <climits>
#include <nlohmann/json.hpp>

#include "core/error.h"
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

ModelConfig parse_hf_config(const std::string& path) {
  auto map = MappedFile::open(path);
  const char* text = reinterpret_cast<const char*>(map->data());
  json j;
  try {
    j = json::parse(text, text + map->size());
  } catch (const json::parse_error& e) {
    fail(path, ": invalid JSON: ", json_message(e));
  }
  check(j.is_object(), path, ": not a JSON object");
  const Fields f(j, path);

  // model_type names the architecture; the class in architectures must be
  // LlamaForCausalLM for it to be one we run.
  std::string arch = f.get_string("model_type", "");
  if (const json* archs = f.find("architectures")) {
    check(archs->is_array() && !archs->empty() && archs->front().is_string(), path,
          ": field architectures must be a non-empty list of strings");
    const std::string cls = archs->front().get<std::string>();
    if (arch.empty() || arch == "llama") arch = cls == "LlamaForCausalLM" ? "llama" : cls;
  }
  check(!arch.empty(), path, ": missing field model_type");
  check(arch == "llama", path, ": unsupported architecture '", arch, "' (supported: llama)");

  ModelConfig c;
  c.family = "llama";
  c.dim = f.get_int("hidden_size");
  c.hidden_dim = f.get_int("intermediate_size");
  c.n_layers = f.get_int("num_hidden_layers");
  c.n_heads = f.get_int("num_attention_heads");
  c.n_kv_heads = f.get_int("num_key_value_heads", c.n_heads);
  c.vocab_size = f.get_int("vocab_size");
  c.max_seq_len = f.get_int("max_position_embeddings");
  c.norm_eps = float(f.get_number("rms_norm_eps"));
  c.rope_theta = f.get_number("rope_theta", 10000.0);
  c.tied_embeddings = f.get_bool("tie_word_embeddings", false);
  c.bos_id = f.get_token("bos_token_id", 1);
  c.eos_id = f.get_token("eos_token_id", 2);
  c.rope_layout = RopeLayout::RotateHalf;
  if (const json* hd = f.find("head_dim")) {
    c.head_dim = f.to_int(*hd, "head_dim");
  } else {
    check(c.n_heads > 0 && c.dim % c.n_heads == 0, path, ": hidden_size (", c.dim,
          ") is not a multiple of num_attention_heads (", c.n_heads, ")");
    c.head_dim = c.dim / c.n_heads;
  }

  const std::string act = f.get_string("hidden_act", "silu");
  check(act == "silu", path, ": hidden_act '", act, "' is not supported (only silu)");
  check(f.find("rope_scaling") == nullptr, path, ": rope_scaling is not supported");
  check(!f.get_bool("attention_bias", false), path, ": attention_bias is not supported");
  check(!f.get_bool("mlp_bias", false), path, ": mlp_bias is not supported");

  try {
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  return c;
}

}  // namespace ss
