#include "io/hf_tensors.h"

#include <cstring>
#include <functional>
#include <map>
#include <regex>
#include <vector>

#include "core/error.h"

namespace ss {
namespace {

// A tensor's row r as bytes (1-D tensors: one element per row).
size_t row_bytes(const Tensor& t) {
  return dtype_bytes(t.dtype, t.shape.size() < 2 ? 1 : t.cols());
}

// A copy of the given rows of t, owned by ts.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& rows, TensorStore& ts) {
  const size_t rb = row_bytes(t);
  auto buf = std::make_shared<std::vector<uint8_t>>(rows.size() * rb);
  for (size_t i = 0; i < rows.size(); ++i)
    std::memcpy(buf->data() + i * rb, static_cast<const uint8_t*>(t.data) + rows[i] * rb, rb);
  Tensor out = t;
  out.shape[0] = int64_t(rows.size());
  out.data = buf->data();
  ts.owners.push_back(buf);
  return out;
}

// GPT-2's Conv1D stores [in, out]; the model wants [out, in].
Tensor transpose(const Tensor& t, TensorStore& ts) {
  const int64_t r = t.shape[0], c = t.shape[1];
  const size_t es = dtype_bytes(t.dtype, 1);
  auto buf = std::make_shared<std::vector<uint8_t>>(size_t(r * c) * es);
  const auto* src = static_cast<const uint8_t*>(t.data);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      std::memcpy(buf->data() + (j * r + i) * es, src + (i * c + j) * es, es);
  Tensor out = t;
  out.shape = {c, r};
  out.data = buf->data();
  ts.owners.push_back(buf);
  return out;
}

// Gemma's RMSNorm scales by 1 + w: the gain as f32 with the 1 added.
Tensor plus_one(const Tensor& t, TensorStore& ts) {
  auto buf = std::make_shared<std::vector<float>>(t.numel());
  dequantize_row(t, 0, buf->data());
  for (float& g : *buf) g += 1;
  Tensor out = t;
  out.dtype = DType::F32;
  out.data = buf->data();
  ts.owners.push_back(buf);
  return out;
}

// Rows of q, k and v inside a fused projection.
struct QkvRows {
  std::vector<int64_t> q, k, v;
};

// [q of every head; k; v] one after the other (MPT, GPT-2).
QkvRows concatenated(const ModelConfig& c) {
  QkvRows r;
  for (int64_t i = 0; i < c.q_dim(); ++i) r.q.push_back(i);
  for (int64_t i = 0; i < c.kv_dim(); ++i) r.k.push_back(c.q_dim() + i);
  for (int64_t i = 0; i < c.kv_dim(); ++i) r.v.push_back(c.q_dim() + c.kv_dim() + i);
  return r;
}

// Per KV head: its g query heads, then its key, then its value: [Hkv, g+2, d]
// (Falcon; NeoX and BLOOM are the case g=1).
QkvRows grouped(const ModelConfig& c) {
  QkvRows r;
  const int g = c.n_heads / c.n_kv_heads, hd = c.head_dim;
  for (int kv = 0; kv < c.n_kv_heads; ++kv) {
    const int64_t base = int64_t(kv) * (g + 2) * hd;
    for (int j = 0; j < g * hd; ++j) r.q.push_back(base + j);
    for (int j = 0; j < hd; ++j) r.k.push_back(base + g * hd + j);
    for (int j = 0; j < hd; ++j) r.v.push_back(base + (g + 1) * hd + j);
  }
  return r;
}

// One family's naming: regex on the raw name (prefix stripped) -> canonical
// name, where "$1" is the layer index and "$2" the suffix (weight or bias).
struct Rule {
  const char* pattern;
  const char* canonical;  // "qkv" marks a fused projection to split
  bool conv1d = false;    // GPT-2: weight stored transposed
  bool plus_one = false;  // Gemma: a norm gain stored as w for 1 + w
};

const std::map<std::string, std::vector<Rule>>& rules() {
  static const std::map<std::string, std::vector<Rule>> r = {
      {"gpt_neox",
       {{R"(embed_in\.weight)", "model.embed_tokens.weight"},
        {R"(layers\.(\d+)\.input_layernorm\.(\w+))", "model.layers.$1.input_layernorm.$2"},
        {R"(layers\.(\d+)\.post_attention_layernorm\.(\w+))",
         "model.layers.$1.post_attention_layernorm.$2"},
        {R"(layers\.(\d+)\.attention\.query_key_value\.(\w+))", "qkv"},
        {R"(layers\.(\d+)\.attention\.dense\.(\w+))", "model.layers.$1.self_attn.o_proj.$2"},
        {R"(layers\.(\d+)\.mlp\.dense_h_to_4h\.(\w+))", "model.layers.$1.mlp.up_proj.$2"},
        {R"(layers\.(\d+)\.mlp\.dense_4h_to_h\.(\w+))", "model.layers.$1.mlp.down_proj.$2"},
        {R"(final_layer_norm\.(\w+))", "model.norm.$1"},
        {R"(embed_out\.weight)", "lm_head.weight"}}},
      {"falcon",
       {{R"(word_embeddings\.weight)", "model.embed_tokens.weight"},
        {R"(h\.(\d+)\.(?:input_layernorm|ln_attn)\.(\w+))", "model.layers.$1.input_layernorm.$2"},
        {R"(h\.(\d+)\.(?:post_attention_layernorm|ln_mlp)\.(\w+))",
         "model.layers.$1.post_attention_layernorm.$2"},
        {R"(h\.(\d+)\.self_attention\.query_key_value\.(\w+))", "qkv"},
        {R"(h\.(\d+)\.self_attention\.dense\.(\w+))", "model.layers.$1.self_attn.o_proj.$2"},
        {R"(h\.(\d+)\.mlp\.dense_h_to_4h\.(\w+))", "model.layers.$1.mlp.up_proj.$2"},
        {R"(h\.(\d+)\.mlp\.dense_4h_to_h\.(\w+))", "model.layers.$1.mlp.down_proj.$2"},
        {R"(ln_f\.(\w+))", "model.norm.$1"},
        {R"(lm_head\.weight)", "lm_head.weight"}}},
      {"mpt",
       {{R"(wte\.weight)", "model.embed_tokens.weight"},
        {R"(blocks\.(\d+)\.norm_1\.(\w+))", "model.layers.$1.input_layernorm.$2"},
        {R"(blocks\.(\d+)\.norm_2\.(\w+))", "model.layers.$1.post_attention_layernorm.$2"},
        {R"(blocks\.(\d+)\.attn\.Wqkv\.(\w+))", "qkv"},
        {R"(blocks\.(\d+)\.attn\.out_proj\.(\w+))", "model.layers.$1.self_attn.o_proj.$2"},
        {R"(blocks\.(\d+)\.ffn\.up_proj\.(\w+))", "model.layers.$1.mlp.up_proj.$2"},
        {R"(blocks\.(\d+)\.ffn\.down_proj\.(\w+))", "model.layers.$1.mlp.down_proj.$2"},
        {R"(norm_f\.(\w+))", "model.norm.$1"}}},
      {"bloom",
       {{R"(word_embeddings\.weight)", "model.embed_tokens.weight"},
        {R"(word_embeddings_layernorm\.(\w+))", "model.embed_norm.$1"},
        {R"(h\.(\d+)\.input_layernorm\.(\w+))", "model.layers.$1.input_layernorm.$2"},
        {R"(h\.(\d+)\.post_attention_layernorm\.(\w+))",
         "model.layers.$1.post_attention_layernorm.$2"},
        {R"(h\.(\d+)\.self_attention\.query_key_value\.(\w+))", "qkv"},
        {R"(h\.(\d+)\.self_attention\.dense\.(\w+))", "model.layers.$1.self_attn.o_proj.$2"},
        {R"(h\.(\d+)\.mlp\.dense_h_to_4h\.(\w+))", "model.layers.$1.mlp.up_proj.$2"},
        {R"(h\.(\d+)\.mlp\.dense_4h_to_h\.(\w+))", "model.layers.$1.mlp.down_proj.$2"},
        {R"(ln_f\.(\w+))", "model.norm.$1"}}},
      {"gpt2",
       {{R"(wte\.weight)", "model.embed_tokens.weight"},
        {R"(wpe\.weight)", "model.embed_positions.weight"},
        {R"(h\.(\d+)\.ln_1\.(\w+))", "model.layers.$1.input_layernorm.$2"},
        {R"(h\.(\d+)\.ln_2\.(\w+))", "model.layers.$1.post_attention_layernorm.$2"},
        {R"(h\.(\d+)\.attn\.c_attn\.(\w+))", "qkv", true},
        {R"(h\.(\d+)\.attn\.c_proj\.(\w+))", "model.layers.$1.self_attn.o_proj.$2", true},
        {R"(h\.(\d+)\.mlp\.c_fc\.(\w+))", "model.layers.$1.mlp.up_proj.$2", true},
        {R"(h\.(\d+)\.mlp\.c_proj\.(\w+))", "model.layers.$1.mlp.down_proj.$2", true},
        {R"(ln_f\.(\w+))", "model.norm.$1"}}},
      // Gemma's post_attention_layernorm normalises the attention output;
      // pre_feedforward_layernorm is what Llama calls post_attention_layernorm.
      {"gemma3_text",
       {{R"(embed_tokens\.weight)", "model.embed_tokens.weight"},
        {R"(layers\.(\d+)\.input_layernorm\.(weight))", "model.layers.$1.input_layernorm.$2", false,
         true},
        {R"(layers\.(\d+)\.self_attn\.(q_norm|k_norm)\.weight)",
         "model.layers.$1.self_attn.$2.weight", false, true},
        {R"(layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj|o_proj)\.weight)",
         "model.layers.$1.self_attn.$2.weight"},
        {R"(layers\.(\d+)\.post_attention_layernorm\.(weight))",
         "model.layers.$1.attn_output_layernorm.$2", false, true},
        {R"(layers\.(\d+)\.pre_feedforward_layernorm\.(weight))",
         "model.layers.$1.post_attention_layernorm.$2", false, true},
        {R"(layers\.(\d+)\.post_feedforward_layernorm\.(weight))",
         "model.layers.$1.ffn_output_layernorm.$2", false, true},
        {R"(layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.weight)",
         "model.layers.$1.mlp.$2.weight"},
        {R"(norm\.(weight))", "model.norm.$1", false, true},
        {R"(lm_head\.weight)", "lm_head.weight"}}},
  };
  return r;
}

}  // namespace

void canonicalize_hf_tensors(const ModelConfig& c, TensorStore& ts, const std::string& path) {
  auto it = rules().find(c.family);
  if (it == rules().end()) return;  // llama, mistral, qwen2: already canonical
  struct Compiled {
    std::regex re;
    const Rule* rule;
  };
  std::vector<Compiled> compiled;
  for (const Rule& r : it->second) compiled.push_back({std::regex(r.pattern), &r});
  const QkvRows qkv = c.family == "mpt" || c.family == "gpt2" ? concatenated(c) : grouped(c);
  const int64_t fused = c.q_dim() + 2 * int64_t(c.kv_dim());

  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [raw, t0] : ts.tensors) {
    // Checkpoints differ in whether names carry the base model's prefix.
    std::string name = raw;
    for (const char* prefix : {"transformer.", "gpt_neox.", "model."})
      if (name.rfind(prefix, 0) == 0) name = name.substr(std::strlen(prefix));
    for (const Compiled& cr : compiled) {
      std::smatch m;
      if (!std::regex_match(name, m, cr.re)) continue;
      Tensor t = t0;
      const bool transposed = cr.rule->conv1d && t.shape.size() == 2;
      if (transposed) t = transpose(t, ts);
      if (cr.rule->plus_one) t = plus_one(t, ts);
      if (std::string(cr.rule->canonical) != "qkv") {
        out.emplace_back(m.format(cr.rule->canonical), t);
        break;
      }
      // The shape as stored: a Conv1D weight's fused dimension is its columns.
      check(!t.shape.empty() && t.shape[0] == fused, path, ": tensor ", raw, ": shape ",
            t0.shape_str(), ", expected ", fused, transposed ? " columns" : " rows",
            " (q, k and v of ", c.n_heads, "+", c.n_kv_heads, "+", c.n_kv_heads, " heads of ",
            c.head_dim, ")");
      // smatch::format, not operator+: GCC 12 -O3 warns falsely (-Wrestrict) on the latter.
      out.emplace_back(m.format("model.layers.$1.self_attn.q_proj.$2"), gather_rows(t, qkv.q, ts));
      out.emplace_back(m.format("model.layers.$1.self_attn.k_proj.$2"), gather_rows(t, qkv.k, ts));
      out.emplace_back(m.format("model.layers.$1.self_attn.v_proj.$2"), gather_rows(t, qkv.v, ts));
      break;
    }
  }
  ts.tensors = std::move(out);
}

}  // namespace ss
