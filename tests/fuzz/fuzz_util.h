// What the fuzz targets share. The loaders take paths, so every execution
// writes its input as files into a directory of this process's own under
// /dev/shm (a RAM disk), overwritten each time. An input of several files is
// split at kSeparator. An ss::Error is the expected refusal of bad input;
// any other exception escapes LLVMFuzzerTestOneInput and is a crash.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/policy.h"
#include "core/error.h"
#include "model/model.h"
#include "model/stream.h"
#include "ops/backend.h"
#include "tokenizer/tokenizer.h"

namespace fuzz {

inline constexpr std::string_view kSeparator = "\n#--8<--#\n";

// The input's parts, at most max_parts (the last one keeps any further separators).
inline std::vector<std::string_view> split(const uint8_t* data, size_t size, size_t max_parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

// This process's scratch directory, removed at exit (by an exit handler, so
// the name is never destroyed: static destructors run before the handler).
inline const std::string& dir() {
  static const std::string* d = [] {
    auto* path = new std::string("/dev/shm/sinkstream-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(*path);
    std::atexit([] { std::filesystem::remove_all(*d); });
    return path;
  }();
  return *d;
}

// Writes bytes to dir()/name and returns the path.
inline std::string put(const std::string& name, std::string_view bytes) {
  const std::string path = dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0)
    std::abort();  // the RAM disk is full: not the input's fault, stop loudly
  return path;
}

inline void remove(const std::string& name) { std::filesystem::remove(dir() + "/" + name); }

// Runs f; an ss::Error (the one-line refusal) is fine.
template <typename F>
void refusing(F&& f) {
  try {
    f();
  } catch (const ss::Error&) {
  }
}

// A model that loaded runs: three tokens through a sink cache, logits finite
// or not (weights from a file may be anything), but no crash.
inline void run_model(std::shared_ptr<const ss::Model> model) {
  const int vocab = model->config().vocab_size;
  auto backend = ss::make_cpu_backend();
  ss::Stream stream(std::move(model), *backend, ss::CachePolicy::make("sinks", 1, 2));
  const int ids[3] = {0, vocab / 2, vocab - 1};
  std::vector<float> logits(size_t(vocab) * 3);
  stream.feed(ids, 3, logits.data(), true);
}

// A tokenizer that loaded encodes text (an ss::Error when it is not UTF-8)
// and decodes what it produced and every id near the ends of its vocabulary.
inline void run_tokenizer(const ss::Tokenizer& tok, std::string_view text) {
  const int n = tok.vocab_size();
  for (int id = 0; id < n && id < 64; ++id) tok.decode(id > 0 ? id - 1 : tok.bos_id(), id);
  for (int id = n - 1; id >= 64 && id >= n - 64; --id) tok.decode(id - 1, id);
  refusing([&] {
    int prev = tok.bos_id();
    for (const int id : tok.encode(text, true)) {
      if (id < 0 || id >= n) std::abort();  // an id outside the vocabulary
      tok.decode(prev, id);
      prev = id;
    }
    tok.encode_special(text, true, true);
  });
}

}  // namespace fuzz
