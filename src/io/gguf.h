// GGUF files (ggml / llama.cpp), versions 2 and 3, little-endian: the "GGUF"
// magic, a version, tensor and key-value counts, typed key-value metadata,
// tensor infos, then the tensor data at the next multiple of general.alignment
// (default 32). open() checks every length and offset against the file before
// using it; any problem is a one-line ss::Error naming the file.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/mmap.h"

namespace ss {

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata entry; its value stays in the mapped file.
struct GgufKv {
  std::string key;
  GgufType type;
  GgufType elem_type = GgufType::U8;  // arrays: type of the elements
  uint64_t count = 1;                 // arrays: number of elements
  uint64_t offset = 0;                // file offset of the value (arrays: of the first element)
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;      // as stored: dims[0] varies fastest
  uint32_t type;                  // ggml_type (0 F32, 1 F16, 8 Q8_0, 30 BF16, ...)
  uint64_t offset;                // from GgufFile::data_offset(), a multiple of the alignment
  std::optional<uint64_t> bytes;  // nullopt for a ggml_type this reader has no size for
  int64_t numel() const;
};

// Block size (elements) and bytes per block of a ggml_type; false when unknown.
bool ggml_type_size(uint32_t type, uint64_t* block, uint64_t* bytes);
// The lower-case name of a ggml_type ("q4_k"), "unknown" for an id ggml does not define.
const char* ggml_type_name(uint32_t type);

class GgufFile {
 public:
  // Maps and parses path.
  static GgufFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }

  const std::vector<GgufKv>& metadata() const { return kvs_; }
  const GgufKv* find(std::string_view key) const;  // nullptr when absent
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed values. A missing key, or one of another type, is a one-line
  // ss::Error naming the file and key. The integer forms accept every
  // integer type (values must fit int64_t), the float forms F32 and F64.
  // Strings are views into the mapped file: they live as long as mapping().
  std::string_view get_string(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  std::vector<int64_t> get_int_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;  // nullptr when absent
  uint64_t alignment() const { return alignment_; }
  // File offset of the tensor data section.
  uint64_t data_offset() const { return data_offset_; }
  // The mapped file; tensor t's bytes start at data() + data_offset() + t.offset.
  const uint8_t* data() const { return map_->data(); }
  const std::shared_ptr<MappedFile>& mapping() const { return map_; }

 private:
  GgufFile() = default;
  const GgufKv& require(std::string_view key, GgufType type, bool array) const;
  int64_t int_at(const GgufKv& kv, GgufType type, uint64_t offset) const;

  std::string path_;
  std::shared_ptr<MappedFile> map_;
  uint32_t version_ = 0;
  std::vector<GgufKv> kvs_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
};

}  // namespace ss
