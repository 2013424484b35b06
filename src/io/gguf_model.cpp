#include "io/gguf_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <variant>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/gguf_arch.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace ss {
namespace {}  // namespace

Checkpoint load_gguf(const std::string& path) {
  GgufFile f = GgufFile::open(path);
  Checkpoint ck;
  ck.path = path;
  ck.format = "gguf";
  ck.config = gguf_read_config(f);
  const ModelConfig& c = ck.config;
  ck.tensors.owners.push_back(f.mapping());
  for (auto& [canon, gguf] : gguf_tensor_names(c, f)) {
    const GgufTensorInfo* ti = f.find_tensor(gguf);
    if (!ti) continue;  // Model names what is missing
    const DTypeTraits* tr = traits_of_ggml(ti->type);
    check(tr != nullptr, path, ": tensor ", gguf, " has ggml type ", ti->type, ", not one of ",
          dtype_names());
    Tensor t;
    t.dtype = tr->type;
    t.shape.assign(ti->dims.rbegin(), ti->dims.rend());  // GGUF lists the fastest dim first
    check(t.cols() % tr->block == 0, path, ": tensor ", gguf, ": ", tr->name, " rows of ", t.cols(),
          " values are not whole blocks of ", tr->block);
    check(ti->bytes && *ti->bytes == t.nbytes(), path, ": tensor ", gguf, ": size mismatch");
    t.data = f.data() + f.data_offset() + ti->offset;
    gguf_add_tensor(c, canon, gguf, t, ck.tensors, path);
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
  check(traits(type).quantize != nullptr, "convert: cannot write ", dtype_name(type),
        " weights (writable: ", dtype_names(true), ")");
  Writer meta;
  for (auto& kv : gguf_write_config(c))
    std::visit([&meta, &key = kv.first](const auto& v) { meta.kv(key, v); }, kv.second);
  meta.kv("general.alignment", uint32_t(32));
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

  // Tensor data under the architecture's names: 2-D weights converted to `type`, norms kept
  // f32, fused projections concatenated, llama's q/k rows interleaved.
  struct Out {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype;
    std::vector<uint8_t> data;
  };
  std::vector<Out> outs;
  for (const GgufOutTensor& p : gguf_tensor_plan(c, ck.tensors)) {
    const std::vector<float> f = gguf_tensor_values(ck.tensors, p);  // fused, q/k interleaved
    Tensor shaped;
    shaped.shape = p.shape;
    const Tensor* t = &shaped;
    const std::string& gguf = p.name;
    // Norms stay f32; rows that are not whole blocks fall back to f16, as in llama.cpp.
    DType dt = t->shape.size() < 2 ? DType::F32 : type;
    if (t->cols() % traits(dt).block) dt = DType::F16;
    Out o{gguf, t->shape, dt, {}};
    o.data.resize(dtype_bytes(o.dtype, t->numel()));
    quantize_row(o.dtype, f.data(), t->numel(), o.data.data());
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
    head.pod(traits(o.dtype).ggml);
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
