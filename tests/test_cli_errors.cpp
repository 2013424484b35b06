// Bad input: every case gets one line on stderr naming the problem, and exit
// status 2. Never a crash, a hang or silent garbage.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testutil.h"

namespace {

std::string stories_text() { return sstest::asset("text/tinystories_val_sample.txt"); }

void expect_error(const std::string& args, const std::string& needle,
                  const std::string& input = "") {
  auto r = sstest::run_cli(args, input);
  EXPECT_EQ(r.status, 2) << args << "\nstderr: " << r.err;
  ASSERT_FALSE(r.err.empty()) << args;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("sinkstream: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want '" << needle << "' in: " << r.err;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string p = sstest::temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string head(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  std::string s(n, '\0');
  f.read(s.data(), n);
  return s;
}

TEST(CliErrors, MissingModel) {
  expect_error("info /nonexistent/model.bin", "/nonexistent/model.bin");
}

TEST(CliErrors, TruncatedLlama2cModel) {
  const std::string dir = sstest::temp_dir();
  std::filesystem::copy(sstest::repo("models/stories260K/tok512.bin"), dir + "/tok512.bin");
  const std::string p = dir + "/m.bin";
  std::ofstream(p, std::ios::binary) << head(sstest::kStoriesBin, 100000);
  expect_error("generate -n 1 -m " + p, "m.bin");
}

TEST(CliErrors, UnknownArchitecture) {
  const std::string dir = sstest::temp_dir();
  std::ofstream(dir + "/config.json")
      << R"({"model_type": "gptj", "architectures": ["GPTJForCausalLM"]})";
  expect_error("info " + dir, "gptj");
}

TEST(CliErrors, NegativeWindow) { expect_error("generate -n 1 --window -2", "--window"); }
TEST(CliErrors, CacheOverLimit) {
  expect_error("generate -n 1 --policy sinks --sinks 4 --window 100000000", "limit");
}
TEST(CliErrors, UnknownPolicy) { expect_error("generate -n 1 --policy lru", "lru"); }
TEST(CliErrors, NegativeSinks) { expect_error("generate -n 1 --sinks -1", "--sinks"); }
TEST(CliErrors, BadSampling) {
  expect_error("generate -n 1 --top-p 1.5", "--top-p");
  expect_error("generate -n 1 --temperature -1", "--temperature");
  expect_error("generate -n -7", "--max-tokens");
}
TEST(CliErrors, DenseEndlessNeedsCtx) { expect_error("generate -n -1 --policy dense", "--ctx"); }
TEST(CliErrors, UnknownOption) { expect_error("generate --frobnicate", "frobnicate"); }

TEST(CliErrors, EmptyText) { expect_error("ppl --text " + write("empty.txt", ""), "empty.txt"); }
TEST(CliErrors, InvalidUtf8Text) {
  expect_error("ppl --text " + write("bad.txt", "Once upon \xff\xfe a time"), "bad.txt");
}
TEST(CliErrors, BadIdsFile) {
  expect_error("ppl --ids " + write("ids.txt", "1 2 banana 3"), "ids.txt");
  expect_error("ppl --ids " + write("ids2.txt", "1 2 99999"), "99999");
}
TEST(CliErrors, MissingTextFile) {
  expect_error("ppl --text /nonexistent.txt", "/nonexistent.txt");
}
TEST(CliErrors, TokenizerVocabMismatch) {
  expect_error("ppl --text " + stories_text() + " --tokenizer " +
                   sstest::asset("tokenizers/llama2/tokenizer.bin"),
               "32000");
}
TEST(CliErrors, DenseOverflowDuringGeneration) {
  expect_error("generate -n 50 --policy dense --ctx 10 --ignore-eos", "dense cache is full");
}

TEST(Cli, HelpOnEveryCommand) {
  for (std::string cmd :
       {"", "generate ", "ppl ", "info ", "convert ", "sinks ", "plot ", "ablate ", "serve "}) {
    auto r = sstest::run_cli(cmd + "--help");
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, PromptFromStdinAndLongPromptsEvict) {
  // A prompt of ~3000 tokens through a 4+60 cache: processed in chunks with eviction.
  std::ifstream f(stories_text());
  std::string text(12000, '\0');
  f.read(text.data(), text.size());
  auto r = sstest::run_cli("generate -n 20 --temperature 0 --sinks 4 --window 60", text);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind(text, 0), 0u);
  EXPECT_GT(r.out.size(), text.size() + 20);
}

}  // namespace
