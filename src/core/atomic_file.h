// Crash-safe file writes: nothing already on disk is lost if the process dies
// mid-write.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ss {

// Writes the parts, in order, to path.tmp, fsyncs it, renames it over path
// and fsyncs the directory. One-line ss::Error on failure; path is untouched then.
struct Bytes {
  const void* data;
  size_t size;
};
void write_file_atomic(const std::string& path, const std::vector<Bytes>& parts);
void write_file_atomic(const std::string& path, std::string_view text);

// fsyncs a directory, so that renames inside it survive a crash.
void sync_dir(const std::string& dir);

}  // namespace ss
