#include "io/checkpoint.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/llama2c.h"
#include "io/safetensors.h"

namespace ss {

Checkpoint load_checkpoint(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) {
    fail("cannot open model ", path, ": ", ec ? ec.message() : std::string(std::strerror(ENOENT)));
  }

  Checkpoint ck;
  ck.path = path;
  if (fs::is_directory(st)) {
    const std::string config = path + "/config.json";
    check(fs::exists(config, ec), path, ": directory has no config.json");
    ck.config = parse_hf_config(config);
    load_safetensors_dir(path, ck.tensors);
    ck.format = "safetensors";
  } else {
    char magic[4] = {};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    check(std::memcmp(magic, "GGUF", 4) != 0, path, ": GGUF is not supported yet");
    ck = load_llama2c(path);
  }
  check_llama_tensors(ck);
  return ck;
}

void check_llama_tensors(const Checkpoint& ck) {
  const ModelConfig& c = ck.config;
  const int64_t dim = c.dim, q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = c.kv_dim();
  try {
    const TensorStore& s = ck.tensors;
    s.get("model.embed_tokens.weight", {c.vocab_size, dim});
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      s.get(p + "input_layernorm.weight", {dim});
      s.get(p + "self_attn.q_proj.weight", {q_dim, dim});
      s.get(p + "self_attn.k_proj.weight", {kv_dim, dim});
      s.get(p + "self_attn.v_proj.weight", {kv_dim, dim});
      s.get(p + "self_attn.o_proj.weight", {dim, q_dim});
      s.get(p + "post_attention_layernorm.weight", {dim});
      s.get(p + "mlp.gate_proj.weight", {c.hidden_dim, dim});
      s.get(p + "mlp.down_proj.weight", {dim, c.hidden_dim});
      s.get(p + "mlp.up_proj.weight", {c.hidden_dim, dim});
    }
    s.get("model.norm.weight", {dim});
    if (!c.tied_embeddings) s.get("lm_head.weight", {c.vocab_size, dim});
  } catch (const Error& e) {
    fail(ck.path, ": ", e.what());
  }
}

}  // namespace ss
