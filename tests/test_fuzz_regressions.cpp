// The fuzz targets in every build: each input under tests/fuzz/regressions/
// (inputs that once crashed a target, or that a review found) replays through
// its target's code (tests/fuzz/targets.h), and the seeds in
// tests/fuzz/corpus/ load cleanly, so the fuzzers start from valid files.
// Plus the 1e999 sites by hand: a JSON number too large for a double in
// config.json, a safetensors header, a safetensors index and a request body
// is a one-line error (400 in the server), never a crash.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "core/dtype.h"
#include "fuzz/targets.h"
#include "gtest/gtest.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "serve/request.h"
#include "testutil.h"

namespace {

namespace fs = std::filesystem;
using sstest::error_of;
using sstest::slurp;
using sstest::spit;

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// The parts of a seed, as the target splits them.
std::vector<std::string> parts(const std::string& file, size_t max_parts) {
  const std::string bytes = slurp(file);
  std::vector<std::string> out;
  for (auto p :
       fuzz::split(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), max_parts))
    out.emplace_back(p);
  return out;
}

TEST(FuzzRegressions, EveryCrashInputReplaysAsAnErrorOrALoad) {
  const std::map<std::string, void (*)(const uint8_t*, size_t)> targets = {
      {"fuzz_gguf", fuzz::gguf},
      {"fuzz_safetensors", fuzz::safetensors},
      {"fuzz_llama2c", fuzz::llama2c},
      {"fuzz_tokenizer_json", fuzz::tokenizer_json},
      {"fuzz_request", fuzz::request}};
  size_t replayed = 0;
  for (const auto& dir : fs::directory_iterator(sstest::repo("tests/fuzz/regressions"))) {
    const std::string name = dir.path().filename().string();
    const auto target = targets.find(name);
    ASSERT_NE(target, targets.end()) << "no fuzz target " << name;
    for (const std::string& f : files_in(dir.path().string())) {
      SCOPED_TRACE(f);
      const std::string bytes = slurp(f);
      EXPECT_NO_THROW(target->second(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 7u);
}

TEST(FuzzCorpus, SeedsAreValidFiles) {
  const std::string corpus = sstest::repo("tests/fuzz/corpus/");
  for (const char* f : {"byte_f32.gguf", "spm_q8_0.gguf"}) {
    SCOPED_TRACE(f);
    fuzz::run_model(
        std::make_shared<const ss::Model>(ss::load_checkpoint(corpus + "fuzz_gguf/" + f)));
  }
  EXPECT_EQ(ss::load_tokenizer(corpus + "fuzz_gguf/spm_q8_0.gguf")->vocab_size(), 512);
  const auto bpe = ss::load_tokenizer(corpus + "fuzz_gguf/bpe_vocab.gguf");
  EXPECT_EQ(bpe->encode("the cat 123", false), (std::vector<int>{'t', 259, 258, ' ', 264}));
  for (const std::string& f : files_in(corpus + "fuzz_llama2c")) {
    SCOPED_TRACE(f);
    const auto p = parts(f, 2);
    ASSERT_EQ(p.size(), 2u);
    const std::string d = sstest::temp_dir();
    spit(d + "/model.bin", p[0]);
    spit(d + "/tok.bin", p[1]);
    fuzz::run_model(std::make_shared<const ss::Model>(ss::load_checkpoint(d + "/model.bin")));
    EXPECT_EQ(ss::load_tokenizer(d + "/tok.bin")->encode("Once upon a time", false).size(), 4u);
  }
  for (const std::string& f : files_in(corpus + "fuzz_safetensors")) {
    SCOPED_TRACE(f);
    const auto p = parts(f, 3);
    ASSERT_GE(p.size(), 2u);
    if (p[1].empty()) continue;  // config_only: config.json alone
    const std::string d = sstest::temp_dir();
    spit(d + "/config.json", p[0]);
    if (p.size() == 3) {
      spit(d + "/model-00001-of-00001.safetensors", p[1]);
      spit(d + "/model.safetensors.index.json", p[2]);
    } else {
      spit(d + "/model.safetensors", p[1]);
    }
    fuzz::run_model(std::make_shared<const ss::Model>(ss::load_checkpoint(d)));
  }
  for (const std::string& f : files_in(corpus + "fuzz_tokenizer_json")) {
    SCOPED_TRACE(f);
    const auto p = parts(f, 3);
    ASSERT_GE(p.size(), 2u);
    const std::string d = sstest::temp_dir();
    spit(d + "/tokenizer.json", p[0]);
    if (p.size() == 3) spit(d + "/tokenizer_config.json", p[2]);
    auto tok = ss::load_tokenizer(d + "/tokenizer.json");
    EXPECT_EQ(tok->encode("the cat", false), (std::vector<int>{'t', 259, 258}));  // he, " cat"
    EXPECT_GT(tok->encode(p[1], false).size(), 10u);
  }
}

// fuzz_gguf found it (regressions/fuzz_gguf/nan_activation_quantised): a GGUF
// whose embedding holds a NaN made QuantRow round NaN to int8 (undefined; UBSan
// stops there). A block with a NaN or inf now has scale NaN, so every dot
// product it enters is NaN, as in the f32 path, and no value is converted.
TEST(FuzzRegressions, QuantRowOfNonFiniteBlockIsNaN) {
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) - 20;
  for (const float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    x[40] = bad;
    ss::QuantRow row;
    row.quantize(x.data(), 64);
    EXPECT_EQ(row.d[0], 20.0f / 127);  // the first block is untouched
    EXPECT_EQ(row.q[0], -127);         // -20 / (20 / 127)
    EXPECT_TRUE(std::isnan(row.d[1])) << bad;
    EXPECT_EQ(std::count(row.q.begin() + 32, row.q.end(), 0), 32);
    EXPECT_EQ(row.sum16[2], 0);
    EXPECT_EQ(row.sum16[3], 0);
  }
}

// Then regressions/fuzz_gguf/tiny_activation_scale_overflows: a block whose
// largest |x| is below 1e-36 has a subnormal scale whose inverse is inf, and
// x * inf was rounded to int8. Such a block now rounds to zeros.
TEST(FuzzRegressions, QuantRowOfTinyBlockIsZeros) {
  std::vector<float> x(32, -1e-38f);
  x[3] = 5e-39f;
  ss::QuantRow row;
  row.quantize(x.data(), 32);
  EXPECT_EQ(row.d[0], 1e-38f / 127);
  EXPECT_EQ(std::count(row.q.begin(), row.q.end(), 0), 32);
  EXPECT_EQ(row.sum16[0], 0);
  EXPECT_EQ(row.sum16[1], 0);
}

// --- A JSON number too large for a double (fixed by 0cdb9ed) -------------------

// The tiny Llama checkpoint of the fuzz corpus, written to a directory.
std::string llama_dir() {
  const auto p = parts(sstest::repo("tests/fuzz/corpus/fuzz_safetensors/llama"), 3);
  const std::string d = sstest::temp_dir();
  spit(d + "/config.json", p[0]);
  spit(d + "/model.safetensors", p[1]);
  return d;
}

TEST(FuzzRegressions, HugeNumberInConfigJsonIsAnError) {
  const std::string d = llama_dir();
  std::string cfg = slurp(d + "/config.json");
  const size_t at = cfg.find("\"rope_theta\"");
  ASSERT_NE(at, std::string::npos);
  cfg.insert(at, "\"rope_scaling_factor\": 1e999, ");
  spit(d + "/config.json", cfg);
  const std::string msg = error_of([&] { ss::load_checkpoint(d); });
  EXPECT_NE(msg.find("config.json: invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number overflow"), std::string::npos) << msg;
}

// Replaces the safetensors header of file with `header` (keeping the data).
void rewrite_header(const std::string& file, const std::string& header) {
  const std::string bytes = slurp(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  std::string out(8, '\0');
  const uint64_t m = header.size();
  std::memcpy(out.data(), &m, 8);
  spit(file, out + header + bytes.substr(8 + n));
}

TEST(FuzzRegressions, HugeNumberInSafetensorsHeaderIsAnError) {
  const std::string d = llama_dir();
  const std::string file = d + "/model.safetensors";
  const std::string bytes = slurp(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  std::string header = bytes.substr(8, n);
  const size_t at = header.find("\"data_offsets\":[") + 16;
  header.replace(at, header.find(',', at) - at, "1e999");
  rewrite_header(file, header);
  ss::TensorStore store;
  const std::string msg = error_of([&] { ss::load_safetensors(file, store); });
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number overflow"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { ss::load_checkpoint(d); }).find("number overflow"), std::string::npos);
}

TEST(FuzzRegressions, HugeNumberInSafetensorsIndexIsAnError) {
  const std::string d = llama_dir();
  fs::rename(d + "/model.safetensors", d + "/model-00001-of-00001.safetensors");
  spit(d + "/model.safetensors.index.json",
       R"({"metadata": {"total_size": 1e999}, "weight_map": {"lm_head.weight": )"
       R"("model-00001-of-00001.safetensors"}})");
  const std::string msg = error_of([&] { ss::load_checkpoint(d); });
  EXPECT_NE(msg.find("model.safetensors.index.json: invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number overflow"), std::string::npos) << msg;
}

TEST(FuzzRegressions, HugeNumberInRequestIs400) {
  ss::serve::ServerConfig cfg;
  for (const char* body : {R"({"prompt": "x", "temperature": 1e999})",
                           R"({"messages": [{"role": "user", "content": "x"}], "seed": 1e999})"}) {
    SCOPED_TRACE(body);
    try {
      ss::serve::parse_generation_request(body, body[2] == 'm', "", cfg, 512);
      ADD_FAILURE() << "accepted";
    } catch (const ss::serve::ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.code, "invalid_json");
      EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
    }
  }
}

TEST(FuzzRegressions, HugeNumberInConfigJsonIsOneLineWithStatus2FromTheCli) {
  const std::string d = llama_dir();
  std::string cfg = slurp(d + "/config.json");
  cfg.replace(cfg.find("\"rope_theta\""), 12, "\"rope_theta\": 1e999, \"x\"");
  spit(d + "/config.json", cfg);
  const auto r = sstest::run_cli("info " + d);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("sinkstream: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("number overflow"), std::string::npos) << r.err;
}

}  // namespace
