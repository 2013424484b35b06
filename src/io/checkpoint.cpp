#include "io/checkpoint.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/gguf_model.h"
#include "io/hf_config.h"
#include "io/hf_tensors.h"
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
    canonicalize_hf_tensors(ck.config, ck.tensors, path);
    ck.format = "safetensors";
  } else {
    char magic[4] = {};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    ck = std::memcmp(magic, "GGUF", 4) == 0 ? load_gguf(path) : load_llama2c(path);
  }
  return ck;
}

}  // namespace ss
