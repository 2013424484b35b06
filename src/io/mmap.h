// Read-only memory map of a whole file. Tensors loaded from a checkpoint point
// into one of these, so it is shared and lives as long as any TensorStore
// that holds it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ss {

class MappedFile {
 public:
  // Maps path; a one-line ss::Error "cannot open PATH: reason" on failure.
  // An empty file maps to data() == nullptr, size() == 0.
  static std::shared_ptr<MappedFile> open(const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  const uint8_t* data_;
  size_t size_;
};

}  // namespace ss
