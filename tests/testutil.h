// Helpers shared by the test files.
#pragma once
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace sstest {

// A file under tests/data (tests/data/README.md says where each comes from).
inline std::string asset(const std::string& rel) { return std::string(TEST_DATA) + "/" + rel; }
inline std::string repo(const std::string& rel) { return std::string(SOURCE_DIR) + "/" + rel; }
inline const std::string kStoriesBin =
    std::string(SOURCE_DIR) + "/models/stories260K/stories260K.bin";
inline const std::string kStoriesHf = std::string(SOURCE_DIR) + "/models/stories260K/hf";

struct CliResult {
  int status;       // exit status
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the sinkstream CLI with the given argument string (shell syntax).
CliResult run_cli(const std::string& args, const std::string& stdin_text = "");
// The same for any shell command.
CliResult run_command(const std::string& command, const std::string& stdin_text = "");

// A whole file's bytes ("" when it cannot be read), and writing them.
std::string slurp(const std::string& path);
void spit(const std::string& path, std::string_view data);

// A fresh temporary directory, removed at process exit.
std::string temp_dir();

// The message of the ss::Error that f throws ("" and a test failure if none).
// It must be one line.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const ss::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no ss::Error thrown";
  return "";
}

// --- Text and tokenizers ---------------------------------------------------------

inline std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6);
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12);
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18);
    s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Scalar values (no surrogates), weighted towards ASCII and whitespace so
// that merges happen, with every UTF-8 length represented.
inline rc::Gen<uint32_t> gen_code_point() {
  return rc::gen::weightedOneOf<uint32_t>({
      {8, rc::gen::inRange<uint32_t>(0x20, 0x7F)},
      {2, rc::gen::element<uint32_t>(' ', ' ', '\n', '\t', '\r')},
      {1, rc::gen::inRange<uint32_t>(0x01, 0x20)},
      {1, rc::gen::inRange<uint32_t>(0x80, 0x800)},
      {1, rc::gen::inRange<uint32_t>(0x800, 0xD800)},
      {1, rc::gen::inRange<uint32_t>(0xE000, 0x10000)},
      {1, rc::gen::inRange<uint32_t>(0x10000, 0x110000)},
  });
}

inline rc::Gen<std::string> gen_utf8(rc::Gen<uint32_t> cp) {
  return rc::gen::map(rc::gen::container<std::vector<uint32_t>>(std::move(cp)),
                      [](const std::vector<uint32_t>& cps) {
                        std::string s;
                        for (uint32_t c : cps) s += utf8(c);
                        return s;
                      });
}

// Concatenated streaming decode of ids that follow `prev`.
template <typename Tokenizer>
std::string decode_all(const Tokenizer& tok, const std::vector<int>& ids, int prev) {
  std::string s;
  for (int id : ids) {
    s += tok.decode(prev, id);
    prev = id;
  }
  return s;
}

// llama.cpp's tokenizer test vectors PREFIX.inp and PREFIX.out: each input
// ends with "\n__ggml_vocab_test__\n"; each output line holds the ids of one
// input (without BOS), separated by spaces.
inline std::vector<std::pair<std::string, std::vector<int>>> vocab_vectors(
    const std::string& prefix) {
  const auto read = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(f.is_open()) << path;
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  const std::string inp = read(prefix + ".inp");
  std::istringstream out(read(prefix + ".out"));
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<std::pair<std::string, std::vector<int>>> vectors;
  size_t pos = 0;
  for (std::string line; std::getline(out, line);) {
    const size_t end = inp.find(marker, pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << prefix << ": more outputs than inputs";
      break;
    }
    std::vector<int> ids;
    std::istringstream s(line);
    for (int id; s >> id;) ids.push_back(id);
    vectors.emplace_back(inp.substr(pos, end - pos), std::move(ids));
    pos = end + marker.size();
  }
  EXPECT_EQ(pos, inp.size()) << prefix << ": inputs without outputs";
  return vectors;
}

}  // namespace sstest
