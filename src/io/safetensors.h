// Safetensors files: an 8-byte little-endian header length, a JSON header that
// maps tensor names to {dtype, shape, data_offsets}, then the data section.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ss {

// Adds the F32/F16/BF16 tensors of file to store. They point into a memory map
// that store.owners keeps alive. Any problem is a one-line ss::Error naming
// the file (and the tensor); store is unchanged then.
void load_safetensors(const std::string& file, TensorStore& store);

// Loads dir/model.safetensors, or the shards that
// dir/model.safetensors.index.json lists in its weight_map.
void load_safetensors_dir(const std::string& dir, TensorStore& store);

// Writes F32/F16/BF16 tensors and string metadata to path atomically: path.tmp
// is written and fsynced, then renamed over path. The header is padded to
// 8 bytes and wider dtypes come first in the data, so every tensor is aligned
// to its element size when mapped.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace ss
