// Training: whole-model gradients against finite differences for every
// knob, training-path logits against the engine's token-by-token decode,
// and the trainer's optimiser, resume and checkpoints.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/stream.h"
#include "testutil.h"
#include "train/trainer.h"

using namespace ss;
namespace fs = std::filesystem;

namespace {

ModelConfig tiny() {
  ModelConfig c;
  c.family = "sinkstream";
  c.dim = 8;
  c.hidden_dim = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 2;
  c.head_dim = 4;
  c.vocab_size = 13;
  c.max_seq_len = 8;
  return c;
}

struct Variant {
  std::string name;
  std::function<void(ModelConfig&)> set;
};
// gtest prints a parameter in ctest's test names: the variant's name, not its bytes.
void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = {
      {"softmax", [](ModelConfig&) {}},
      {"softmax1", [](ModelConfig& c) { c.attn_op = AttnOp::Softmax1; }},
      {"sigmoid", [](ModelConfig& c) { c.attn_op = AttnOp::Sigmoid; }},
      {"sigmoid_logn",
       [](ModelConfig& c) { c.attn_op = AttnOp::Sigmoid, c.attn_logn_bias = true; }},
      {"sigmoid_norm", [](ModelConfig& c) { c.attn_op = AttnOp::SigmoidNorm; }},
      {"elu1", [](ModelConfig& c) { c.attn_op = AttnOp::Elu1; }},
      {"elu1_norm", [](ModelConfig& c) { c.attn_op = AttnOp::Elu1Norm; }},
      {"sink_logits", [](ModelConfig& c) { c.sink_logits = true; }},
      {"kv_bias", [](ModelConfig& c) { c.kv_bias = true; }},
      {"attn_gate", [](ModelConfig& c) { c.attn_gate = true; }},
      {"sink_token", [](ModelConfig& c) { c.sink_token_id = 12; }},
      {"nope", [](ModelConfig& c) { c.position = PositionKind::None; }},
      {"learned", [](ModelConfig& c) { c.position = PositionKind::Learned; }},
      {"alibi", [](ModelConfig& c) { c.position = PositionKind::Alibi; }},
      {"post_layernorm_gelu",
       [](ModelConfig& c) {
         c.post_norm = true, c.norm = NormKind::LayerNorm;
         c.act = Activation::GELU, c.gated_ffn = false;
       }},
      {"relu_untied",
       [](ModelConfig& c) {
         c.act = Activation::ReLU, c.gated_ffn = false, c.tied_embeddings = false;
       }},
      {"prefix_lm", [](ModelConfig& c) { c.prefix_lm = 3; }},
      {"sliding", [](ModelConfig& c) { c.sliding_window = 3; }},
      {"mqa", [](ModelConfig& c) { c.n_kv_heads = 1; }},
      // 40 rows: attention over tiles (CpuBackend's path for 16 rows and more).
      {"ctx40", [](ModelConfig& c) { c.max_seq_len = 40; }},
      {"ctx40_sliding_kv_bias",
       [](ModelConfig& c) { c.max_seq_len = 40, c.sliding_window = 9, c.kv_bias = true; }},
      {"ctx40_sink_logits_prefix",
       [](ModelConfig& c) { c.max_seq_len = 40, c.sink_logits = true, c.prefix_lm = 5; }},
  };
  return v;
}

// Random parameters far from the tiny initialisation, so that every op is
// exercised away from uniform attention.
void scramble(Trainer& t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.35f);
  for (float& p : t.params()) p = g(rng);
  // Norm gains near 1 keep the residual stream well scaled.
  size_t at = 0;
  for (const ParamSpec& s : model_params(t.config(), t.config().norm == NormKind::LayerNorm)) {
    if (s.role == ParamRole::NormGain)
      for (int64_t i = 0; i < s.numel(); ++i) t.params()[at + i] = 1 + 0.2f * g(rng);
    at += size_t(s.numel());
  }
}

std::vector<int> sample(const ModelConfig& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> s(c.max_seq_len);
  for (int& x : s) x = int(rng() % 12);
  if (c.sink_token_id >= 0) s[0] = c.sink_token_id;
  return s;
}

class TrainVariants : public ::testing::TestWithParam<Variant> {};

}  // namespace

// The loss's directional derivative along each parameter tensor's gradient
// and along a random direction, against central differences.
TEST_P(TrainVariants, WholeModelGradientMatchesFiniteDifferences) {
  ModelConfig c = tiny();
  GetParam().set(c);
  auto be = make_cpu_backend();
  OptimOptions o;
  Trainer t(c, o, *be);
  scramble(t, 12);
  const std::vector<std::vector<int>> batch = {sample(c, 1), sample(c, 2)};
  const int first = t.first_target(lead_tokens(c));
  std::fill(t.grads().begin(), t.grads().end(), 0.0f);
  t.loss(batch, first, true, 1.0);  // gradient of the summed per-token losses
  const std::vector<float> grad = t.grads();
  const std::vector<float> theta = t.params();
  double n_targets = 0;
  for (size_t b = 0; b < batch.size(); ++b) n_targets += c.max_seq_len - first;
  auto summed_loss = [&] { return t.loss(batch, first, false) * n_targets; };

  std::mt19937_64 rng(3);
  std::normal_distribution<double> gauss(0.0, 1.0);
  size_t at = 0;
  int checked = 0;
  for (const ParamSpec& s : model_params(c, c.norm == NormKind::LayerNorm)) {
    const size_t n = size_t(s.numel());
    for (int dir = 0; dir < 2; ++dir) {
      // Direction: the tensor's own gradient, then a random one; unit length.
      std::vector<double> u(n);
      double len = 0;
      for (size_t i = 0; i < n; ++i) {
        u[i] = dir == 0 ? grad[at + i] : gauss(rng);
        len += u[i] * u[i];
      }
      if (len == 0) continue;
      double analytic = 0;
      for (size_t i = 0; i < n; ++i) analytic += (u[i] /= std::sqrt(len)) * grad[at + i];
      const double h = 2e-3;
      auto shifted = [&](double e) {
        for (size_t i = 0; i < n; ++i) t.params()[at + i] = float(theta[at + i] + e * u[i]);
        return summed_loss();
      };
      // Richardson extrapolation of two central differences: O(h^4).
      const double d1 = (shifted(h) - shifted(-h)) / (2 * h);
      const double d2 = (shifted(h / 2) - shifted(-h / 2)) / h;
      const double numeric = (4 * d2 - d1) / 3;
      std::copy(theta.begin() + int64_t(at), theta.begin() + int64_t(at + n),
                t.params().begin() + int64_t(at));
      EXPECT_NEAR(analytic, numeric, 5e-3 + 1e-2 * std::abs(numeric))
          << s.name << (dir == 0 ? " along its gradient" : " along a random direction");
      ++checked;
    }
    at += n;
  }
  EXPECT_GT(checked, 20);
}

// The training path (one forward over the sample with a tape) and the
// engine's token-by-token decode give the same logits.
TEST_P(TrainVariants, TrainingLogitsEqualTokenByTokenDecode) {
  ModelConfig c = tiny();
  GetParam().set(c);
  auto be = make_cpu_backend();
  Trainer t(c, OptimOptions{}, *be);
  scramble(t, 11);
  const std::vector<int> s = sample(c, 5);
  const int T = c.max_seq_len, V = c.vocab_size;
  Workspace ws(c, T);
  Tape tape(c, T);
  ws.tape = &tape;
  KvCache cache(c.n_layers, c.n_kv_heads, c.head_dim, 0, T, false);
  std::vector<float> train(size_t(T) * V);
  t.model()->forward(*be, ws, cache, s.data(), T, train.data(), true);

  // A stream puts the sink token back itself; a prefix arrives whole.
  const int lead = lead_tokens(c);
  Stream stream(t.model(), *be, CachePolicy::make("dense", 0, T), 1);
  std::vector<float> decode(size_t(T) * V);
  int fed = lead;
  if (c.prefix_lm > 0) {
    stream.feed(s.data() + lead, c.prefix_lm, decode.data() + size_t(lead) * V, true);
    fed += c.prefix_lm;
  }
  for (; fed < T; ++fed) stream.feed(s.data() + fed, 1, decode.data() + size_t(fed) * V, false);
  for (size_t i = size_t(lead) * V; i < train.size(); ++i)
    ASSERT_NEAR(train[i], decode[i], 1e-5) << "position " << i / V;
}

// A micro-batch stacked into one forward and backward call (B*T rows per
// GEMM) gives the loss and gradients of the same samples one at a time, up
// to float rounding of the longer sums.
TEST_P(TrainVariants, StackedBatchEqualsOneSampleAtATime) {
  ModelConfig c = tiny();
  GetParam().set(c);
  auto be = make_cpu_backend();
  const std::vector<std::vector<int>> batch = {sample(c, 1), sample(c, 2), sample(c, 3)};
  const int first = std::max({1, lead_tokens(c), c.prefix_lm});
  std::vector<float> grads[2];
  double losses[2];
  for (int stacked = 0; stacked < 2; ++stacked) {
    OptimOptions o;
    o.batch = stacked ? 3 : 1;
    Trainer t(c, o, *be);
    std::fill(t.grads().begin(), t.grads().end(), 0.0f);
    losses[stacked] = t.loss(batch, first, true, 1.0);
    grads[stacked] = t.grads();
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-6 * losses[0]);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < grads[0].size(); ++i) {
    diff += std::pow(double(grads[1][i]) - grads[0][i], 2);
    norm += std::pow(double(grads[0][i]), 2);
  }
  EXPECT_GT(norm, 0);
  EXPECT_LE(std::sqrt(diff / norm), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Knobs, TrainVariants, ::testing::ValuesIn(variants()),
                         [](const auto& info) { return info.param.name; });

// ---- the trainer and `sinkstream train` -------------------------------------

namespace {

const std::string kText = sstest::asset("text/tinystories.txt");

std::string train_args(const std::string& out, const std::string& extra) {
  return "train --no-progress --text " + kText +
         " --dim 32 --layers 2 --heads 2 --ctx 32 --batch 4 --eval-samples 4 "
         "--log-every 1 -t 1 -o " +
         out + " " + extra;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST(Train, LossFallsAndCheckpointWorksInEveryCommand) {
  const std::string out = sstest::temp_dir() + "/run";
  auto r = sstest::run_cli(train_args(out, "--steps 60 --lr 3e-3 --eval-every 30"));
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> log;  // the training lines (evaluations have val_loss)
  for (const std::string& l : lines(sstest::slurp(out + "/log.jsonl")))
    if (l.find("\"loss\":") != std::string::npos) log.push_back(l);
  ASSERT_EQ(log.size(), 60u);
  auto loss_of = [](const std::string& l) { return std::stod(l.substr(l.find("\"loss\":") + 7)); };
  EXPECT_GT(loss_of(log.front()), 5.0);  // about log(259) at the start
  EXPECT_LT(loss_of(log.back()), 3.4);   // byte-level TinyStories after 60 steps
  EXPECT_NE(sstest::slurp(out + "/log.jsonl").find("\"sink\":["), std::string::npos);
  // Uniform attention over 32 tokens puts (1/32) sum_i 1/i on the first.
  double uniform = 0;
  for (int i = 1; i <= 32; ++i) uniform += 1.0 / i / 32;
  const std::string last = lines(sstest::slurp(out + "/log.jsonl")).back();
  EXPECT_NEAR(std::stod(last.substr(last.find("\"alpha1_uniform\":") + 17)), uniform, 1e-9);
  EXPECT_GT(std::stod(last.substr(last.find("\"alpha1\":") + 9)), 0.0);
  const std::string m = out + "/latest";
  r = sstest::run_cli("generate -m " + m + " -p 'Once upon' -n 20 --seed 1");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon", 0), 0u) << r.out;
  r = sstest::run_cli("ppl --no-progress -n 300 --policy sinks --sinks 4 --window 28 -m " + m +
                      " --text " + kText);
  EXPECT_EQ(r.status, 0) << r.err;
  r = sstest::run_cli("sinks --no-progress --samples 4 " + m + " --text " + kText);
  EXPECT_EQ(r.status, 0) << r.err;
  r = sstest::run_cli("info " + m);
  EXPECT_NE(r.out.find("sinkstream"), std::string::npos) << r.out;
  r = sstest::run_cli("plot " + out + "/log.jsonl -o " + out + "/curves.svg");
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(Train, ResumeContinuesBitIdentically) {
  const std::string dir = sstest::temp_dir();
  auto whole =
      sstest::run_cli(train_args(dir + "/a", "--steps 12 --accum 2 --warmup 3 --eval-every 4"));
  ASSERT_EQ(whole.status, 0) << whole.err;
  auto first = sstest::run_cli(train_args(dir + "/b",
                                          "--steps 12 --accum 2 --warmup 3 "
                                          "--eval-every 4 --save-every 5"));
  ASSERT_EQ(first.status, 0) << first.err;
  // Back to step 5 as if killed there: the resumed run redoes steps 6..12.
  std::filesystem::remove_all(dir + "/b/step-10");
  std::filesystem::remove_all(dir + "/b/step-12");
  std::filesystem::remove(dir + "/b/latest");
  std::filesystem::create_directory_symlink("step-5", dir + "/b/latest");
  auto resumed = sstest::run_cli(train_args(dir + "/b",
                                            "--steps 12 --accum 2 --warmup 3 "
                                            "--eval-every 4 --save-every 5 --resume"));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming from"), std::string::npos);
  auto strip_speed = [](std::string s) {  // tokens/s differs run to run
    std::string out;
    for (const std::string& l : lines(s)) out += l.substr(0, l.find(",\"tokens_per_s\"")) + "\n";
    return out;
  };
  EXPECT_EQ(strip_speed(sstest::slurp(dir + "/a/log.jsonl")),
            strip_speed(sstest::slurp(dir + "/b/log.jsonl")));
  EXPECT_EQ(sstest::slurp(dir + "/a/latest/model.safetensors"),
            sstest::slurp(dir + "/b/latest/model.safetensors"));
}

// kill -9 at random moments while checkpoints are written every step: the
// latest checkpoint always loads.
TEST(Train, KilledDuringSavesLeavesALoadableLatest) {
  const std::string out = sstest::temp_dir() + "/run";
  for (int round = 0; round < 6; ++round) {
    const std::string cmd =
        std::string(CLI_BIN) + " " +
        train_args(out, "--steps 100000 --save-every 1 --eval-every 0 --resume") +
        " >/dev/null 2>&1 & pid=$!; sleep 0." + std::to_string(3 + round) +
        "; kill -9 $pid; wait $pid";
    std::system(cmd.c_str());
    if (!std::filesystem::exists(out + "/latest")) continue;
    auto r = sstest::run_cli("info " + out + "/latest");
    EXPECT_EQ(r.status, 0) << "round " << round << ": " << r.err;
  }
  EXPECT_TRUE(std::filesystem::exists(out + "/latest"));
}

TEST(Train, DataModesPlaceTheirTokens) {
  DataOptions d;
  d.bos = 256;
  d.sink_token = 258;
  d.mode = DataMode::Fixed;
  d.fixed_position = 5;
  d.fixed_token = 7;
  std::vector<int> text(1000);
  for (size_t i = 0; i < text.size(); ++i) text[i] = 100 + int(i % 50);
  const Corpus fixed(text, 0.1, 16, d);
  for (int i = 0; i < 5; ++i) {
    const auto s = fixed.train_sample(1, 3, i);
    ASSERT_EQ(s.size(), 16u);
    EXPECT_EQ(s[0], 258);
    EXPECT_EQ(s[1], 256);
    EXPECT_EQ(s[5], 7);
    EXPECT_EQ(s[3], s[2] + 1 - (s[2] == 149 ? 50 : 0));  // natural text around it
  }
  EXPECT_EQ(fixed.train_sample(1, 3, 2), fixed.train_sample(1, 3, 2));  // counter-based
  EXPECT_NE(fixed.train_sample(1, 3, 2), fixed.train_sample(1, 4, 2));
  d.mode = DataMode::Random;
  d.random_positions = {2, 3};
  d.n_text_tokens = 20;
  const Corpus random(text, 0.1, 16, d);
  int changed = 0;
  for (int i = 0; i < 20; ++i) {
    const auto s = random.train_sample(1, 0, i);
    EXPECT_LT(s[2], 20);
    EXPECT_LT(s[3], 20);
    changed += s[4] >= 100;
  }
  EXPECT_EQ(changed, 20);
}

TEST(Train, BadOptionsExitWithOneLine) {
  const std::string out = sstest::temp_dir() + "/bad";
  const std::string cfg = sstest::temp_dir() + "/cfg.json";
  sstest::spit(cfg, R"({"steps": 2, "nonsense": 1})");
  for (const std::string& extra :
       {std::string("--attn-op tanh"), std::string("--position sinusoid"),
        std::string("--mask prefix --prefix 99"), std::string("--lr -1"),
        std::string("--dim 30 --heads 4"), std::string("--data-mode random"),
        std::string("--sink-logits --attn-op sigmoid"), std::string("--config " + cfg),
        std::string("--logn-bias"), std::string("--tokenizer /nonexistent.model")}) {
    auto r = sstest::run_cli(train_args(out, "--steps 2 --eval-every 1 " + extra));
    EXPECT_EQ(r.status, 2) << extra << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << extra << ": " << r.err;
  }
}

TEST(Train, ConfigFileSetsOptionsAndFlagsWin) {
  const std::string dir = sstest::temp_dir();
  sstest::spit(dir + "/cfg.json", R"({"steps": 3, "attn-op": "sigmoid", "kv-bias": true,
                                      "random-positions": [2, 3], "data-mode": "random"})");
  auto r = sstest::run_cli(
      train_args(dir + "/run", "--config " + dir + "/cfg.json --steps 2 --eval-every 1"));
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string config = sstest::slurp(dir + "/run/latest/config.json");
  EXPECT_NE(config.find("\"attn_op\": \"sigmoid\""), std::string::npos) << config;
  EXPECT_NE(config.find("\"kv_bias\": true"), std::string::npos) << config;
  EXPECT_NE(sstest::slurp(dir + "/run/latest/trainer.json").find("\"step\": 2"), std::string::npos);
}
