#include "io/llama2c.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/error.h"
#include "io/mmap.h"

namespace ss {

Checkpoint load_llama2c(const std::string& path) {
  constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
  auto map = MappedFile::open(path);
  check(map->size() >= kHeaderBytes, path, ": size ", map->size(),
        " bytes, too small for a llama2.c header (", kHeaderBytes, " bytes)");
  int32_t h[7];
  std::memcpy(h, map->data(), kHeaderBytes);
  const int64_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv_heads = h[4],
                vocab = std::abs(int64_t(h[5])), seq_len = h[6];
  const bool shared = h[5] > 0;  // a negative vocab_size means a separate classifier
  std::ostringstream desc;
  desc << "(dim=" << h[0] << ", hidden_dim=" << h[1] << ", n_layers=" << h[2]
       << ", n_heads=" << h[3] << ", n_kv_heads=" << h[4] << ", vocab_size=" << h[5]
       << ", seq_len=" << h[6] << ")";
  const std::string bad = path + ": bad llama2.c header " + desc.str();

  // Bounds first, so the sizes below cannot overflow.
  check(dim > 0 && hidden > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && vocab > 0 &&
            seq_len > 0,
        bad, ": every value must be positive (vocab_size may be negative)");
  check(dim < (1 << 20) && hidden < (1 << 20) && n_layers < 4096 && vocab < (1 << 24) &&
            seq_len < (1 << 24),
        bad, ": implausibly large");
  check(dim % n_heads == 0 && (dim / n_heads) % 2 == 0, bad,
        ": n_heads must divide dim into heads of even size");
  check(n_heads % n_kv_heads == 0, bad, ": n_kv_heads must divide n_heads");

  const int64_t head_dim = dim / n_heads, kv_dim = n_kv_heads * head_dim;
  const int64_t per_layer = 2 * dim + 2 * dim * dim + 2 * kv_dim * dim + 3 * hidden * dim;
  const int64_t floats = vocab * dim * (shared ? 1 : 2) + n_layers * per_layer + dim +
                         seq_len * head_dim;  // freq_cis_real + freq_cis_imag
  const uint64_t expected = kHeaderBytes + 4 * uint64_t(floats);
  check(map->size() == expected, path, ": size ", map->size(), " bytes, expected ", expected,
        " for the header ", desc.str());

  Checkpoint ck;
  ck.format = "llama2c";
  ck.path = path;
  ModelConfig& c = ck.config;
  c.family = "llama";
  c.dim = int(dim);
  c.hidden_dim = int(hidden);
  c.n_layers = int(n_layers);
  c.n_heads = int(n_heads);
  c.n_kv_heads = int(n_kv_heads);
  c.head_dim = int(head_dim);
  c.vocab_size = int(vocab);
  c.max_seq_len = int(seq_len);
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0;
  c.rope_layout = RopeLayout::Interleaved;
  c.tied_embeddings = shared;
  c.bos_id = 1;
  c.eos_id = 2;
  try {
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }

  // The weights follow the header back to back, 4-byte aligned in the map.
  const uint8_t* p = map->data() + kHeaderBytes;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    Tensor t;
    t.shape = std::move(shape);
    t.data = p;
    p += t.nbytes();
    ck.tensors.tensors.emplace_back(name, std::move(t));
  };
  auto per_layer_tensor = [&](const std::string& suffix, const std::vector<int64_t>& shape) {
    for (int l = 0; l < c.n_layers; ++l)
      add("model.layers." + std::to_string(l) + "." + suffix, shape);
  };
  add("model.embed_tokens.weight", {vocab, dim});
  per_layer_tensor("input_layernorm.weight", {dim});
  per_layer_tensor("self_attn.q_proj.weight", {dim, dim});
  per_layer_tensor("self_attn.k_proj.weight", {kv_dim, dim});
  per_layer_tensor("self_attn.v_proj.weight", {kv_dim, dim});
  per_layer_tensor("self_attn.o_proj.weight", {dim, dim});
  per_layer_tensor("post_attention_layernorm.weight", {dim});
  per_layer_tensor("mlp.gate_proj.weight", {hidden, dim});
  per_layer_tensor("mlp.down_proj.weight", {dim, hidden});
  per_layer_tensor("mlp.up_proj.weight", {hidden, dim});
  add("model.norm.weight", {dim});
  p += 4 * seq_len * head_dim;  // RoPE tables: the engine computes its own
  if (!shared) add("lm_head.weight", {vocab, dim});
  ck.tensors.owners.push_back(std::move(map));
  return ck;
}

}  // namespace ss
