#include "io/gguf_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace ss {
namespace {

// ggml_type ids of the tensor types we read and write.
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ8_0 = 8, kGgmlBF16 = 30;

bool dtype_of(uint32_t ggml, DType* t) {
  switch (ggml) {
    case kGgmlF32:
      *t = DType::F32;
      return true;
    case kGgmlF16:
      *t = DType::F16;
      return true;
    case kGgmlQ8_0:
      *t = DType::Q8_0;
      return true;
    case kGgmlBF16:
      *t = DType::BF16;
      return true;
  }
  return false;
}

uint32_t ggml_of(DType t) {
  switch (t) {
    case DType::F32:
      return kGgmlF32;
    case DType::F16:
      return kGgmlF16;
    case DType::Q8_0:
      return kGgmlQ8_0;
    case DType::BF16:
      return kGgmlBF16;
  }
  return kGgmlF32;
}

// Canonical name <-> GGUF name for the llama architecture; "%d" is the layer.
constexpr std::pair<const char*, const char*> kLlamaNames[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
};

std::string with_layer(const char* pattern, int layer) {
  char buf[128];
  std::snprintf(buf, sizeof buf, pattern, layer);
  return buf;
}

// Every (canonical, gguf) name pair of an n-layer model.
std::vector<std::pair<std::string, std::string>> llama_names(int n_layers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [canon, gguf] : kLlamaNames) {
    if (!std::strstr(canon, "%d")) {
      out.emplace_back(canon, gguf);
      continue;
    }
    for (int l = 0; l < n_layers; ++l) out.emplace_back(with_layer(canon, l), with_layer(gguf, l));
  }
  return out;
}

// Rows of a q or k projection reordered between Hugging Face's rotate-half
// layout and the interleaved one: interleaved row 2i+j of a head is
// rotate-half row j*d/2 + i.
std::vector<float> interleave_rows(const Tensor& t, int n_heads) {
  const int64_t rows = t.rows(), cols = t.cols(), hd = rows / n_heads;
  std::vector<float> out(size_t(rows * cols));
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int j = 0; j < 2; ++j)
        dequantize_row(t, h * hd + j * hd / 2 + i, out.data() + (h * hd + 2 * i + j) * cols);
  return out;
}

}  // namespace

Checkpoint load_gguf(const std::string& path) {
  GgufFile f = GgufFile::open(path);
  const std::string arch(f.get_string("general.architecture"));
  check(arch == "llama", path, ": GGUF architecture '", arch,
        "' is not supported yet (supported in GGUF: llama)");
  Checkpoint ck;
  ck.path = path;
  ck.format = "gguf";
  ModelConfig& c = ck.config;
  c.family = "llama";
  c.dim = int(f.get_int("llama.embedding_length"));
  c.hidden_dim = int(f.get_int("llama.feed_forward_length"));
  c.n_layers = int(f.get_int("llama.block_count"));
  c.n_heads = int(f.get_int("llama.attention.head_count"));
  c.n_kv_heads = f.has("llama.attention.head_count_kv")
                     ? int(f.get_int("llama.attention.head_count_kv"))
                     : c.n_heads;
  c.max_seq_len = int(f.get_int("llama.context_length"));
  c.norm_eps = float(f.get_float("llama.attention.layer_norm_rms_epsilon"));
  c.rope_theta = f.has("llama.rope.freq_base") ? f.get_float("llama.rope.freq_base") : 10000.0;
  c.rope_layout = RopeLayout::Interleaved;
  check(c.n_heads > 0 && c.dim % c.n_heads == 0, path, ": embedding_length ", c.dim,
        " is not a multiple of head_count ", c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  if (f.has("tokenizer.ggml.bos_token_id"))
    c.bos_id = int(f.get_int("tokenizer.ggml.bos_token_id"));
  if (f.has("tokenizer.ggml.eos_token_id"))
    c.eos_id = int(f.get_int("tokenizer.ggml.eos_token_id"));
  const GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
  check(emb && emb->dims.size() == 2, path, ": missing tensor token_embd.weight");
  c.vocab_size = int(emb->dims[1]);
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  try {
    c.validate();
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  ck.tensors.owners.push_back(f.mapping());
  for (auto& [canon, gguf] : llama_names(c.n_layers)) {
    const GgufTensorInfo* ti = f.find_tensor(gguf);
    if (!ti) continue;  // Model names what is missing
    Tensor t;
    check(dtype_of(ti->type, &t.dtype), path, ": tensor ", gguf, " has ggml type ", ti->type,
          ", not one of f32, f16, bf16, q8_0");
    t.shape.assign(ti->dims.rbegin(), ti->dims.rend());  // GGUF lists the fastest dim first
    check(t.dtype != DType::Q8_0 || t.cols() % kQ8Block == 0, path, ": tensor ", gguf,
          ": q8_0 rows of ", t.cols(), " values are not whole blocks");
    check(ti->bytes && *ti->bytes == t.nbytes(), path, ": tensor ", gguf, ": size mismatch");
    t.data = f.data() + f.data_offset() + ti->offset;
    ck.tensors.tensors.emplace_back(canon, t);
  }
  return ck;
}

namespace {

// Little-endian GGUF v3 serialisation into a byte buffer.
class Writer {
 public:
  template <typename T>
  void pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    buf_.insert(buf_.end(), p, p + sizeof v);
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  void key(const std::string& k, GgufType t) {
    str(k);
    pod(uint32_t(t));
    ++n_kv_;
  }
  void kv(const std::string& k, const std::string& v) { key(k, GgufType::String), str(v); }
  void kv(const std::string& k, uint32_t v) { key(k, GgufType::U32), pod(v); }
  void kv(const std::string& k, float v) { key(k, GgufType::F32), pod(v); }
  void kv(const std::string& k, bool v) { key(k, GgufType::Bool), pod(uint8_t(v)); }
  template <typename T>
  void array(const std::string& k, GgufType elem, const std::vector<T>& v) {
    key(k, GgufType::Array);
    pod(uint32_t(elem));
    pod<uint64_t>(v.size());
    for (const T& x : v) {
      if constexpr (std::is_same_v<T, std::string>)
        str(x);
      else
        pod(x);
    }
  }
  std::vector<uint8_t>& bytes() { return buf_; }
  uint64_t n_kv() const { return n_kv_; }

 private:
  std::vector<uint8_t> buf_;
  uint64_t n_kv_ = 0;
};

}  // namespace

void save_gguf(const Checkpoint& ck, const Tokenizer* tok, DType type, const std::string& path) {
  const ModelConfig& c = ck.config;
  check(c.family == "llama" || c.family == "mistral", "convert: GGUF export of family '", c.family,
        "' is not supported yet (supported: llama, mistral)");
  check(type == DType::F32 || type == DType::F16 || type == DType::Q8_0,
        "convert: GGUF weights must be f32, f16 or q8_0");
  Writer meta;
  meta.kv("general.architecture", std::string("llama"));
  meta.kv("general.alignment", uint32_t(32));
  meta.kv("llama.context_length", uint32_t(c.max_seq_len));
  meta.kv("llama.embedding_length", uint32_t(c.dim));
  meta.kv("llama.feed_forward_length", uint32_t(c.hidden_dim));
  meta.kv("llama.block_count", uint32_t(c.n_layers));
  meta.kv("llama.attention.head_count", uint32_t(c.n_heads));
  meta.kv("llama.attention.head_count_kv", uint32_t(c.n_kv_heads));
  meta.kv("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  meta.kv("llama.rope.freq_base", float(c.rope_theta));
  meta.kv("llama.rope.dimension_count", uint32_t(c.head_dim));
  if (const auto* lt = dynamic_cast<const Llama2cTokenizer*>(tok)) {
    const Llama2cTokenizer::Vocab& v = lt->vocab();
    std::vector<std::string> pieces;
    std::vector<int32_t> types;
    for (size_t i = 0; i < v.pieces.size(); ++i) {
      std::string p;
      for (char ch : v.pieces[i]) p += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
      pieces.push_back(p);
      // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte.
      const bool control = int(i) == v.bos || int(i) == v.eos;
      types.push_back(i == 0 ? 2 : control ? 3 : byte_piece_value(v.pieces[i]) >= 0 ? 6 : 1);
    }
    meta.kv("tokenizer.ggml.model", std::string("llama"));
    meta.array("tokenizer.ggml.tokens", GgufType::String, pieces);
    meta.array("tokenizer.ggml.scores", GgufType::F32, v.scores);
    meta.array("tokenizer.ggml.token_type", GgufType::I32, types);
    if (v.bos >= 0) meta.kv("tokenizer.ggml.bos_token_id", uint32_t(v.bos));
    if (v.eos >= 0) meta.kv("tokenizer.ggml.eos_token_id", uint32_t(v.eos));
    meta.kv("tokenizer.ggml.add_bos_token", v.bos >= 0);
  }

  // Tensor data: 2-D weights converted to `type`, norms kept f32, q/k interleaved.
  struct Out {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype;
    std::vector<uint8_t> data;
  };
  std::vector<Out> outs;
  for (auto& [canon, gguf] : llama_names(c.n_layers)) {
    const Tensor* t = ck.tensors.find(canon);
    if (!t) continue;
    // Norms stay f32; rows that are not whole q8_0 blocks fall back to f16, as in llama.cpp.
    DType dt = t->shape.size() < 2 ? DType::F32 : type;
    if (dt == DType::Q8_0 && t->cols() % kQ8Block) dt = DType::F16;
    Out o{gguf, t->shape, dt, {}};
    std::vector<float> f(size_t(t->numel()));
    const bool qk =
        canon.find("q_proj") != std::string::npos || canon.find("k_proj") != std::string::npos;
    if (qk && c.rope_layout == RopeLayout::RotateHalf) {
      f = interleave_rows(*t, canon.find("q_proj") != std::string::npos ? c.n_heads : c.n_kv_heads);
    } else {
      for (int64_t r = 0; r < t->rows(); ++r) dequantize_row(*t, r, f.data() + r * t->cols());
    }
    o.data.resize(dtype_bytes(o.dtype, t->numel()));
    if (o.dtype == DType::F32) std::memcpy(o.data.data(), f.data(), o.data.size());
    if (o.dtype == DType::F16)
      for (size_t i = 0; i < f.size(); ++i) {
        const uint16_t h = f32_to_f16(f[i]);
        std::memcpy(o.data.data() + 2 * i, &h, 2);
      }
    if (o.dtype == DType::Q8_0)
      quantize_row_q8_0(f.data(), t->numel(), reinterpret_cast<BlockQ8_0*>(o.data.data()));
    outs.push_back(std::move(o));
  }

  Writer head;
  head.pod(uint32_t(0x46554747));  // "GGUF"
  head.pod(uint32_t(3));
  head.pod(uint64_t(outs.size()));
  head.pod(uint64_t(meta.n_kv()));
  head.bytes().insert(head.bytes().end(), meta.bytes().begin(), meta.bytes().end());
  uint64_t offset = 0;
  for (const Out& o : outs) {
    head.str(o.name);
    head.pod(uint32_t(o.shape.size()));
    for (auto d = o.shape.rbegin(); d != o.shape.rend(); ++d) head.pod(uint64_t(*d));
    head.pod(ggml_of(o.dtype));
    head.pod(offset);
    offset += (o.data.size() + 31) / 32 * 32;
  }
  head.bytes().resize((head.bytes().size() + 31) / 32 * 32, 0);

  static const uint8_t zeros[32] = {};
  std::vector<Bytes> parts = {{head.bytes().data(), head.bytes().size()}};
  for (const Out& o : outs) {
    parts.push_back({o.data.data(), o.data.size()});
    parts.push_back({zeros, (32 - o.data.size() % 32) % 32});
  }
  write_file_atomic(path, parts);
}

}  // namespace ss
