// Attention-sink analysis: the Gu et al. metric on a model whose attention is
// known in closed form, on stories260K (a model without a sink), capture
// through prefill against decode, and the sinks / ablate commands.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "analysis/ablation.h"
#include "analysis/capture.h"
#include "analysis/sink_metric.h"
#include "core/error.h"
#include "testmodels.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

using namespace ss;

namespace {

float* f32(Checkpoint& ck, const std::string& name) {
  const Tensor* t = ck.tensors.find(name);
  EXPECT_TRUE(t && t->dtype == DType::F32) << name;
  return static_cast<float*>(const_cast<void*>(t->data));
}

void zero(Checkpoint& ck, const std::string& name) {
  const Tensor* t = ck.tensors.find(name);
  std::fill_n(f32(ck, name), t->numel(), 0.0f);
}

// A model whose attention is known in closed form. Every embedding has two
// ones (so every token has the same RMS), dimension 1 for all and dimension 0
// only for BOS; attention and FFN outputs are zero, so every layer sees the
// embeddings. RoPE's slowest pair turns by < 1e-20 rad at these positions
// (theta 1e30), and q and k live on its first dimension: q = u for every
// token, k = c for BOS and 0 otherwise. The score on BOS is then
// s = u c rho^2 / sqrt(head_dim) (rho the RMSNorm scale), 0 on the rest, so
// query i (0-based) puts e^s / (e^s + i) on BOS and 1 / (e^s + i) on each
// other key. Layer `uniform_layer` has q = 0: uniform attention.
struct Analytic {
  static constexpr int kUniformLayer = 1;
  ModelConfig c = sstest::tiny_config(2, 4, 2);
  double es;  // e^s
  std::shared_ptr<const Model> model;

  explicit Analytic(float s) {
    c.rope_theta = 1e30;
    Checkpoint ck = random_llama(c, 7);
    const int d = c.dim, hd = c.head_dim, a = hd / 2 - 1;  // a: first dim of the slowest pair
    float* emb = f32(ck, "model.embed_tokens.weight");
    for (int t = 0; t < c.vocab_size; ++t) {
      float* x = emb + size_t(t) * d;
      std::fill_n(x, d, 0.0f);
      x[1] = 1;
      x[t == c.bos_id ? 0 : 2 + t % (d - 2)] = 1;
    }
    const double rho2 = 1.0 / (2.0 / d + c.norm_eps);  // RMSNorm scale squared
    const float u = 1, k = float(s * std::sqrt(double(hd)) / rho2);
    es = std::exp(double(u) * k * rho2 / std::sqrt(double(hd)));
    for (int l = 0; l < c.n_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      for (const char* w : {"input_layernorm.weight", "post_attention_layernorm.weight"})
        std::fill_n(f32(ck, p + w), d, 1.0f);
      for (const char* w : {"self_attn.q_proj.weight", "self_attn.k_proj.weight",
                            "self_attn.o_proj.weight", "mlp.down_proj.weight"})
        zero(ck, p + w);
      float* wq = f32(ck, p + "self_attn.q_proj.weight");
      float* wk = f32(ck, p + "self_attn.k_proj.weight");
      for (int h = 0; h < c.n_heads && l != kUniformLayer; ++h) wq[size_t(h * hd + a) * d + 1] = u;
      for (int h = 0; h < c.n_kv_heads; ++h) wk[size_t(h * hd + a) * d + 0] = k;
    }
    model = std::make_shared<const Model>(std::move(ck));
  }

  // alpha_k (k from 1) of a dense T-token sample: BOS first, or no BOS.
  double alpha(int k, int T, bool bos, bool uniform) const {
    const double e = bos && !uniform ? es : 1.0;
    double sum = 0;
    for (int i = k - 1; i < T; ++i) sum += (k == 1 ? e : 1.0) / (e + i);
    return sum / (T - k + 1);
  }
};

std::vector<int> sample_ids(int T, bool bos, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> ids;
  if (bos) ids.push_back(1);
  while (int(ids.size()) < T) {
    const int t = int(rng() % vocab);
    if (t != 1) ids.push_back(t);
  }
  return ids;
}

TEST(Analysis, AnalyticAttentionGivesExactAlphaAndSink) {
  Analytic m(std::log(40.0f));  // e^s = 40: alpha_1 ~ 0.6 in the sink layer
  auto be = make_cpu_backend();
  const int T = 32, K = 6;
  for (bool bos : {true, false}) {
    SinkMetric sm(2, 4, {0.3, K, 4, false});
    for (int s = 0; s < 5; ++s)
      sm.add(capture_attention(m.model, *be, CachePolicy::make("dense", 0, T),
                               sample_ids(T, bos, m.c.vocab_size, s), T));
    for (int k = 1; k <= K; ++k) {
      for (int l = 0; l < 2; ++l)
        for (int h = 0; h < 4; ++h)
          EXPECT_NEAR(sm.alpha(l, h, k), m.alpha(k, T, bos, l == Analytic::kUniformLayer), 1e-6)
              << "bos " << bos << " layer " << l << " head " << h << " k " << k;
      EXPECT_NEAR(sm.alpha_uniform(k), m.alpha(k, T, false, true), 1e-12);
      // One sink layer and one uniform layer, alike in every head.
      EXPECT_NEAR(sm.alpha_mean(k), (m.alpha(k, T, bos, false) + m.alpha(k, T, bos, true)) / 2,
                  1e-6);
      // Half the (layer, head) pairs have alpha_1 > 0.3 when BOS leads.
      EXPECT_EQ(sm.sink(k), k == 1 && bos ? 50.0 : 0.0) << k;
      EXPECT_EQ(sm.sink_uniform(k), 0.0);
    }
    ASSERT_GT(m.alpha(1, T, true, false), 0.5);
  }
}

TEST(Analysis, AnalyticMassOnFirstPositions) {
  Analytic m(std::log(10.0f));
  auto be = make_cpu_backend();
  const int T = 20;
  SinkMetric sm(2, 4, {0.3, 4, 3, false});
  sm.add(capture_attention(m.model, *be, CachePolicy::make("dense", 0, T),
                           sample_ids(T, true, m.c.vocab_size, 1), T));
  // Query i (0-based) puts (e^s + min(i, 2)) / (e^s + i) on the first 3 keys.
  double sink = 0, uniform = 0;
  for (int i = 0; i < T; ++i) {
    sink += (m.es + std::min(i, 2)) / (m.es + i) / T;
    uniform += std::min(i + 1, 3) / double(i + 1) / T;
  }
  EXPECT_NEAR(sm.mass(0), sink, 1e-6);
  EXPECT_NEAR(sm.mass(1), uniform, 1e-6);
  EXPECT_NEAR(sm.mass_uniform(0), uniform, 1e-12);
}

TEST(Analysis, MetricRowNormalisesWeights) {
  // Rows that do not sum to one (a non-normalising op) are read as their
  // row-normalised proxy: scaling a row changes nothing.
  AttentionRows r(1, 1, 3, 3);
  r.kept = {1, 2, 3};
  const float rows[3][3] = {{1, 0, 0}, {0.6f, 0.2f, 0}, {0.5f, 0.25f, 0.25f}};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.row(0, 0, i)[j] = rows[i][j] * (i + 2);
  SinkMetric sm(1, 1, {0.5, 3, 1, true});
  sm.add(r);
  EXPECT_NEAR(sm.alpha(0, 0, 1), (1 + 0.75 + 0.5) / 3, 1e-7);
  EXPECT_NEAR(sm.alpha(0, 0, 2), (0.25 + 0.25) / 2, 1e-7);
  EXPECT_NEAR(sm.alpha(0, 0, 3), 0.25, 1e-7);
  EXPECT_EQ(sm.sink(1), 100.0);
  EXPECT_EQ(sm.sink(2), 0.0);
  const std::vector<double> map = sm.map(0, 0);
  EXPECT_NEAR(map[3], 0.75, 1e-7);
  EXPECT_TRUE(std::isnan(map[2]));
}

std::vector<int> stories_ids(size_t n, size_t offset = 0) {
  std::ifstream f(sstest::asset("text/tinystories.txt"));
  std::string text(40000, '\0');
  f.read(text.data(), text.size());
  text.resize(f.gcount());
  auto ids = find_tokenizer(sstest::kStoriesBin)->encode(text, false);
  return {ids.begin() + offset, ids.begin() + offset + n};
}

TEST(Analysis, PrefillCaptureEqualsDecodeCapture) {
  auto model = Model::load(sstest::kStoriesBin);
  auto be = make_cpu_backend();
  std::vector<int> ids = stories_ids(47, 100);
  ids.insert(ids.begin(), 1);
  // Dense, and a sink cache that evicts within the prefill chunks.
  for (const CachePolicy& p :
       {CachePolicy::make("dense", 0, 48), CachePolicy::make("sinks", 4, 12)}) {
    const AttentionRows a = capture_attention(model, *be, p, ids, 48);
    const AttentionRows b = capture_attention(model, *be, p, ids, 1);
    ASSERT_EQ(a.kept, b.kept);
    EXPECT_EQ(a.kept.back(), std::min(48, p.capacity()));  // the last layer's last query
    for (size_t i = 0; i < a.weights.size(); ++i)
      ASSERT_NEAR(a.weights[i], b.weights[i], 2e-5) << p.describe() << " at " << i;
    SinkMetric ma(5, 8, {0.3, 10, 4, false}), mb(5, 8, {0.3, 10, 4, false});
    ma.add(a);
    mb.add(b);
    for (int l = 0; l < 5; ++l)
      for (int h = 0; h < 8; ++h)
        for (int k = 1; k <= 10; ++k) EXPECT_NEAR(ma.alpha(l, h, k), mb.alpha(l, h, k), 1e-6);
  }
}

TEST(Analysis, Stories260KHasNoSink) {
  auto model = Model::load(sstest::kStoriesBin);
  auto be = make_cpu_backend();
  const std::vector<int> text = stories_ids(6000);
  // Samples of 64 tokens at seeded offsets (Gu et al.'s setting), or of the
  // full training context; with BOS first or not.
  auto metric = [&](int T, bool bos, int n, int mass_k) {
    std::mt19937_64 rng(0);
    SinkMetric sm(5, 8, {0.3, 10, mass_k, false});
    for (int s = 0; s < n; ++s) {
      const size_t at = rng() % (text.size() - T);
      std::vector<int> ids;
      if (bos) ids.push_back(1);
      ids.insert(ids.end(), text.begin() + at, text.begin() + at + T - bos);
      sm.add(capture_attention(model, *be, CachePolicy::make("dense", 0, T), ids, T));
    }
    return sm;
  };
  EXPECT_EQ(metric(64, false, 40, 4).sink(1), 0.0);
  // With BOS first, a few (sample, layer, head) of layers 1-2 pass 0.3: far
  // from a sink model's tens of percent.
  EXPECT_LT(metric(64, true, 40, 4).sink(1), 1.0);
  // Mass on the first 4 positions over the training context.
  const SinkMetric full = metric(512, false, 4, 4);
  EXPECT_NEAR(full.mass_uniform(0), 0.046, 0.002);
  for (int l = 0; l < 5; ++l) {
    EXPECT_GE(full.mass(l), 0.01) << l;
    EXPECT_LE(full.mass(l), 0.03) << l;
  }
  const SinkMetric with_bos = metric(512, true, 4, 4);
  for (int l = 0; l < 5; ++l) EXPECT_LT(with_bos.mass(l), with_bos.mass_uniform(l)) << l;
}

TEST(Analysis, ProbesSeeEveryLayerAndPosition) {
  auto model = Model::load(sstest::kStoriesBin);
  auto be = make_cpu_backend();
  ActivationProbes p(model->config(), 16);
  std::vector<int> ids = stories_ids(15);
  ids.insert(ids.begin(), 1);
  capture_attention(model, *be, CachePolicy::make("dense", 0, 16), ids, 5, &p);
  EXPECT_EQ(p.samples(), 1);
  for (int l = 0; l < 5; ++l) {
    for (int i = 0; i < 16; ++i) {
      EXPECT_GT(p.hidden_norm(l, i), 0) << l << " " << i;
      EXPECT_GT(p.key_norm(l, i), 0);
      EXPECT_GT(p.value_norm(l, i), 0);
      EXPECT_LE(std::abs(p.key0_query_cos(l, i)), 1.0 + 1e-9);
    }
    const auto top = p.top_dims(l, 3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_GE(top[0].max_abs, top[1].max_abs);
    EXPECT_GE(top[2].max_abs, p.median_max_abs(l));
  }
}

TEST(Analysis, RecomputeHasNoCapture) {
  auto model = Model::load(sstest::kStoriesBin);
  auto be = make_cpu_backend();
  const std::vector<int> ids = {1, 2, 3};
  const CachePolicy recompute = CachePolicy::make("recompute", 0, 8);
  EXPECT_THROW(capture_attention(model, *be, recompute, ids, 3), Error);
}

TEST(Analysis, AblationScoresTheSameTargets) {
  auto model = Model::load(sstest::kStoriesBin);
  auto be = make_cpu_backend();
  std::vector<int> ids = stories_ids(299);
  ids.insert(ids.begin(), 1);
  const auto runs = first_token_ablation(model, *be, ids, 4, 60, 13, "\\n");
  ASSERT_EQ(runs.size(), 3u);
  for (const auto& r : runs) {
    EXPECT_EQ(r.nll.size(), ids.size() - 4) << r.setting;
    EXPECT_GT(r.ppl(), 1.0);
    EXPECT_LT(r.ppl(), 50.0);
  }
  EXPECT_EQ(runs[2].policy.describe(), CachePolicy::make("window", 0, 64).describe());
  // The first prediction after the sinks sees the same tokens in every run but the filler one.
  EXPECT_NEAR(runs[0].nll[0], runs[2].nll[0], 1e-9);
  EXPECT_NE(runs[0].nll[0], runs[1].nll[0]);
}

// The CLI: every output file, and every figure.
using sstest::slurp;
TEST(SinksCli, TableJsonCsvAndFigures) {
  const std::string d = sstest::temp_dir();
  auto r = sstest::run_cli("sinks --no-progress --samples 10 -T 32 --text " +
                           sstest::asset("text/tinystories.txt") + " --json " + d +
                           "/s.json --csv " + d + "/s.csv --map " + d + "/map.png --head-map " + d +
                           "/heads.svg --mass-plot " + d + "/mass.png --probe-plot " + d +
                           "/probes.png --probe-json " + d + "/probes.json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Sink_k"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activation probes"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(slurp(d + "/s.json"));
  ASSERT_EQ(j["alpha"].size(), 5u);
  ASSERT_EQ(j["alpha"][0].size(), 8u);
  ASSERT_EQ(j["alpha"][0][0].size(), 10u);
  EXPECT_EQ(j["sink_uniform"].size(), 10u);
  EXPECT_EQ(j["sink_uniform"][0], 0.0);
  EXPECT_EQ(j["samples"], 10);
  std::istringstream csv(slurp(d + "/s.csv"));
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 1 + 5 * 8 * 10);
  EXPECT_EQ(nlohmann::json::parse(slurp(d + "/probes.json"))["layers"].size(), 5u);
  for (const char* f : {"/map.png", "/heads.svg", "/mass.png", "/probes.png"})
    EXPECT_GT(slurp(d + f).size(), 1000u) << f;
}

TEST(SinksCli, AblateReportsThreePerplexities) {
  const std::string d = sstest::temp_dir();
  auto r =
      sstest::run_cli("ablate -n 600 --window 60 --text " + sstest::asset("text/tinystories.txt") +
                      " --json " + d + "/a.json --csv-dir " + d);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(d + "/a.json"));
  ASSERT_EQ(j["runs"].size(), 3u);
  for (const auto& run : j["runs"]) EXPECT_GT(run["ppl"].get<double>(), 1.0);
  EXPECT_EQ(j["runs"][2]["policy"], "window(64)");
  for (const char* f : {"/sinks.csv", "/filler.csv", "/window.csv"})
    EXPECT_EQ(slurp(d + f).rfind("index,token,nll\n", 0), 0u) << f;
}

}  // namespace
