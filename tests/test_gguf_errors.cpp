// Bad GGUF files through the CLI: truncated anywhere (header, metadata,
// tensor infos, data), a tensor whose type and shape do not match its data,
// a ggml type id nobody defines, a type sinkstream does not read, and an
// unknown architecture. Each is exactly one line on stderr naming the file
// and the problem, with exit status 2; never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

using namespace ss;

namespace {

// stories260K as a GGUF at f32 with its vocabulary, as bytes.
const std::string& valid_gguf() {
  static const std::string bytes = [] {
    const std::string path = sstest::temp_dir() + "/valid.gguf";
    auto tok = find_tokenizer(sstest::kStoriesBin);
    save_gguf(load_checkpoint(sstest::kStoriesBin), tok.get(), DType::F32, path);
    return sstest::slurp(path);
  }();
  return bytes;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = sstest::temp_dir() + "/" + name;
  sstest::spit(path, bytes);
  return path;
}

// Exactly one line on stderr, exit status 2, naming the file and matching `what`.
void expect_one_line(const sstest::CliResult& r, const std::string& path, const std::string& what,
                     const std::string& context) {
  EXPECT_EQ(r.status, 2) << context << "\nstderr: " << r.err;
  ASSERT_FALSE(r.err.empty()) << context;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << context << ": not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("sinkstream: error: ", 0), 0u) << context << ": " << r.err;
  EXPECT_NE(r.err.find(path), std::string::npos) << context << ": " << r.err;
  EXPECT_TRUE(std::regex_search(r.err, std::regex(what)))
      << context << ": want /" << what << "/ in: " << r.err;
}

// Where the tensor info of `name` starts in the header (its u64 name length).
size_t info_of(const std::string& bytes, const std::string& name) {
  std::string needle(8, '\0');
  const uint64_t n = name.size();
  std::memcpy(needle.data(), &n, 8);
  needle += name;
  const size_t at = bytes.find(needle);
  EXPECT_NE(at, std::string::npos) << name;
  return at;
}

// Offsets inside one tensor info: its ggml type and its first dimension.
size_t type_field(const std::string& bytes, const std::string& name, uint32_t n_dims) {
  return info_of(bytes, name) + 8 + name.size() + 4 + 8 * n_dims;
}

template <typename T>
void poke(std::string& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

TEST(GgufBadInput, TruncatedAnywhereIsOneLine) {
  const std::string& full = valid_gguf();
  const GgufFile f = GgufFile::open(write("full.gguf", full));
  const size_t tokens = f.find("tokenizer.ggml.tokens")->offset;
  const size_t infos = info_of(full, "token_embd.weight");
  ASSERT_LT(tokens, infos);
  ASSERT_LT(infos, f.data_offset());
  const std::vector<std::pair<const char*, size_t>> cuts = {
      {"in the version", 6},
      {"in the tensor count", 12},
      {"in the metadata count", 20},
      {"in the first key", 30},
      {"in the vocabulary", tokens + 1000},
      {"in the last metadata", infos - 2},
      {"in a tensor name", infos + 12},
      {"in the last tensor info", size_t(f.data_offset()) - 40},
      {"before the data", size_t(f.data_offset())},
      {"in the first tensor's data", size_t(f.data_offset()) + 100},
      {"in the last byte", full.size() - 1},
  };
  for (auto [where, cut] : cuts) {
    const std::string path = write("cut.gguf", full.substr(0, cut));
    const std::string ctx = std::string(where) + " (" + std::to_string(cut) + " bytes)";
    // info reads the file's own structure; ppl loads the model.
    expect_one_line(sstest::run_cli("info " + path), path, "truncated|runs past|claims", ctx);
    expect_one_line(
        sstest::run_cli("ppl --no-progress --ids " + write("ids.txt", "1 2 3 4") + " -m " + path),
        path, "truncated|runs past|claims", ctx);
  }
  // The untouched file is fine: the cuts are what fails.
  EXPECT_EQ(sstest::run_cli("info " + write("ok.gguf", full)).status, 0);
}

TEST(GgufBadInput, SizeNotMatchingTypeAndShapeIsOneLine) {
  // blk.0.attn_q.weight claims twice its rows: it reaches into the next tensor.
  std::string longer = valid_gguf();
  const size_t q = type_field(longer, "blk.0.attn_q.weight", 2);
  poke<int64_t>(longer, q - 8, 2 * 64);  // dims are [cols, rows]
  std::string path = write("longer.gguf", longer);
  expect_one_line(sstest::run_cli("info " + path), path,
                  "tensor blk\\.0\\.attn_q\\.weight .*overlaps tensor .*type and shape do not "
                  "match",
                  "rows doubled");
  // The last tensor (f32) relabelled f64: twice its bytes no longer fit the file.
  std::string wider = valid_gguf();
  const GgufFile f = GgufFile::open(write("full.gguf", wider));
  const GgufTensorInfo* last = &f.tensors()[0];
  for (const GgufTensorInfo& t : f.tensors())
    if (t.offset > last->offset) last = &t;
  poke<uint32_t>(wider, type_field(wider, last->name, uint32_t(last->dims.size())), 28);  // f64
  path = write("wider.gguf", wider);
  for (const std::string& cmd : {"info " + path, "generate -n 1 -p x -m " + path})
    expect_one_line(sstest::run_cli(cmd), path,
                    "tensor " + std::regex_replace(last->name, std::regex("\\."), "\\.") +
                        " .*runs past the end",
                    cmd);
}

TEST(GgufBadInput, UnknownAndUnreadTypesAreOneLine) {
  // A ggml type id ggml has never defined: info cannot size it, loading cannot read it.
  std::string bytes = valid_gguf();
  poke<uint32_t>(bytes, type_field(bytes, "blk.1.ffn_up.weight", 2), 99);
  std::string path = write("type99.gguf", bytes);
  expect_one_line(sstest::run_cli("info " + path), path,
                  "tensor blk\\.1\\.ffn_up\\.weight has unknown ggml type 99", "info");
  expect_one_line(sstest::run_cli("generate -n 1 -p x -m " + path), path,
                  "tensor blk\\.1\\.ffn_up\\.weight has ggml type 99.*not one of .*f32", "load");
  // A real ggml type sinkstream does not read (mxfp4: 17 bytes per 32 values,
  // smaller than the f32 data, so the file's layout stays valid): info
  // describes it, loading names it and the supported types.
  bytes = valid_gguf();
  poke<uint32_t>(bytes, type_field(bytes, "blk.1.ffn_up.weight", 2), 39);
  path = write("mxfp4.gguf", bytes);
  const auto info = sstest::run_cli("info --json " + path);
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(info.out.find("\"mxfp4\""), std::string::npos) << info.out;
  expect_one_line(
      sstest::run_cli("ppl --no-progress --ids " + write("ids.txt", "1 2 3") + " -m " + path), path,
      "tensor blk\\.1\\.ffn_up\\.weight has ggml type 39.*not one of .*q8_0", "load");
}

TEST(GgufBadInput, UnknownArchitectureIsOneLine) {
  // general.architecture "llama" -> "mamba" (same length, so nothing moves).
  std::string bytes = valid_gguf();
  const GgufFile f = GgufFile::open(write("full.gguf", bytes));
  const GgufKv* arch = f.find("general.architecture");
  ASSERT_NE(arch, nullptr);
  ASSERT_EQ(bytes.substr(arch->offset + 8, 5), "llama");
  bytes.replace(arch->offset + 8, 5, "mamba");
  const std::string path = write("mamba.gguf", bytes);
  for (const std::string& cmd :
       {"generate -n 1 -p x -m " + path,
        "ppl --no-progress --ids " + write("ids.txt", "1 2") + " -m " + path,
        "convert --type f32 -o " + sstest::temp_dir() + "/o.gguf -m " + path})
    expect_one_line(sstest::run_cli(cmd), path,
                    "GGUF architecture 'mamba' is not supported yet \\(supported: llama, mistral, "
                    "qwen2, gptneox, falcon, mpt, bloom, gpt2, gemma3\\)",
                    cmd);
  // info still describes the file, and says why it cannot be run.
  const auto r = sstest::run_cli("info " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\narchitecture +mamba\n"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nsupported +false\n"))) << r.out;
}

TEST(GgufBadInput, MissingKeyAndStrayTensorAreOneLine) {
  // A key the architecture needs, renamed away: llama.context_length -> llama.context_lengtX.
  std::string bytes = valid_gguf();
  const size_t key = bytes.find("llama.context_length");
  ASSERT_NE(key, std::string::npos);
  bytes[key + std::strlen("llama.context_length") - 1] = 'X';
  std::string path = write("nokey.gguf", bytes);
  expect_one_line(sstest::run_cli("generate -n 1 -p x -m " + path), path,
                  "metadata llama\\.context_length is missing", "missing key");
  // A tensor llama has no use for (rope scaling factors) would change the model silently.
  bytes = valid_gguf();
  const size_t at = info_of(bytes, "output_norm.weight") + 8;
  bytes.replace(at, std::strlen("output_norm.weight"), "rope_freqs.weights");
  path = write("stray.gguf", bytes);
  expect_one_line(sstest::run_cli("generate -n 1 -p x -m " + path), path,
                  "tensor rope_freqs\\.weights is not one GGUF architecture llama has",
                  "stray tensor");
}

}  // namespace
