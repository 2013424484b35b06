// sinkstream info: what a checkpoint is. A GGUF file is described from its
// own metadata and tensor infos, so that files whose weight types or
// architecture the model cannot run yet are still described.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_arch.h"
#include "serve/chat_template.h"

namespace ss::cli {
namespace {

// Positions by model/config.h's name (as config.json spells them), with the
// RoPE pairing.
std::string position_name(const ModelConfig& c) {
  std::string name = kPositionNames[int(c.position)];
  if (c.position == PositionKind::Rope)
    name += c.rope_layout == RopeLayout::Interleaved ? " (interleaved pairs)" : " (rotate-half)";
  return name;
}

using Json = nlohmann::ordered_json;

// A float as the double of its shortest decimal form (1e-05, not 9.99999974e-06).
double shortest(float x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", double(x));
  return std::strtod(buf, nullptr);
}

// The facts every format shares, from the config the model would run with.
void config_facts(const ModelConfig& c, Json& j) {
  j["family"] = c.family;
  j["dim"] = c.dim;
  j["hidden_dim"] = c.hidden_dim;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["head_dim"] = c.head_dim;
  j["vocab_size"] = c.vocab_size;
  j["training_context"] = c.max_seq_len;
  j["norm"] = kNormNames[int(c.norm)];
  j["norm_eps"] = shortest(c.norm_eps);
  j["ffn"] = std::string(c.gated_ffn ? "gated " : "") + kActivationNames[int(c.act)];
  j["residual"] = c.parallel_residual ? "parallel" : "sequential";
  j["positions"] = position_name(c);
  j["tied_embeddings"] = c.tied_embeddings;
  if (c.position == PositionKind::Rope) {
    j["rope_theta"] = c.rope_theta;
    j["rotary_dims"] = c.rot_dim();
  }
  if (c.position == PositionKind::Alibi) j["alibi_bias_max"] = c.alibi_bias_max;
  if (c.clip_qkv > 0) j["clip_qkv"] = c.clip_qkv;
  // K and V of one cached token in one layer (f32).
  const int64_t slot = 2 * int64_t(c.kv_dim()) * int64_t(sizeof(float));
  int local = 0;
  for (int l = 0; l < c.n_layers; ++l) local += c.local_layer(l);
  if (c.sliding_window > 0) {
    j["sliding_window"] = c.sliding_window;
    j["local_layers"] = local;
    j["global_layers"] = c.n_layers - local;
    if (c.rope_theta_local > 0) j["rope_theta_local"] = c.rope_theta_local;
  }
  if (c.qk_norm) j["qk_norm"] = true;
  if (c.sandwich_norm) j["sandwich_norm"] = true;
  if (c.embed_scale != 1) j["embed_scale"] = shortest(c.embed_scale);
  if (c.query_scale > 0) j["query_scale"] = shortest(c.query_scale);
  if (c.attn_softcap > 0) j["attn_softcap"] = shortest(c.attn_softcap);
  if (c.final_softcap > 0) j["final_softcap"] = shortest(c.final_softcap);
  // What the cache costs: per token kept by the global layers' policy, and
  // fixed for the local layers' own windows.
  j["kv_bytes_per_token"] = (c.n_layers - local) * slot;
  if (local > 0) j["kv_bytes_local_layers"] = int64_t(local) * c.sliding_window * slot;
}

bool is_gguf(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[4] = {};
  return f.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// llama.cpp's general.file_type (enum llama_ftype), the common ones by name.
std::string file_type_name(int64_t t) {
  static const std::map<int64_t, const char*> kNames = {
      {0, "F32"},     {1, "F16"},     {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
      {8, "Q5_0"},    {9, "Q5_1"},    {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
      {13, "Q3_K_L"}, {14, "Q4_K_S"}, {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
      {18, "Q6_K"},   {25, "IQ4_NL"}, {30, "IQ4_XS"}, {32, "BF16"}};
  auto it = kNames.find(t);
  return it != kNames.end() ? it->second : "type " + std::to_string(t);
}

// What the chat template is: a recognised kind (what serve and generate
// --chat would use), or its size and first characters.
std::string template_kind(const GgufFile& f) {
  const bool has = f.has("tokenizer.chat_template");
  const std::string jinja = has ? std::string(f.get_string("tokenizer.chat_template")) : "";
  std::string warning;
  const ChatTemplate t = ChatTemplate::for_model(f.path(), "auto", &warning);
  if (warning.empty())
    return t.name() + (has ? "" : " (no chat_template; from the vocabulary's turn tokens)");
  if (!has) return "none";
  const std::string first = jinja.substr(0, std::min(jinja.find('\n'), size_t(48)));
  return "unrecognised (" + std::to_string(jinja.size()) + " chars: " + one_line(first) +
         (first.size() < jinja.size() ? "...)" : ")");
}

Json gguf_facts(const std::string& path) {
  const GgufFile f = GgufFile::open(path);
  const std::string arch(f.get_string("general.architecture"));
  Json j = {{"model", path}, {"format", "gguf v" + std::to_string(f.version())}};
  j["architecture"] = arch;
  if (f.has("general.name")) j["name"] = std::string(f.get_string("general.name"));
  if (f.has("general.file_type")) j["file_type"] = file_type_name(f.get_int("general.file_type"));

  struct Count {
    int64_t tensors = 0, parameters = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Count> types;
  int64_t params = 0;
  uint64_t bytes = 0;
  for (const GgufTensorInfo& t : f.tensors()) {
    check(t.bytes.has_value(), path, ": tensor ", t.name, " has unknown ggml type ", t.type);
    Count& n = types[ggml_type_name(t.type)];
    ++n.tensors;
    n.parameters += t.numel();
    n.bytes += *t.bytes;
    params += t.numel();
    bytes += *t.bytes;
  }
  j["parameters"] = params;
  std::vector<std::pair<std::string, Count>> by_bytes(types.begin(), types.end());
  std::stable_sort(by_bytes.begin(), by_bytes.end(),
                   [](const auto& a, const auto& b) { return a.second.bytes > b.second.bytes; });
  Json tt = Json::object();
  for (auto& [name, n] : by_bytes)
    tt[name] = {{"tensors", n.tensors}, {"parameters", n.parameters}, {"bytes", n.bytes}};
  j["tensor_types"] = tt;
  j["tensor_bytes"] = bytes;
  const std::string ctx = arch + ".context_length";
  if (f.has(ctx)) j["training_context"] = f.get_int(ctx);

  if (f.has("tokenizer.ggml.model"))
    j["tokenizer"] = std::string(f.get_string("tokenizer.ggml.model"));
  if (f.has("tokenizer.ggml.pre"))
    j["pre_tokenizer"] = std::string(f.get_string("tokenizer.ggml.pre"));
  if (const GgufKv* toks = f.find("tokenizer.ggml.tokens")) j["tokens"] = toks->count;
  for (const char* id : {"bos", "eos"}) {
    const std::string key = std::string("tokenizer.ggml.") + id + "_token_id";
    if (f.has(key)) j[std::string(id) + "_id"] = f.get_int(key);
  }
  j["chat_template"] = template_kind(f);

  // The model's view, where sinkstream knows the architecture; the file's
  // facts above stand either way.
  try {
    const ModelConfig c = gguf_read_config(f);
    Json cj;
    config_facts(c, cj);
    for (auto& [k, v] : cj.items())
      if (!j.contains(k)) j[k] = v;
    j["training_context"] = c.max_seq_len;
    j["supported"] = true;
  } catch (const Error& e) {
    j["supported"] = false;
    j["unsupported"] = e.what();
  }
  return j;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1 << 20));
  return buf;
}

void print(const Json& j, bool json) {
  if (json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  for (auto& [k, v] : j.items()) {
    std::string text;
    if (k == "tensor_types") {
      for (auto& [name, n] : v.items())
        text += (text.empty() ? "" : ", ") + name + " x" + n["tensors"].dump() + " (" +
                mib(n["bytes"].get<uint64_t>()) + ")";
    } else if (k == "tensor_bytes") {
      text = mib(v.get<uint64_t>());
    } else {
      text = v.is_string() ? v.get<std::string>() : v.dump();
    }
    std::printf("%-18s %s\n", k.c_str(), text.c_str());
  }
}

// --tokenizer: what the tokenizer file holds; a one-line error when it cannot
// be read or has more tokens than the model's vocabulary (vocab; 0: unknown).
void tokenizer_facts(const std::string& path, int64_t vocab, Json& j) {
  if (path.empty()) return;
  const auto tok = load_tokenizer(path);
  check(vocab <= 0 || tok->vocab_size() <= vocab, path, ": tokenizer has ", tok->vocab_size(),
        " tokens but the model only ", vocab);
  j["tokenizer_file"] = path;
  j["tokenizer_tokens"] = tok->vocab_size();
  j["tokenizer_bos_id"] = tok->bos_id();
  j["tokenizer_eos_id"] = tok->eos_id();
}

void run(const ModelOptions& o, bool json) {
  if (is_gguf(o.model)) {
    Json j = gguf_facts(o.model);
    tokenizer_facts(o.tokenizer, j.value("vocab_size", int64_t(0)), j);
    print(j, json);
    return;
  }
  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();
  std::map<std::string, int64_t> dtypes;
  for (auto& [name, t] : model->checkpoint().tensors.tensors)
    dtypes[dtype_name(t.dtype)] += t.numel();
  Json j = {{"model", o.model},
            {"format", model->checkpoint().format},
            {"family", c.family},
            {"parameters", model->n_params()},
            {"dtypes", dtypes}};
  config_facts(c, j);
  tokenizer_facts(o.tokenizer, c.vocab_size, j);
  print(j, json);
}

}  // namespace

void add_info(CLI::App& app) {
  auto o = std::make_shared<ModelOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd =
      app.add_subcommand("info", "Describe a checkpoint: family, sizes, dtypes, quirks");
  o->add(cmd, false);
  cmd->get_option("--tokenizer")
      ->description(
          "Also describe this tokenizer file (tokens, BOS and EOS ids), checked against "
          "the model's vocabulary");
  cmd->add_option("model", o->model, "Model path (same as -m)");
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([o, json] { run(*o, *json); });
}

}  // namespace ss::cli
