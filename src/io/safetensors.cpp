#include "io/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "io/mmap.h"

namespace ss {
namespace {

using nlohmann::json;

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

constexpr std::pair<const char*, DType> kDtypes[] = {
    {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}};

// Sets *t to the DType named s; false when it is not one we read.
bool parse_dtype(const std::string& s, DType* t) {
  for (auto [name, dtype] : kDtypes) {
    if (s == name) {
      *t = dtype;
      return true;
    }
  }
  return false;
}

// The safetensors name of t, or nullptr when the format has none.
const char* safetensors_dtype(DType t) {
  for (auto [name, dtype] : kDtypes)
    if (t == dtype) return name;
  return nullptr;
}

// One header entry checked against a data section of data_size bytes.
Tensor parse_entry(const std::string& file, const std::string& name, const json& v,
                   const uint8_t* data, uint64_t data_size) {
  const std::string where = file + ": tensor " + name;
  check(v.is_object(), where, ": header entry is not an object");
  auto dt = v.find("dtype");
  check(dt != v.end() && dt->is_string(), where, ": dtype is missing or not a string");
  Tensor t;
  if (!parse_dtype(dt->get<std::string>(), &t.dtype))
    fail(where, " has unsupported dtype ", dt->get<std::string>());

  auto sh = v.find("shape");
  check(sh != v.end() && sh->is_array(), where, ": shape is missing or not an array");
  int64_t numel = 1;
  bool overflow = false;
  for (const json& d : *sh) {
    check(d.is_number_integer(), where, ": shape holds a non-integer");
    check(d.is_number_unsigned(), where, ": shape has a negative dimension");
    check(d.get<uint64_t>() <= uint64_t(INT64_MAX), where, ": shape dimension too large");
    t.shape.push_back(d.get<int64_t>());
    overflow |= __builtin_mul_overflow(numel, t.shape.back(), &numel);
  }

  auto off = v.find("data_offsets");
  check(off != v.end() && off->is_array() && off->size() == 2 && (*off)[0].is_number_unsigned() &&
            (*off)[1].is_number_unsigned(),
        where, ": data_offsets must be two non-negative integers");
  const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
  check(begin <= end && end <= data_size, where, ": data_offsets [", begin, ", ", end,
        "] outside the data section of ", data_size, " bytes");
  const uint64_t esize = dtype_bytes(t.dtype, 1);
  check(!overflow && (end - begin) % esize == 0 && uint64_t(numel) == (end - begin) / esize, where,
        ": shape ", t.shape_str(), " of ", dt->get<std::string>(), " does not fit data_offsets [",
        begin, ", ", end, "]");
  t.data = data + begin;
  return t;
}

}  // namespace

void load_safetensors(const std::string& file, TensorStore& store) {
  auto map = MappedFile::open(file);
  const uint64_t size = map->size();
  check(size >= 8, file, ": size ", size, " bytes, too small for a safetensors header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | map->data()[i];
  check(header_len <= size - 8, file, ": header length ", header_len,
        " runs past the end of the file (", size, " bytes)");

  const char* text = reinterpret_cast<const char*>(map->data() + 8);
  const json header = parse_json({text, header_len}, file + ": header");
  check(header.is_object(), file, ": header is not a JSON object");

  const uint8_t* data = map->data() + 8 + header_len;
  TensorStore loaded;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    check(store.find(name) == nullptr, file, ": duplicate tensor ", name);
    Tensor t = parse_entry(file, name, v, data, size - 8 - header_len);
    // Writers that do not pad can leave data misaligned; such tensors get a copy.
    if (t.nbytes() > 0 && reinterpret_cast<uintptr_t>(t.data) % dtype_bytes(t.dtype, 1) != 0) {
      auto copy = std::make_shared<std::vector<uint32_t>>((t.nbytes() + 3) / 4);
      std::memcpy(copy->data(), t.data, t.nbytes());
      t.data = copy->data();
      loaded.owners.push_back(std::move(copy));
    }
    loaded.tensors.emplace_back(name, std::move(t));
  }
  loaded.owners.push_back(std::move(map));
  for (auto& nt : loaded.tensors) store.tensors.push_back(std::move(nt));
  for (auto& o : loaded.owners) store.owners.push_back(std::move(o));
}

void load_safetensors_dir(const std::string& dir, TensorStore& store) {
  const std::string single = dir + "/model.safetensors";
  const std::string index_path = dir + "/model.safetensors.index.json";
  if (exists(single)) {
    load_safetensors(single, store);
    return;
  }
  check(exists(index_path), dir, ": no model.safetensors or model.safetensors.index.json");

  auto map = MappedFile::open(index_path);
  const char* text = reinterpret_cast<const char*>(map->data());
  const json index = parse_json({text, map->size()}, index_path);
  auto wm = index.find("weight_map");
  check(index.is_object() && wm != index.end() && wm->is_object() && !wm->empty(), index_path,
        ": weight_map is missing, empty or not an object");
  std::vector<std::string> shards;
  for (auto& [name, shard] : wm->items()) {
    check(shard.is_string(), index_path, ": weight_map entry for ", name, " is not a string");
    const std::string s = shard.get<std::string>();
    if (std::find(shards.begin(), shards.end(), s) != shards.end()) continue;
    check(exists(dir + "/" + s), index_path, ": shard ", s, " (named for tensor ", name,
          ") is missing");
    shards.push_back(s);
  }

  TensorStore loaded;
  for (const std::string& shard : shards) {
    const std::string file = dir + "/" + shard;
    const size_t first = loaded.tensors.size();
    load_safetensors(file, loaded);
    for (size_t i = first; i < loaded.tensors.size(); ++i) {
      const std::string& name = loaded.tensors[i].first;
      auto it = wm->find(name);
      check(it != wm->end(), file, ": tensor ", name, " is not in ", index_path);
      check(*it == shard, file, ": tensor ", name, " belongs in ", it->get<std::string>(),
            " according to ", index_path);
    }
  }
  for (auto& [name, shard] : wm->items())
    check(loaded.find(name) != nullptr, index_path, ": tensor ", name, " is missing from shard ",
          shard.get<std::string>());
  for (auto& nt : loaded.tensors)
    check(store.find(nt.first) == nullptr, index_path, ": duplicate tensor ", nt.first);
  for (auto& nt : loaded.tensors) store.tensors.push_back(std::move(nt));
  for (auto& o : loaded.owners) store.owners.push_back(std::move(o));
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Wider elements first: then no tensor starts off its element alignment.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_bytes(tensors[a].second.dtype, 1) > dtype_bytes(tensors[b].second.dtype, 1);
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    check(name != "__metadata__" && !header.contains(name), path, ": duplicate tensor name ", name);
    const char* dt = safetensors_dtype(t.dtype);
    check(dt != nullptr, path, ": tensor ", name, ": cannot save dtype ", dtype_name(t.dtype));
    check(std::all_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d >= 0; }), path,
          ": tensor ", name, " has a negative dimension");
    check(t.data != nullptr || t.numel() == 0, path, ": tensor ", name, " has no data");
    header[name] = {
        {"dtype", dt}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));

  std::vector<Bytes> parts = {{len, 8}, {text.data(), text.size()}};
  for (size_t i : order) parts.push_back({tensors[i].second.data, tensors[i].second.nbytes()});
  write_file_atomic(path, parts);
}

}  // namespace ss
