// Bad input: every case gets one line on stderr naming the problem, and exit
// status 2. Never a crash, a hang or silent garbage.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "testutil.h"

namespace {

std::string stories_text() { return sstest::asset("text/tinystories.txt"); }

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

// Issue 12: options that used to be taken silently or ignored.
TEST(CliErrors, NegativeWindowIsNotTheDefault) {
  const std::string text = " --no-progress --text " + stories_text();
  expect_error("generate -n 1 --window -1", "--window");
  expect_error("ppl --window -1" + text, "--window");
  expect_error("sinks --policy sinks --window -1" + text, "--window");
  expect_error("serve --window -1", "--window");
  expect_error("ablate --window -1 --text " + stories_text(), "--window");
  expect_error("train --mask sliding --window -1 -o " + sstest::temp_dir() + text, "--window");
}

TEST(CliErrors, PolicyOptionsThePolicyDoesNotUse) {
  const std::string text = " --no-progress --text " + stories_text();
  // sinks measures a dense cache by default: a window there would be ignored.
  expect_error("sinks --window 0" + text, "--window does not apply to --policy dense");
  expect_error("generate -n 1 --policy window --sinks 2", "--sinks applies to --policy sinks");
  expect_error("generate -n 1 --policy sinks --ctx 100", "--ctx applies to --policy dense");
  expect_error("generate -n 1 --policy dense --ctx 0", "--ctx");
  expect_error("serve --ctx 100", "--ctx");
}

TEST(CliErrors, ThreadsAreCheckedTheSameEverywhere) {
  const std::string out = " -o " + sstest::temp_dir() + " --text " + stories_text();
  expect_error("train -t -1" + out, "--threads");
  expect_error("train -t 5000" + out, "--threads");
  expect_error("generate -n 1 -t -1", "--threads");
  // info and convert run no kernels: -t would be ignored.
  expect_error("info -t 2", "-t");
}

TEST(CliErrors, InfoDescribesTheTokenizerItIsGiven) {
  expect_error("info --tokenizer /nonexistent/tok.bin", "/nonexistent/tok.bin");
  expect_error("info --tokenizer " + sstest::asset("tokenizers/llama2/tokenizer.bin"), "32000");
  auto r =
      sstest::run_cli("info --json --tokenizer " + sstest::repo("models/stories260K/tok512.bin"));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("tokenizer_tokens"), 512);
  EXPECT_EQ(j.at("tokenizer_bos_id"), 1);
  EXPECT_EQ(j.at("tokenizer_eos_id"), 2);
}

TEST(CliErrors, ConvertRefusesAnUnreadableTokenizer) {
  const std::string out = sstest::temp_dir() + "/out.gguf";
  expect_error("convert -o " + out + " --tokenizer /nonexistent/tok.bin", "/nonexistent/tok.bin");
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliErrors, DirectoryAsTextFile) {
  const std::string dir = sstest::temp_dir();
  expect_error("ppl --text " + dir, dir + ": it is a directory");
  expect_error("sinks --no-progress --text " + dir, dir + ": it is a directory");
  expect_error("train -o " + dir + "/out --text " + dir, dir + ": it is a directory");
}

TEST(CliErrors, NumericOptionsOutOfRange) {
  const std::string text = " --no-progress --text " + stories_text();
  const std::string train = "train -o " + sstest::temp_dir() + text + " ";
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"generate -n 0", "--max-tokens"},
           {"generate -n 1 --seed -1", "--seed"},
           {"ppl -n -1" + text, "--max-tokens"},
           {"sinks --seed -1" + text, "--seed"},
           {"sinks --mass-k 100 -T 64" + text, "--mass-k"},
           {"ablate --filler-id -3 --text " + stories_text(), "--filler-id"},
           {"ablate --filler x --filler-id 3 --text " + stories_text(), "--filler-id"},
           {"serve -n 0", "--max-tokens"},
           {"plot -o x.png --smooth 0 a.csv", "--smooth: must be >= 1, got 0"},
           {"plot -o x.png --width 100 a.csv", "--width: must be in 300..8000, got 100"},
           {"serve --max-cache -5", "--max-cache"},
           {"serve --read-timeout 0", "--read-timeout"},
           {"serve --timeout -1", "--timeout"},
           {train + "--kv-heads -1", "--kv-heads"},
           {train + "--hidden -1", "--hidden"},
           {train + "--seed -1", "--seed"},
           {train + "--warmup -1", "--warmup"},
           {train + "--prefix 4", "--prefix applies only to --mask prefix"},
           {train + "--window 4", "--window applies only to --mask sliding"},
           {train + "--fixed-token 3", "--fixed-token applies only to --data-mode fixed"},
           {train + "--random-positions 3", "--random-positions applies only"},
       })
    expect_error(args, needle);
}

TEST(CliErrors, TrainNamesAreTheConfigNames) {
  // Positions, norms and activations parse through model/config.h's name
  // lists, as config.json does: "none", not a second spelling.
  const std::string train = "train -o " + sstest::temp_dir() + " --text " + stories_text() + " ";
  expect_error(train + "--position nope", "supported: rope, alibi, learned, none");
  expect_error(train + "--norm batchnorm", "supported: rmsnorm, layernorm");
  expect_error(train + "--ffn tanh", "supported: swiglu, silu, gelu, gelu_tanh, relu");
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
