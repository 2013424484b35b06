// Checkpoint loading: llama2.c and safetensors readers, the HF config parser,
// the safetensors writer, and the one-line errors for broken files.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/hf_config.h"
#include "io/llama2c.h"
#include "io/mmap.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "testutil.h"

namespace {

using nlohmann::json;
using ss::DType;
using ss::Tensor;
using Named = std::vector<std::pair<std::string, Tensor>>;

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A safetensors file from raw parts: header text as given, no padding.
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(uint64_t(header.size()) >> (8 * i));
  return out + header + data;
}

std::string llama2c_header(const std::vector<int32_t>& h) { return bytes_of(h); }

// Passes when f throws a one-line ss::Error containing every part.
testing::AssertionResult fails_with(const std::function<void()>& f,
                                    const std::vector<std::string>& parts) {
  std::string msg;
  try {
    f();
    return testing::AssertionFailure() << "no ss::Error thrown";
  } catch (const ss::Error& e) {
    msg = e.what();
  }
  if (msg.find('\n') != std::string::npos)
    return testing::AssertionFailure() << "not one line: " << msg;
  for (const std::string& p : parts)
    if (msg.find(p) == std::string::npos)
      return testing::AssertionFailure() << "'" << p << "' not in: " << msg;
  return testing::AssertionSuccess() << msg;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype == b.dtype && a.shape == b.shape &&
         (a.nbytes() == 0 || std::memcmp(a.data, b.data, a.nbytes()) == 0);
}

const float* row(const Tensor& t, int64_t r) {
  return static_cast<const float*>(t.data) + r * t.cols();
}

// The stories260K tensors of the HF copy, to rewrite into broken checkpoints.
struct HfCopy {
  ss::TensorStore store;
  Named tensors;
  json config;
  HfCopy() {
    ss::load_safetensors(sstest::kStoriesHf + "/model.safetensors", store);
    tensors = store.tensors;
    config = json::parse(sstest::slurp(sstest::kStoriesHf + "/config.json"));
  }
  Tensor* find(const std::string& name) {
    for (auto& [n, t] : tensors)
      if (n == name) return &t;
    return nullptr;
  }
  void erase(const std::string& name) {
    std::erase_if(tensors, [&](const auto& nt) { return nt.first == name; });
  }
  // Writes config.json + model.safetensors into a fresh directory.
  std::string save() const {
    std::string dir = sstest::temp_dir();
    sstest::spit(dir + "/config.json", config.dump(2));
    ss::save_safetensors(dir + "/model.safetensors", tensors);
    return dir;
  }
};

TEST(IoMappedFile, MapsWholeFile) {
  auto m = ss::MappedFile::open(sstest::kStoriesBin);
  ASSERT_EQ(m->size(), 1056540u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->data()), m->size()),
            sstest::slurp(sstest::kStoriesBin));

  const std::string empty = sstest::temp_dir() + "/empty";
  sstest::spit(empty, "");
  EXPECT_EQ(ss::MappedFile::open(empty)->size(), 0u);

  const std::string missing = sstest::temp_dir() + "/missing";
  EXPECT_TRUE(fails_with([&] { ss::MappedFile::open(missing); },
                         {"cannot open " + missing + ": No such file or directory"}));
  const std::string dir = sstest::temp_dir();
  EXPECT_TRUE(fails_with([&] { ss::MappedFile::open(dir); }, {"cannot open " + dir, "directory"}));
}

TEST(IoCheckpoint, StoriesConfigsAgree) {
  ss::Checkpoint bin = ss::load_checkpoint(sstest::kStoriesBin);
  ss::Checkpoint hf = ss::load_checkpoint(sstest::kStoriesHf);
  EXPECT_EQ(bin.format, "llama2c");
  EXPECT_EQ(hf.format, "safetensors");
  EXPECT_EQ(bin.path, sstest::kStoriesBin);
  for (const ss::Checkpoint* ck : {&bin, &hf}) {
    const ss::ModelConfig& c = ck->config;
    EXPECT_EQ(c.family, "llama");
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 172);
    EXPECT_EQ(c.n_layers, 5);
    EXPECT_EQ(c.n_heads, 8);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.head_dim, 8);
    EXPECT_EQ(c.kv_dim(), 32);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.max_seq_len, 512);
    EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_TRUE(c.tied_embeddings);
    EXPECT_EQ(c.bos_id, 1);
    EXPECT_EQ(c.eos_id, 2);
    EXPECT_EQ(ck->tensors.tensors.size(), 1u + 5 * 9 + 1);  // no lm_head: tied
    EXPECT_EQ(ck->tensors.find("lm_head.weight"), nullptr);
  }
  EXPECT_EQ(bin.config.rope_layout, ss::RopeLayout::Interleaved);
  EXPECT_EQ(hf.config.rope_layout, ss::RopeLayout::RotateHalf);
}

TEST(IoCheckpoint, Llama2cTensorsPointIntoTheFile) {
  ss::Checkpoint ck = ss::load_checkpoint(sstest::kStoriesBin);
  const std::string file = sstest::slurp(sstest::kStoriesBin);
  // Offsets computed independently of the loader: embeddings right after the
  // 28-byte header; the final norm after 5 layers of
  // 2*64 norms + 2*64*64 (q, o) + 2*32*64 (k, v) + 3*172*64 (ffn) floats.
  const Tensor& emb = ck.tensors.get("model.embed_tokens.weight", {512, 64});
  EXPECT_EQ(std::memcmp(emb.data, file.data() + 28, 512 * 64 * 4), 0);
  const Tensor& norm = ck.tensors.get("model.norm.weight", {64});
  const size_t norm_at =
      28 + 4 * (512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64));
  EXPECT_EQ(std::memcmp(norm.data, file.data() + norm_at, 64 * 4), 0);
  EXPECT_EQ(file.size(), norm_at + 4 * 64 + 2 * 4 * 512 * 4);  // then the two RoPE tables
  // Mapped, not copied: layer 0's attention norm follows the embeddings.
  EXPECT_EQ(ck.tensors.get("model.layers.0.input_layernorm.weight", {64}).data,
            static_cast<const char*>(emb.data) + 512 * 64 * 4);
  for (auto& [name, t] : ck.tensors.tensors) {
    EXPECT_EQ(t.dtype, DType::F32) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u) << name;
  }
}

TEST(IoCheckpoint, StoriesCopiesHoldTheSameWeights) {
  ss::Checkpoint bin = ss::load_checkpoint(sstest::kStoriesBin);
  ss::Checkpoint hf = ss::load_checkpoint(sstest::kStoriesHf);
  const int hd = bin.config.head_dim;
  int permuted = 0;
  for (auto& [name, b] : bin.tensors.tensors) {
    const Tensor* h = hf.tensors.find(name);
    ASSERT_NE(h, nullptr) << name;
    ASSERT_EQ(h->dtype, DType::F32) << name;
    ASSERT_EQ(h->shape, b.shape) << name;
    const bool q = name.ends_with("q_proj.weight"), k = name.ends_with("k_proj.weight");
    if (!q && !k) {
      EXPECT_TRUE(same_bytes(*h, b)) << name;
      continue;
    }
    // export.py: hf = w.view(heads, hd/2, 2, dim).transpose(1, 2), so HF row
    // (head, half j, i) is llama2.c row (head, pair i, j): 2i+j -> j*hd/2+i.
    const int heads = q ? bin.config.n_heads : bin.config.n_kv_heads;
    bool forward = true, inverse = true;
    for (int head = 0; head < heads; ++head)
      for (int i = 0; i < hd / 2; ++i)
        for (int j = 0; j < 2; ++j) {
          const int hf_row = head * hd + j * hd / 2 + i, l2c_row = head * hd + 2 * i + j;
          forward &= std::memcmp(row(*h, hf_row), row(b, l2c_row), 64 * 4) == 0;
          inverse &= std::memcmp(row(*h, l2c_row), row(b, hf_row), 64 * 4) == 0;
        }
    EXPECT_TRUE(forward) << name;
    EXPECT_FALSE(inverse) << name << ": the inverse permutation must not match";
    EXPECT_FALSE(same_bytes(*h, b)) << name;
    ++permuted;
  }
  EXPECT_EQ(permuted, 10);
}

TEST(IoCheckpoint, ShardedHfDirectoryLoads) {
  HfCopy src;
  const std::string dir = sstest::temp_dir();
  sstest::spit(dir + "/config.json", sstest::slurp(sstest::kStoriesHf + "/config.json"));
  Named first, second;
  json weight_map;
  for (auto& [name, t] : src.tensors) {
    const bool one = name.starts_with("model.layers.0.") || name.starts_with("model.layers.1.") ||
                     name == "model.embed_tokens.weight";
    (one ? first : second).emplace_back(name, t);
    weight_map[name] =
        one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  ss::save_safetensors(dir + "/model-00001-of-00002.safetensors", first);
  ss::save_safetensors(dir + "/model-00002-of-00002.safetensors", second);
  sstest::spit(dir + "/model.safetensors.index.json",
               json{{"metadata", {{"total_size", 1040128}}}, {"weight_map", weight_map}}.dump());

  ss::Checkpoint ck = ss::load_checkpoint(dir);
  EXPECT_EQ(ck.format, "safetensors");
  EXPECT_EQ(ck.tensors.tensors.size(), src.tensors.size());
  for (auto& [name, t] : src.tensors) {
    const Tensor* got = ck.tensors.find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_TRUE(same_bytes(*got, t)) << name;
  }
}

// Random tensors of every savable dtype, in an order that puts 2-byte data
// before 4-byte data, with odd sizes, a scalar and an empty tensor.
struct RandomTensors {
  std::vector<uint16_t> f16, bf16;
  std::vector<float> f32, scalar{-2.5f};
  Named named;
  RandomTensors() {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (int i = 0; i < 15; ++i) f16.push_back(ss::f32_to_f16(normal(rng)));
    f16.back() = 0x7c00;  // +inf
    for (int i = 0; i < 7; ++i) f32.push_back(normal(rng) * 1e3f);
    f32[0] = -0.0f;
    for (int i = 0; i < 6; ++i) bf16.push_back(ss::f32_to_bf16(normal(rng)));
    named = {{"a.f16", {DType::F16, {3, 5}, f16.data()}},
             {"b.f32", {DType::F32, {7}, f32.data()}},
             {"c.bf16", {DType::BF16, {2, 1, 3}, bf16.data()}},
             {"d.scalar", {DType::F32, {}, scalar.data()}},
             {"e.empty", {DType::F32, {0, 4}, nullptr}}};
  }
};

TEST(IoSafetensors, RoundTripIsExact) {
  RandomTensors r;
  const std::string path = sstest::temp_dir() + "/t.safetensors";
  sstest::spit(path, "old contents");
  ss::save_safetensors(path, r.named, {{"format", "pt"}, {"note", "a \"quoted\" value"}});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  ss::TensorStore store;
  ss::load_safetensors(path, store);
  ASSERT_EQ(store.tensors.size(), r.named.size());
  for (auto& [name, t] : r.named) {
    const Tensor* got = store.find(name);
    ASSERT_NE(got, nullptr) << name;
    EXPECT_TRUE(same_bytes(*got, t)) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(got->data) % ss::dtype_bytes(t.dtype, 1), 0u) << name;
  }
  EXPECT_EQ(ss::f16_to_f32(static_cast<const uint16_t*>(store.find("a.f16")->data)[14]), INFINITY);
  EXPECT_TRUE(std::signbit(static_cast<const float*>(store.find("b.f32")->data)[0]));

  // The header: padded to 8 bytes, metadata kept, f32 data placed first.
  const std::string file = sstest::slurp(path);
  uint64_t len = 0;
  std::memcpy(&len, file.data(), 8);
  EXPECT_EQ(len % 8, 0u);
  json header = json::parse(file.substr(8, len));
  EXPECT_EQ(header["__metadata__"], (json{{"format", "pt"}, {"note", "a \"quoted\" value"}}));
  EXPECT_EQ(header["b.f32"]["data_offsets"], (json{0, 28}));
  EXPECT_EQ(header["a.f16"]["dtype"], "F16");
  EXPECT_EQ(header["c.bf16"]["shape"], (json{2, 1, 3}));
  EXPECT_EQ(file.size(), 8 + len + 7 * 4 + 4 + 15 * 2 + 6 * 2);
}

TEST(IoSafetensors, SaveRejectsWhatItCannotWrite) {
  const std::string dir = sstest::temp_dir();
  float x = 1;
  EXPECT_TRUE(fails_with(
      [&] {
        ss::save_safetensors(dir + "/q.safetensors", {{"q", {DType::Q8_0, {32}, &x}}});
      },
      {"q.safetensors", "tensor q", "q8_0"}));
  EXPECT_TRUE(fails_with(
      [&] {
        ss::save_safetensors(dir + "/d.safetensors",
                             {{"w", {DType::F32, {1}, &x}}, {"w", {DType::F32, {1}, &x}}});
      },
      {"d.safetensors", "duplicate tensor name w"}));
  EXPECT_TRUE(fails_with(
      [&] { ss::save_safetensors(dir + "/no/such/dir/x.safetensors", {}); },
      {"cannot write " + dir + "/no/such/dir/x.safetensors.tmp", "No such file or directory"}));
  EXPECT_FALSE(std::filesystem::exists(dir + "/q.safetensors.tmp"));
}

TEST(IoSafetensors, MisalignedDataIsCopiedAligned) {
  // A writer that does not pad: the f32 data land 3 bytes past a 4-byte boundary.
  const std::string path = sstest::temp_dir() + "/m.safetensors";
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  while (header.size() % 4 != 1) header += ' ';
  const std::vector<float> w = {1.5f, -3.25f};
  sstest::spit(path, safetensors_bytes(header, "xx" + bytes_of(w)));
  ss::TensorStore store;
  ss::load_safetensors(path, store);
  const Tensor& t = store.get("w", {2});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 4, 0u);
  EXPECT_EQ(row(t, 0)[0], 1.5f);
  EXPECT_EQ(row(t, 0)[1], -3.25f);
}

TEST(IoSafetensors, ShardedDirectoryWithIndex) {
  RandomTensors r;
  const std::string dir = sstest::temp_dir();
  ss::save_safetensors(dir + "/s1.safetensors", {r.named[0], r.named[1]});
  ss::save_safetensors(dir + "/s2.safetensors", {r.named[2]});
  auto index = [&](json weight_map) {
    sstest::spit(dir + "/model.safetensors.index.json", json{{"weight_map", weight_map}}.dump());
  };
  index({{"a.f16", "s1.safetensors"}, {"b.f32", "s1.safetensors"}, {"c.bf16", "s2.safetensors"}});
  ss::TensorStore store;
  ss::load_safetensors_dir(dir, store);
  ASSERT_EQ(store.tensors.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(same_bytes(*store.find(r.named[i].first), r.named[i].second));

  const std::string idx = dir + "/model.safetensors.index.json";
  ss::TensorStore s2;
  index({{"a.f16", "s1.safetensors"}, {"b.f32", "s1.safetensors"}, {"c.bf16", "s3.safetensors"}});
  EXPECT_TRUE(fails_with([&] { ss::load_safetensors_dir(dir, s2); },
                         {idx, "shard s3.safetensors", "missing"}));
  index({{"a.f16", "s1.safetensors"}, {"b.f32", "s2.safetensors"}, {"c.bf16", "s2.safetensors"}});
  EXPECT_TRUE(fails_with([&] { ss::load_safetensors_dir(dir, s2); },
                         {dir + "/s1.safetensors", "tensor b.f32", "s2.safetensors"}));
  index({{"a.f16", "s1.safetensors"}, {"c.bf16", "s2.safetensors"}});
  EXPECT_TRUE(fails_with([&] { ss::load_safetensors_dir(dir, s2); },
                         {dir + "/s1.safetensors", "tensor b.f32", "not in"}));
  index({{"a.f16", "s1.safetensors"},
         {"b.f32", "s1.safetensors"},
         {"c.bf16", "s2.safetensors"},
         {"z", "s2.safetensors"}});
  EXPECT_TRUE(fails_with([&] { ss::load_safetensors_dir(dir, s2); },
                         {idx, "tensor z", "missing from shard s2.safetensors"}));
  sstest::spit(idx, "{\"weight_map\": ");
  EXPECT_TRUE(fails_with([&] { ss::load_safetensors_dir(dir, s2); }, {idx, "invalid JSON"}));
  EXPECT_TRUE(s2.tensors.empty());

  const std::string empty = sstest::temp_dir();
  EXPECT_TRUE(
      fails_with([&] { ss::load_safetensors_dir(empty, s2); }, {empty, "no model.safetensors"}));
}

TEST(IoSafetensors, CorruptFilesFailWithOneLine) {
  const std::string dir = sstest::temp_dir();
  int n = 0;
  // Loads a file with the given bytes; the expected parts get its path added.
  auto fails = [&](const std::string& bytes, std::vector<std::string> parts) {
    const std::string path = dir + "/" + std::to_string(n++) + ".safetensors";
    sstest::spit(path, bytes);
    parts.push_back(path + ": ");
    ss::TensorStore store;
    auto r = fails_with([&] { ss::load_safetensors(path, store); }, parts);
    EXPECT_TRUE(store.tensors.empty() && store.owners.empty());
    return r;
  };
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offs) {
    return R"({"w":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offs +
           "}}";
  };
  const std::string data8(8, '\0');

  EXPECT_TRUE(fails(std::string("\x05\0\0", 3), {"size 3 bytes, too small"}));
  EXPECT_TRUE(fails(std::string("\xe8\x03\0\0\0\0\0\0{}", 10), {"header length 1000", "10 bytes"}));
  EXPECT_TRUE(fails(std::string(8, '\xff') + "{}", {"header length 18446744073709551615"}));
  EXPECT_TRUE(fails(safetensors_bytes("{\"w\": {", data8), {"invalid JSON"}));
  EXPECT_TRUE(fails(safetensors_bytes("[1, 2]", data8), {"not a JSON object"}));
  EXPECT_TRUE(fails(safetensors_bytes(entry("F32", "[4]", "[0,16]"), data8),
                    {"tensor w", "data_offsets [0, 16] outside the data section of 8 bytes"}));
  EXPECT_TRUE(fails(safetensors_bytes(entry("F32", "[1]", "[8,4]"), data8), {"tensor w"}));
  EXPECT_TRUE(
      fails(safetensors_bytes(entry("F32", "[1]", "[-4,4]"), data8), {"tensor w", "data_offsets"}));
  EXPECT_TRUE(fails(safetensors_bytes(entry("F32", "[3]", "[0,8]"), data8),
                    {"tensor w", "shape [3] of F32 does not fit data_offsets [0, 8]"}));
  EXPECT_TRUE(fails(safetensors_bytes(entry("F16", "[4294967296,4294967296]", "[0,8]"), data8),
                    {"tensor w", "does not fit"}));
  EXPECT_TRUE(
      fails(safetensors_bytes(entry("F32", "[-2]", "[0,8]"), data8), {"tensor w", "negative"}));
  EXPECT_TRUE(fails(safetensors_bytes(entry("I64", "[1]", "[0,8]"), data8),
                    {"tensor w has unsupported dtype I64"}));
  EXPECT_TRUE(fails(safetensors_bytes(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", data8),
                    {"tensor w", "dtype"}));
  EXPECT_TRUE(fails(safetensors_bytes(R"({"w":[]})", data8), {"tensor w", "not an object"}));
}

TEST(IoLlama2c, TinyUnsharedAndSharedFiles) {
  // dim 16, hidden 24, 2 layers, 4 heads of 4, 2 kv heads, vocab 10, seq 6.
  for (const bool shared : {true, false}) {
    std::vector<int32_t> h = {16, 24, 2, 4, 2, shared ? 10 : -10, 6};
    const int64_t floats = 10 * 16 + 2 * (2 * 16 + 2 * 16 * 16 + 2 * 8 * 16 + 3 * 24 * 16) + 16 +
                           6 * 2 * 2 + (shared ? 0 : 10 * 16);
    std::vector<float> w(floats);
    for (size_t i = 0; i < w.size(); ++i) w[i] = float(i);
    const std::string path = sstest::temp_dir() + "/tiny.bin";
    sstest::spit(path, llama2c_header(h) + bytes_of(w));
    ss::Checkpoint ck = ss::load_checkpoint(path);
    EXPECT_EQ(ck.config.tied_embeddings, shared);
    EXPECT_EQ(ck.config.vocab_size, 10);
    EXPECT_EQ(ck.config.head_dim, 4);
    EXPECT_EQ(ck.config.kv_dim(), 8);
    EXPECT_EQ(ck.config.max_seq_len, 6);
    EXPECT_EQ(row(ck.tensors.get("model.layers.0.input_layernorm.weight", {16}), 0)[0], 160.0f);
    EXPECT_EQ(row(ck.tensors.get("model.layers.1.input_layernorm.weight", {16}), 0)[0], 176.0f);
    // wq of 2 layers follows 2 norms; wk layer 1 follows both wq and wk layer 0.
    EXPECT_EQ(row(ck.tensors.get("model.layers.0.self_attn.q_proj.weight", {16, 16}), 0)[0],
              192.0f);
    EXPECT_EQ(row(ck.tensors.get("model.layers.1.self_attn.k_proj.weight", {8, 16}), 1)[0],
              float(192 + 2 * 256 + 128 + 16));
    EXPECT_EQ(row(ck.tensors.get("model.layers.1.mlp.up_proj.weight", {24, 16}), 23)[15],
              float(floats - 1 - 16 - 24 - (shared ? 0 : 160)));
    const Tensor* lm = ck.tensors.find("lm_head.weight");
    if (shared) {
      EXPECT_EQ(lm, nullptr);
    } else {
      ASSERT_NE(lm, nullptr);
      EXPECT_EQ(lm->shape, (std::vector<int64_t>{10, 16}));
      EXPECT_EQ(row(*lm, 0)[0], float(floats - 160));
    }
  }
}

TEST(IoLlama2c, CorruptFilesFailWithOneLine) {
  const std::string dir = sstest::temp_dir();
  const std::string stories = sstest::slurp(sstest::kStoriesBin);
  int n = 0;
  auto fails = [&](const std::string& bytes, std::vector<std::string> parts) {
    const std::string path = dir + "/" + std::to_string(n++) + ".bin";
    sstest::spit(path, bytes);
    parts.push_back(path + ": ");
    return fails_with([&] { ss::load_checkpoint(path); }, parts);
  };
  const std::string desc =
      "(dim=64, hidden_dim=172, n_layers=5, n_heads=8, n_kv_heads=4, vocab_size=512, seq_len=512)";
  EXPECT_TRUE(
      fails(stories.substr(0, 1000), {"size 1000 bytes, expected 1056540 for the header " + desc}));
  EXPECT_TRUE(fails(stories + "abcd", {"size 1056544 bytes, expected 1056540"}));
  EXPECT_TRUE(fails(stories.substr(0, 20), {"size 20 bytes, too small for a llama2.c header"}));
  EXPECT_TRUE(fails("", {"size 0 bytes, too small"}));
  EXPECT_TRUE(fails(llama2c_header({0, 172, 5, 8, 4, 512, 512}), {"dim=0", "positive"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, -8, 4, 512, 512}), {"n_heads=-8", "positive"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, 8, 4, 0, 512}), {"vocab_size=0", "positive"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, 8, 4, INT32_MIN, 512}), {"implausibly large"}));
  EXPECT_TRUE(fails(llama2c_header({INT32_MAX, INT32_MAX, INT32_MAX, 1, 1, 512, 512}),
                    {"implausibly large"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, 7, 7, 512, 512}), {"n_heads=7", "divide dim"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, 64, 4, 512, 512}), {"heads of even size"}));
  EXPECT_TRUE(fails(llama2c_header({64, 172, 5, 8, 3, 512, 512}), {"n_kv_heads must divide"}));
  EXPECT_TRUE(fails("GGUF" + std::string(100, '\0'), {"unsupported GGUF version 0"}));

  const std::string missing = dir + "/nothing-here.bin";
  EXPECT_TRUE(fails_with([&] { ss::load_checkpoint(missing); }, {"cannot open model " + missing}));
}

TEST(IoHfConfig, DefaultsAndVariants) {
  const std::string dir = sstest::temp_dir();
  json base = json::parse(sstest::slurp(sstest::kStoriesHf + "/config.json"));
  auto parse = [&](const json& j) {
    sstest::spit(dir + "/config.json", j.dump());
    return ss::parse_hf_config(dir + "/config.json");
  };
  json j = base;
  for (const char* k : {"num_key_value_heads", "rope_theta", "tie_word_embeddings", "hidden_act",
                        "bos_token_id", "architectures"})
    j.erase(k);
  j["eos_token_id"] = {7, 2};
  j["rope_scaling"] = nullptr;
  ss::ModelConfig c = parse(j);
  EXPECT_EQ(c.n_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 7);
  EXPECT_EQ(c.rope_layout, ss::RopeLayout::RotateHalf);

  j = base;
  j.erase("model_type");
  j["head_dim"] = 16;
  j["rope_theta"] = 500000;
  c = parse(j);
  EXPECT_EQ(c.family, "llama");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.rope_theta, 500000.0);
}

TEST(IoHfConfig, BadConfigsFailWithOneLine) {
  const std::string dir = sstest::temp_dir();
  const std::string path = dir + "/config.json";
  const json base = json::parse(sstest::slurp(sstest::kStoriesHf + "/config.json"));
  auto fails = [&](const std::function<void(json&)>& edit, std::vector<std::string> parts) {
    json j = base;
    edit(j);
    sstest::spit(path, j.dump());
    parts.push_back(path + ": ");
    return fails_with([&] { ss::parse_hf_config(path); }, parts);
  };
  EXPECT_TRUE(fails([](json& j) { j.erase("hidden_size"); }, {"missing field hidden_size"}));
  EXPECT_TRUE(fails([](json& j) { j.erase("rms_norm_eps"); }, {"missing field rms_norm_eps"}));
  EXPECT_TRUE(fails([](json& j) { j["num_hidden_layers"] = nullptr; },
                    {"missing field num_hidden_layers"}));
  EXPECT_TRUE(fails([](json& j) { j["hidden_size"] = "64"; },
                    {"field hidden_size must be an integer, not string"}));
  EXPECT_TRUE(fails([](json& j) { j["intermediate_size"] = 172.5; },
                    {"field intermediate_size must be an integer"}));
  EXPECT_TRUE(fails([](json& j) { j["vocab_size"] = 1LL << 40; }, {"vocab_size is out of range"}));
  EXPECT_TRUE(fails([](json& j) { j["tie_word_embeddings"] = 1; },
                    {"tie_word_embeddings must be a boolean"}));
  EXPECT_TRUE(fails([](json& j) { j["eos_token_id"] = json::array(); }, {"eos_token_id"}));
  EXPECT_TRUE(fails(
      [](json& j) {
        j["model_type"] = "gptj";
        j["architectures"] = json::array({"GPTJForCausalLM"});
      },
      {"unsupported architecture 'gptj' (supported: llama, mistral, qwen2, gpt_neox, falcon, "
       "mpt, bloom, gpt2, gemma3_text, sinkstream)"}));
  EXPECT_TRUE(fails(
      [](json& j) {
        j.erase("model_type");
        j["architectures"] = json::array({"GPTJForCausalLM"});
      },
      {"unsupported architecture 'GPTJForCausalLM'"}));
  EXPECT_TRUE(
      fails([](json& j) { j["architectures"] = json::array({"LlamaForSequenceClassification"}); },
            {"architecture class 'LlamaForSequenceClassification' is not a causal LM"}));
  EXPECT_TRUE(fails(
      [](json& j) {
        j.erase("model_type");
        j.erase("architectures");
      },
      {"missing field model_type"}));
  EXPECT_TRUE(
      fails([](json& j) { j["hidden_act"] = "mish"; }, {"activation 'mish' is not supported"}));
  EXPECT_TRUE(fails(
      [](json& j) {
        j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
      },
      {"rope_scaling is not supported"}));
  EXPECT_TRUE(fails([](json& j) { j["attention_bias"] = true; }, {"attention_bias"}));
  EXPECT_TRUE(fails([](json& j) { j["num_attention_heads"] = 7; },
                    {"hidden size (64) is not a multiple of the head count (7)"}));
  EXPECT_TRUE(fails([](json& j) { j["num_key_value_heads"] = 3; }, {"n_kv_heads (3)"}));
  EXPECT_TRUE(fails([](json& j) { j["max_position_embeddings"] = 0; }, {"max_seq_len"}));

  sstest::spit(path, "{\"hidden_size\": 64,\n  \"vocab_size\": 5\n");
  EXPECT_TRUE(fails_with([&] { ss::parse_hf_config(path); },
                         {path + ": invalid JSON: parse error at line 3"}));
  sstest::spit(path, "");
  EXPECT_TRUE(fails_with([&] { ss::parse_hf_config(path); }, {path + ": invalid JSON"}));
  sstest::spit(path, "[]");
  EXPECT_TRUE(fails_with([&] { ss::parse_hf_config(path); }, {path + ": not a JSON object"}));
  EXPECT_TRUE(fails_with([&] { ss::parse_hf_config(dir + "/none.json"); },
                         {"cannot open " + dir + "/none.json"}));
}

TEST(IoCheckpoint, MissingAndMisshapedTensors) {
  {
    HfCopy c;
    c.erase("model.layers.3.mlp.up_proj.weight");
    const std::string dir = c.save();
    EXPECT_TRUE(fails_with([&] { ss::Model m(ss::load_checkpoint(dir)); },
                           {dir + ": ", "missing tensor model.layers.3.mlp.up_proj.weight"}));
  }
  {
    HfCopy c;
    c.find("model.norm.weight")->shape = {32};
    const std::string dir = c.save();
    EXPECT_TRUE(fails_with([&] { ss::Model m(ss::load_checkpoint(dir)); },
                           {dir + ": ", "model.norm.weight", "[32]", "[64]"}));
  }
  {
    HfCopy c;
    c.find("model.layers.2.self_attn.k_proj.weight")->shape = {64, 32};
    const std::string dir = c.save();
    EXPECT_TRUE(fails_with([&] { ss::Model m(ss::load_checkpoint(dir)); },
                           {"model.layers.2.self_attn.k_proj.weight", "[64,32]", "[32,64]"}));
  }
  {
    // Untied: lm_head.weight is required, and used when present.
    HfCopy c;
    c.config["tie_word_embeddings"] = false;
    std::string dir = c.save();
    EXPECT_TRUE(fails_with([&] { ss::Model m(ss::load_checkpoint(dir)); },
                           {dir + ": ", "missing tensor lm_head.weight"}));
    c.tensors.emplace_back("lm_head.weight", *c.find("model.embed_tokens.weight"));
    dir = c.save();
    ss::Checkpoint ck = ss::load_checkpoint(dir);
    EXPECT_FALSE(ck.config.tied_embeddings);
    EXPECT_TRUE(same_bytes(ck.tensors.get("lm_head.weight", {512, 64}),
                           ck.tensors.get("model.embed_tokens.weight", {512, 64})));
  }
  {
    HfCopy c;
    c.config["vocab_size"] = 500;
    const std::string dir = c.save();
    EXPECT_TRUE(fails_with([&] { ss::Model m(ss::load_checkpoint(dir)); },
                           {"model.embed_tokens.weight", "[512,64]", "[500,64]"}));
  }
  const std::string no_config = sstest::temp_dir();
  EXPECT_TRUE(fails_with([&] { ss::load_checkpoint(no_config); }, {no_config, "config.json"}));
  HfCopy c;
  const std::string no_weights = c.save();
  std::filesystem::remove(no_weights + "/model.safetensors");
  EXPECT_TRUE(
      fails_with([&] { ss::load_checkpoint(no_weights); }, {no_weights, "no model.safetensors"}));
}

}  // namespace
