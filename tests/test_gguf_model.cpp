// GGUF model files: convert and load back, exactly for f32 and within a
// stated bound for f16 and q8_0; the vocabulary travels with the weights.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/gguf.h"
#include "io/gguf_arch.h"
#include "io/gguf_model.h"
#include "model/stream.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

using namespace ss;

namespace {

std::string story(size_t bytes) {
  std::ifstream f(sstest::asset("text/tinystories.txt"));
  std::string s(bytes, '\0');
  f.read(s.data(), s.size());
  return s;
}

std::vector<float> logits_of(const std::string& model_path, const std::vector<int>& ids) {
  auto m = Model::load(model_path);
  auto be = make_cpu_backend();
  Stream s(m, *be, CachePolicy::make("sinks", 4, 60));
  std::vector<float> out(ids.size() * m->config().vocab_size);
  s.feed(ids.data(), int(ids.size()), out.data(), true);
  return out;
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
  return d;
}

std::string convert(const std::string& from, const std::string& type) {
  const std::string out = sstest::temp_dir() + "/m-" + type + ".gguf";
  auto r = sstest::run_cli("convert -m " + from + " -o " + out + " --type " + type);
  EXPECT_EQ(r.status, 0) << r.err;
  return out;
}

class GgufRoundTrip : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = find_tokenizer(sstest::kStoriesBin);
    ids_ = tok_->encode(story(1500), true);
    ids_.resize(200);
    ref_ = logits_of(sstest::kStoriesBin, ids_);
  }
  std::unique_ptr<Tokenizer> tok_;
  std::vector<int> ids_;
  std::vector<float> ref_;
};

TEST_F(GgufRoundTrip, F32FromLlama2cIsExact) {
  const std::string g = convert(sstest::kStoriesBin, "f32");
  EXPECT_EQ(Model::load(g)->checkpoint().format, "gguf");
  EXPECT_EQ(max_diff(logits_of(g, ids_), ref_), 0.0);
}

TEST_F(GgufRoundTrip, F32FromSafetensorsReordersRope) {
  // The HF copy stores q/k rows for rotate-half RoPE; GGUF wants them interleaved.
  EXPECT_LE(max_diff(logits_of(convert(sstest::kStoriesHf, "f32"), ids_), ref_), 1e-4);
}

// Bounds, from measurements on stories260K (a 64-dim model, the worst case
// for 8-bit rounding): f16 logits within 0.02 of f32; q8_0 logits within 0.75
// (measured 0.51; logits span about 30) and perplexity within 0.5% (measured
// +0.09% over 4000 tokens).
TEST_F(GgufRoundTrip, F16AndQ8WithinTheirBounds) {
  EXPECT_LE(max_diff(logits_of(convert(sstest::kStoriesBin, "f16"), ids_), ref_), 0.02);
  const std::string q8 = convert(sstest::kStoriesBin, "q8_0");
  EXPECT_LE(max_diff(logits_of(q8, ids_), ref_), 0.75);
  auto ppl = [&](const std::string& m) {
    auto r = sstest::run_cli("ppl --no-progress -n 1000 -m " + m + " --text " +
                             sstest::asset("text/tinystories.txt"));
    EXPECT_EQ(r.status, 0) << r.err;
    return std::stod(r.out.substr(r.out.find("\"ppl\":") + 6));
  };
  const double p32 = ppl(sstest::kStoriesBin), p8 = ppl(q8);
  EXPECT_NEAR(p8 / p32, 1.0, 0.005) << p8 << " vs " << p32;
  const auto model = Model::load(q8);  // the range-for would outlive a temporary
  for (auto& [name, t] : model->checkpoint().tensors.tensors) {
    const DType want = t.shape.size() < 2 ? DType::F32 : t.cols() % 32 ? DType::F16 : DType::Q8_0;
    EXPECT_EQ(t.dtype, want) << name;
  }
}

TEST_F(GgufRoundTrip, VocabularyTravelsAndGreedyOutputIsGolden) {
  const std::string g = convert(sstest::kStoriesBin, "f32");
  auto t = find_tokenizer(g);
  const std::string text = story(3000);
  EXPECT_EQ(t->encode(text, true), tok_->encode(text, true));
  auto r = sstest::run_cli("generate --temperature 0 -n 200 -p '' -m " + g);
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream f(sstest::asset("stories260K/greedy_200_expected.txt"));
  std::stringstream want;
  want << f.rdbuf();
  EXPECT_EQ(r.out, want.str());
}

TEST(GgufErrors, BadOptionsAndFiles) {
  const std::string d = sstest::temp_dir();
  auto r = sstest::run_cli("convert -o " + d + "/x.gguf --type q4_k");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--type must be one of f32, f16, "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not 'q4_k'"), std::string::npos) << r.err;
  // A truncated GGUF names the file and never crashes.
  const std::string g = convert(sstest::kStoriesBin, "f16");
  std::ifstream in(g, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (size_t cut : {size_t(10), size_t(3000), bytes.size() - 100}) {
    std::ofstream(d + "/cut.gguf", std::ios::binary) << bytes.substr(0, cut);
    r = sstest::run_cli("info " + d + "/cut.gguf");
    EXPECT_EQ(r.status, 2) << cut;
    EXPECT_NE(r.err.find(d + "/cut.gguf"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  }
}

}  // namespace

// --- The real files (scripts/fetch-models.sh) ------------------------------------
// Expected values are gguf-py's reading of the same files (GGUFReader: tensor
// types, element and byte counts, metadata), and the model cards.

namespace {

const std::string kSmol = sstest::repo("models/cache/SmolLM2-135M-Instruct.Q4_1.gguf");
const std::string kGemma = sstest::repo("models/cache/gemma-3-270m-q4_k_m.gguf");

#define REQUIRE_FILE(path) \
  if (!std::ifstream(path)) FAIL() << path << " is missing: run scripts/fetch-models.sh first"

TEST(GgufRealModels, SmolLM2ConfigIsItsMetadata) {
  REQUIRE_FILE(kSmol);
  const ModelConfig c = gguf_read_config(GgufFile::open(kSmol));
  EXPECT_EQ(c.family, "llama");
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.dim, 576);
  EXPECT_EQ(c.hidden_dim, 1536);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.rot_dim(), 64);  // llama.rope.dimension_count
  EXPECT_EQ(c.max_seq_len, 8192);
  EXPECT_EQ(c.rope_theta, 100000.0);
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.vocab_size, 49152);  // token_embd's rows, equal to llama.vocab_size
  EXPECT_TRUE(c.tied_embeddings);  // no output.weight: the q8_0 embedding is the head
  EXPECT_EQ(c.rope_layout, RopeLayout::Interleaved);
  EXPECT_EQ(c.position, PositionKind::Rope);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
}

TEST(GgufRealModels, InfoDescribesSmolLM2) {
  REQUIRE_FILE(kSmol);
  const auto r = sstest::run_cli("info --json " + kSmol);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["format"], "gguf v3");
  EXPECT_EQ(j["file_type"], "Q4_1");
  EXPECT_EQ(j["parameters"], 134515008);
  EXPECT_EQ(j["training_context"], 8192);
  EXPECT_EQ(j["tensor_bytes"], 96576768);
  const nlohmann::json want = {
      {"q4_1", {{"tensors", 210}, {"parameters", 106168320}, {"bytes", 66355200}}},
      {"q8_0", {{"tensors", 1}, {"parameters", 28311552}, {"bytes", 30081024}}},
      {"f32", {{"tensors", 61}, {"parameters", 35136}, {"bytes", 140544}}}};
  EXPECT_EQ(j["tensor_types"], want);
  EXPECT_EQ(j["tokenizer"], "gpt2");
  EXPECT_EQ(j["pre_tokenizer"], "smollm");
  EXPECT_EQ(j["tokens"], 49152);
  EXPECT_EQ(j["chat_template"], "chatml");
  EXPECT_EQ(j["supported"], true);
  EXPECT_EQ(j["n_layers"], 30);
  EXPECT_EQ(j["n_kv_heads"], 3);
  EXPECT_EQ(j["rope_theta"], 100000.0);
  EXPECT_EQ(j["norm_eps"], 1e-5);
  // The text form has the same facts, one per line.
  const auto t = sstest::run_cli("info " + kSmol);
  ASSERT_EQ(t.status, 0) << t.err;
  for (const char* line :
       {"\narchitecture       llama\n", "\nparameters         134515008\n",
        "\ntraining_context   8192\n",
        "\ntensor_types       q4_1 x210 (63.3 MiB), q8_0 x1 (28.7 MiB), f32 x61 (0.1 MiB)\n",
        "\ntokenizer          gpt2\n", "\npre_tokenizer      smollm\n",
        "\nchat_template      chatml\n"})
    EXPECT_NE(t.out.find(line), std::string::npos) << line << " not in:\n" << t.out;
}

TEST(GgufRealModels, InfoDescribesGemma3) {
  REQUIRE_FILE(kGemma);
  const auto r = sstest::run_cli("info --json " + kGemma);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["architecture"], "gemma3");
  EXPECT_EQ(j["file_type"], "Q4_K_M");
  EXPECT_EQ(j["parameters"], 268098176);
  EXPECT_EQ(j["training_context"], 32768);
  EXPECT_EQ(j["tensor_bytes"], 246587904);
  const nlohmann::json want = {
      {"q8_0", {{"tensors", 10}, {"parameters", 169246720}, {"bytes", 179824640}}},
      {"q5_0", {{"tensors", 81}, {"parameters", 63406080}, {"bytes", 43591680}}},
      {"q4_k", {{"tensors", 27}, {"parameters", 23592960}, {"bytes", 13271040}}},
      {"q6_k", {{"tensors", 9}, {"parameters", 11796480}, {"bytes", 9676800}}},
      {"f32", {{"tensors", 109}, {"parameters", 55936}, {"bytes", 223744}}}};
  EXPECT_EQ(j["tensor_types"], want);
  EXPECT_EQ(j["tokenizer"], "llama");
  EXPECT_EQ(j["pre_tokenizer"], "default");
  EXPECT_EQ(j["tokens"], 262144);
  // No tokenizer.chat_template in this file; its turn tokens say Gemma.
  EXPECT_EQ(j["chat_template"].get<std::string>().rfind("gemma", 0), 0u) << j["chat_template"];
  EXPECT_EQ(j["supported"], true) << j["unsupported"];
  EXPECT_EQ(j["family"], "gemma3_text");
  // 15 local layers with a 512-token window and RoPE base 10,000; every 6th is global.
  EXPECT_EQ(j["sliding_window"], 512);
  EXPECT_EQ(j["local_layers"], 15);
  EXPECT_EQ(j["global_layers"], 3);
  EXPECT_EQ(j["rope_theta"], 1e6);
  EXPECT_EQ(j["rope_theta_local"], 1e4);
  EXPECT_EQ(j["qk_norm"], true);
  EXPECT_EQ(j["sandwich_norm"], true);
  EXPECT_EQ(j["ffn"], "gated gelu_tanh");
  EXPECT_EQ(j["query_scale"], 0.0625);  // 1/sqrt(256)
  // One KV head of 256: 2 KiB per token per layer.
  EXPECT_EQ(j["kv_bytes_per_token"], 3 * 2048);
  EXPECT_EQ(j["kv_bytes_local_layers"], 15 * 512 * 2048);
}

}  // namespace
