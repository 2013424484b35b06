#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/error.h"

namespace ss {

namespace {

constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;       // arrays of arrays of ...
constexpr uint64_t kMinKvBytes = 13;      // key length, type, one-byte value
constexpr uint64_t kMinTensorBytes = 24;  // name length, n_dims, type, offset

// Bytes of one scalar value, 0 for strings, arrays and unknown types.
uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::Bool:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    default:
      return 0;
  }
}

bool is_integer(GgufType t) {
  return scalar_size(t) > 0 && t != GgufType::F32 && t != GgufType::F64 && t != GgufType::Bool;
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A bounds-checked cursor over the mapped file.
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) const {
    check(n <= left(), path_, ": GGUF file is truncated (", what, " at byte ", pos_, " needs ", n,
          " bytes, ", left(), " left)");
  }
  void skip(uint64_t n, const char* what) {
    need(n, what);
    pos_ += n;
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v = load<T>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string_view string(const char* what) {
    const uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  GgufType type(const char* what, std::string_view owner) {
    const uint64_t at = pos_;
    const uint32_t t = read<uint32_t>(what);
    check(known_type(t), path_, ": ", owner, " has unknown GGUF value type ", t, " at byte ", at);
    return static_cast<GgufType>(t);
  }

  // Steps over one value of type t; `count` elements of it when in an array.
  void skip_values(GgufType t, uint64_t count, std::string_view key, int depth) {
    if (const uint64_t size = scalar_size(t)) {
      check(count <= left() / size, path_, ": GGUF file is truncated (", key, ": ", count, " ",
            gguf_type_name(t), " values at byte ", pos_, ", ", left(), " bytes left)");
      pos_ += count * size;
    } else if (t == GgufType::String) {
      check(count <= left() / 8, path_, ": GGUF file is truncated (", key, ": ", count,
            " strings at byte ", pos_, ", ", left(), " bytes left)");
      for (uint64_t i = 0; i < count; ++i) string("a string");
    } else {
      check(depth < kMaxArrayNesting, path_, ": ", key, ": arrays nested more than ",
            kMaxArrayNesting, " deep");
      check(count <= left() / 12, path_, ": GGUF file is truncated (", key, ": ", count,
            " arrays at byte ", pos_, ", ", left(), " bytes left)");
      for (uint64_t i = 0; i < count; ++i) {
        GgufType elem = type("an array type", key);
        skip_values(elem, read<uint64_t>("an array length"), key, depth + 1);
      }
    }
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

}  // namespace

const char* gguf_type_name(GgufType t) {
  static constexpr const char* kNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

namespace {

// Every ggml_type llama.cpp has defined and not retired (ggml.h's enum and
// ggml.c's type_traits): id, lower-case name, block size and bytes per block.
struct GgmlType {
  uint32_t id;
  const char* name;
  uint32_t block, bytes;
};
constexpr GgmlType kGgmlTypes[] = {
    {0, "f32", 1, 4},         {1, "f16", 1, 2},         {2, "q4_0", 32, 18},
    {3, "q4_1", 32, 20},      {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},
    {8, "q8_0", 32, 34},      {9, "q8_1", 32, 36},      {10, "q2_k", 256, 84},
    {11, "q3_k", 256, 110},   {12, "q4_k", 256, 144},   {13, "q5_k", 256, 176},
    {14, "q6_k", 256, 210},   {15, "q8_k", 256, 292},   {16, "iq2_xxs", 256, 66},
    {17, "iq2_xs", 256, 74},  {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},
    {20, "iq4_nl", 32, 18},   {21, "iq3_s", 256, 110},  {22, "iq2_s", 256, 82},
    {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1},         {25, "i16", 1, 2},
    {26, "i32", 1, 4},        {27, "i64", 1, 8},        {28, "f64", 1, 8},
    {29, "iq1_m", 256, 56},   {30, "bf16", 1, 2},       {34, "tq1_0", 256, 54},
    {35, "tq2_0", 256, 66},   {39, "mxfp4", 32, 17},
};

const GgmlType* ggml_type(uint32_t id) {
  for (const GgmlType& t : kGgmlTypes)
    if (t.id == id) return &t;
  return nullptr;
}

}  // namespace

bool ggml_type_size(uint32_t type, uint64_t* block, uint64_t* bytes) {
  const GgmlType* t = ggml_type(type);
  if (!t) return false;
  *block = t->block;
  *bytes = t->bytes;
  return true;
}

const char* ggml_type_name(uint32_t type) {
  const GgmlType* t = ggml_type(type);
  return t ? t->name : "unknown";
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufFile GgufFile::open(const std::string& path) {
  GgufFile f;
  f.path_ = path;
  f.map_ = MappedFile::open(path);
  const uint64_t size = f.map_->size();
  Reader r(f.map_->data(), size, path);

  check(size >= 4 && std::memcmp(f.map_->data(), "GGUF", 4) == 0, path,
        ": not a GGUF file (it does not start with \"GGUF\")");
  r.skip(4, "the magic");
  f.version_ = r.read<uint32_t>("the version");
  const uint32_t swapped = __builtin_bswap32(f.version_);
  check(swapped != 2 && swapped != 3, path, ": big-endian GGUF files are not supported");
  check(f.version_ == 2 || f.version_ == 3, path, ": unsupported GGUF version ", f.version_,
        " (2 and 3 are supported)");
  const uint64_t n_tensors = r.read<uint64_t>("the tensor count");
  const uint64_t n_kv = r.read<uint64_t>("the metadata count");
  check(n_kv <= r.left() / kMinKvBytes, path, ": GGUF header claims ", n_kv,
        " metadata entries, more than the file's ", size, " bytes can hold");
  check(n_tensors <= r.left() / kMinTensorBytes, path, ": GGUF header claims ", n_tensors,
        " tensors, more than the file's ", size, " bytes can hold");

  f.kvs_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    kv.key = r.string("a metadata key");
    kv.type = r.type("a metadata type", kv.key);
    if (kv.type == GgufType::Array) {
      kv.elem_type = r.type("an array type", kv.key);
      kv.count = r.read<uint64_t>("an array length");
      kv.offset = r.pos();
      r.skip_values(kv.elem_type, kv.count, kv.key, 1);
    } else {
      kv.offset = r.pos();
      r.skip_values(kv.type, 1, kv.key, 0);
    }
    check(f.kv_index_.emplace(kv.key, f.kvs_.size()).second, path, ": duplicate metadata key ",
          kv.key);
    f.kvs_.push_back(std::move(kv));
  }

  if (const GgufKv* a = f.find("general.alignment")) {
    check(is_integer(a->type), path, ": general.alignment is ", gguf_type_name(a->type),
          ", not an integer");
    const int64_t v = f.int_at(*a, a->type, a->offset);
    check(v > 0 && v <= (int64_t(1) << 31) && std::has_single_bit(uint64_t(v)), path,
          ": general.alignment ", v, " is not a power of two");
    f.alignment_ = uint64_t(v);
  }

  f.tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = r.string("a tensor name");
    const uint32_t n_dims = r.read<uint32_t>("a tensor's dimension count");
    check(n_dims <= kMaxDims, path, ": tensor ", t.name, " has ", n_dims, " dimensions (at most ",
          kMaxDims, ")");
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t n = r.read<int64_t>("a tensor dimension");
      check(n >= 0, path, ": tensor ", t.name, " has a negative dimension ", n);
      check(!__builtin_mul_overflow(numel, n, &numel), path, ": tensor ", t.name,
            " has too many elements");
      t.dims.push_back(n);
    }
    t.type = r.read<uint32_t>("a tensor type");
    t.offset = r.read<uint64_t>("a tensor offset");
    check(f.tensor_index_.emplace(t.name, f.tensors_.size()).second, path,
          ": duplicate tensor name ", t.name);
    uint64_t block, bytes;
    if (ggml_type_size(t.type, &block, &bytes)) {
      const int64_t row = t.dims.empty() ? 1 : t.dims[0];
      check(row % block == 0, path, ": tensor ", t.name, " has rows of ", row,
            " elements, not a multiple of its ggml type ", t.type, "'s block of ", block);
      uint64_t total;
      check(!__builtin_mul_overflow(uint64_t(numel) / block, bytes, &total), path, ": tensor ",
            t.name, " is too large");
      t.bytes = total;
    }
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment; a file
  // without tensors may end before it.
  const uint64_t end = r.pos();
  f.data_offset_ = end + (f.alignment_ - end % f.alignment_) % f.alignment_;
  if (f.tensors_.empty()) return f;
  check(f.data_offset_ <= size, path, ": GGUF file is truncated (tensor data would start at byte ",
        f.data_offset_, ", past its end at ", size, ")");
  const uint64_t data_size = size - f.data_offset_;
  for (const GgufTensorInfo& t : f.tensors_) {
    check(t.offset % f.alignment_ == 0, path, ": tensor ", t.name, " has offset ", t.offset,
          ", not a multiple of the alignment ", f.alignment_);
    const uint64_t bytes = t.bytes.value_or(0);
    check(t.offset <= data_size && bytes <= data_size - t.offset, path, ": tensor ", t.name, " (",
          bytes, " bytes at offset ", t.offset, ") runs past the end of the data section (",
          data_size, " bytes)");
  }
  // Tensors must not share bytes: one that reaches into the next has a type
  // or shape that does not match the data written for it.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo &a = *by_offset[i - 1], &b = *by_offset[i];
    const uint64_t bytes = a.bytes.value_or(0);
    check(a.offset + bytes <= b.offset, path, ": tensor ", a.name, " (", bytes, " bytes for ",
          ggml_type_name(a.type), " of ", a.numel(), " values at offset ", a.offset,
          ") overlaps tensor ", b.name, " at offset ", b.offset,
          ": its type and shape do not match its data");
  }
  return f;
}

const GgufKv* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufKv& GgufFile::require(std::string_view key, GgufType type, bool array) const {
  const GgufKv* kv = find(key);
  check(kv != nullptr, path_, ": metadata ", key, " is missing");
  const GgufType have = array ? kv->elem_type : kv->type;
  const bool is_array = kv->type == GgufType::Array;
  const bool ok =
      is_array == array && (have == type || (type == GgufType::I64 && is_integer(have)) ||
                            (type == GgufType::F64 && have == GgufType::F32));
  if (!ok) {
    fail(path_, ": metadata ", key, " is ", is_array ? "an array of " : "",
         gguf_type_name(is_array ? kv->elem_type : kv->type), ", not ", array ? "an array of " : "",
         type == GgufType::I64   ? "integer"
         : type == GgufType::F64 ? "float"
                                 : gguf_type_name(type));
  }
  return *kv;
}

int64_t GgufFile::int_at(const GgufKv& kv, GgufType type, uint64_t offset) const {
  const uint8_t* p = data() + offset;
  switch (type) {
    case GgufType::U8:
      return load<uint8_t>(p);
    case GgufType::I8:
      return load<int8_t>(p);
    case GgufType::U16:
      return load<uint16_t>(p);
    case GgufType::I16:
      return load<int16_t>(p);
    case GgufType::U32:
      return load<uint32_t>(p);
    case GgufType::I32:
      return load<int32_t>(p);
    case GgufType::I64:
      return load<int64_t>(p);
    default: {
      const uint64_t v = load<uint64_t>(p);
      check(v <= uint64_t(INT64_MAX), path_, ": metadata ", kv.key, " value ", v,
            " is out of range");
      return int64_t(v);
    }
  }
}

std::string_view GgufFile::get_string(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::String, false);
  const uint64_t n = load<uint64_t>(data() + kv.offset);
  return {reinterpret_cast<const char*>(data() + kv.offset + 8), n};
}

int64_t GgufFile::get_int(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::I64, false);
  return int_at(kv, kv.type, kv.offset);
}

double GgufFile::get_float(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::F64, false);
  return kv.type == GgufType::F32 ? load<float>(data() + kv.offset)
                                  : load<double>(data() + kv.offset);
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::Bool, false);
  const uint8_t v = data()[kv.offset];
  check(v <= 1, path_, ": metadata ", key, " is a bool with value ", int(v));
  return v == 1;
}

std::vector<std::string_view> GgufFile::get_string_array(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::String, true);
  std::vector<std::string_view> out;
  out.reserve(kv.count);  // checked against the file size by open()
  uint64_t at = kv.offset;
  for (uint64_t i = 0; i < kv.count; ++i) {
    const uint64_t n = load<uint64_t>(data() + at);
    out.emplace_back(reinterpret_cast<const char*>(data() + at + 8), n);
    at += 8 + n;
  }
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::I64, true);
  const uint64_t size = scalar_size(kv.elem_type);
  std::vector<int64_t> out(kv.count);
  for (uint64_t i = 0; i < kv.count; ++i) out[i] = int_at(kv, kv.elem_type, kv.offset + i * size);
  return out;
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
  const GgufKv& kv = require(key, GgufType::F64, true);
  std::vector<float> out(kv.count);
  for (uint64_t i = 0; i < kv.count; ++i) {
    out[i] = kv.elem_type == GgufType::F32 ? load<float>(data() + kv.offset + i * 4)
                                           : float(load<double>(data() + kv.offset + i * 8));
  }
  return out;
}

}  // namespace ss
