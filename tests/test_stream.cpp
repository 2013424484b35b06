// The engine's streaming semantics against the naive reference. The window
// W counts past tokens (StreamingLLM's recent_size): each token attends the S
// sinks, the W tokens before it and itself.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "io/checkpoint.h"
#include "model/stream.h"
#include "testmodels.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

using namespace ss;
using sstest::engine_nll;

namespace {

std::vector<int> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t(n);
  for (int& x : t) x = int(rng() % vocab);
  return t;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol) << "token " << i + 1;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// The engine under sinks S + window W (S = 0: policy window) against the
// naive reference of the same definition, and against references one slot
// off (a window of W-1 or W+1 past tokens, the query one position late):
// those must differ by far more than the tolerance, so the check can fail.
void expect_matches_only_the_right_window(const Checkpoint& ck, std::shared_ptr<const Model> m,
                                          const std::vector<int>& tokens, int S, int W, int chunk,
                                          double tol) {
  const CachePolicy p = CachePolicy::make(S ? "sinks" : "window", S, W);
  EXPECT_EQ(p.capacity(), S + W + 1);
  const auto got = engine_nll(m, p, tokens, chunk);
  expect_close(got, sstest::naive_stream_nll(ck, tokens, S, W), tol);
  if (W > 0) {
    EXPECT_GT(max_diff(got, sstest::naive_stream_nll(ck, tokens, S, W - 1)), 10 * tol);
  }
  EXPECT_GT(max_diff(got, sstest::naive_stream_nll(ck, tokens, S, W + 1)), 10 * tol);
  EXPECT_GT(max_diff(got, sstest::naive_stream_nll(ck, tokens, S, W, 1)), 10 * tol);
}

struct Case {
  int sinks, window;
  RopeLayout layout;
  int chunk;
};

class SinkCacheVsNaive : public ::testing::TestWithParam<Case> {};

TEST_P(SinkCacheVsNaive, PerTokenNllMatches) {
  const Case c = GetParam();
  auto ck = ss::random_llama(sstest::tiny_config(2, 4, 2, c.layout), 7);
  const auto tokens = random_tokens(8 * (c.sinks + c.window) + 5, ck.config.vocab_size, 3);
  const auto ref = sstest::naive_stream_nll(ck, tokens, c.sinks, c.window);
  auto model = std::make_shared<const Model>(std::move(ck));
  const CachePolicy p = CachePolicy::make(c.sinks ? "sinks" : "window", c.sinks, c.window);
  expect_close(engine_nll(model, p, tokens, c.chunk), ref, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Policies, SinkCacheVsNaive,
                         ::testing::Values(Case{0, 4, RopeLayout::RotateHalf, 1},
                                           Case{0, 7, RopeLayout::Interleaved, 5},
                                           Case{1, 3, RopeLayout::RotateHalf, 1},
                                           Case{1, 6, RopeLayout::Interleaved, 64},
                                           Case{4, 4, RopeLayout::RotateHalf, 3},
                                           Case{4, 9, RopeLayout::Interleaved, 1},
                                           Case{4, 1, RopeLayout::RotateHalf, 64},
                                           Case{2, 5, RopeLayout::RotateHalf, 11},
                                           Case{3, 0, RopeLayout::Interleaved, 4},
                                           Case{0, 0, RopeLayout::RotateHalf, 2}));

// The window counts past tokens: W = 5 is 5 past + the current, and a
// reference one slot off in either direction, or with the query one position
// off, fails the 1e-4 check by a wide margin.
TEST(WindowDefinition, NaiveCheckCatchesOffByOne) {
  auto ck = ss::random_llama(sstest::tiny_config(2, 4, 2), 23);
  const auto tokens = random_tokens(60, ck.config.vocab_size, 8);
  auto model = std::make_shared<const Model>(ss::random_llama(sstest::tiny_config(2, 4, 2), 23));
  for (int S : {0, 4}) {
    SCOPED_TRACE("sinks " + std::to_string(S));
    expect_matches_only_the_right_window(ck, model, tokens, S, 5, 7, 1e-4);
  }
}

// The bundled stories260K on real text: sinks 4 + 20 past and window 24.
TEST(WindowDefinition, Stories260KMatchesNaive) {
  const Checkpoint ck = load_checkpoint(sstest::kStoriesBin);
  auto tok = find_tokenizer(sstest::kStoriesBin);
  auto tokens = tok->encode(sstest::slurp(sstest::repo("tests/data/text/tinystories.txt")), true);
  ASSERT_GT(tokens.size(), 120u);
  tokens.resize(120);
  auto model = Model::load(sstest::kStoriesBin);
  expect_matches_only_the_right_window(ck, model, tokens, 4, 20, 16, 1e-4);
  expect_matches_only_the_right_window(ck, model, tokens, 0, 24, 64, 1e-4);
}

TEST(Dense, MatchesNaiveWithTextPositions) {
  auto ck = ss::random_llama(sstest::tiny_config(2, 4, 1), 11);
  const auto tokens = random_tokens(40, ck.config.vocab_size, 5);
  const auto ref = sstest::naive_stream_nll(ck, tokens, 0, -1);
  auto model = std::make_shared<const Model>(std::move(ck));
  expect_close(engine_nll(model, CachePolicy::make("dense", 0, 40), tokens, 16), ref, 1e-4);
}

TEST(Dense, OverflowIsAnError) {
  auto model = std::make_shared<const Model>(ss::random_llama(sstest::tiny_config(), 1));
  auto be = make_cpu_backend();
  Stream s(model, *be, CachePolicy::make("dense", 0, 4));
  std::vector<int> t = {1, 2, 3, 4, 5};
  std::vector<float> logits(model->config().vocab_size);
  EXPECT_THROW(s.feed(t.data(), 5, logits.data(), false), ss::Error);
}

TEST(HalfWeights, MatchNaiveOnTheSameValues) {
  for (DType dt : {DType::F16, DType::BF16}) {
    auto ck = ss::random_llama(sstest::tiny_config(), 5, dt);
    const auto tokens = random_tokens(30, ck.config.vocab_size, 9);
    const auto ref = sstest::naive_stream_nll(ck, tokens, 2, 6);
    auto model = std::make_shared<const Model>(std::move(ck));
    expect_close(engine_nll(model, CachePolicy::make("sinks", 2, 6), tokens, 8), ref, 1e-4);
  }
}

// A 1-layer model's keys and values depend only on the token itself, so
// re-encoding the window from scratch equals the window cache exactly.
TEST(Recompute, EqualsWindowCacheForOneLayer) {
  auto model = std::make_shared<const Model>(ss::random_llama(sstest::tiny_config(1), 13));
  const auto tokens = random_tokens(50, model->config().vocab_size, 2);
  const auto rec = engine_nll(model, CachePolicy::make("recompute", 0, 6), tokens, 7);
  const auto win = engine_nll(model, CachePolicy::make("window", 0, 6), tokens, 7);
  expect_close(rec, win, 1e-5);
}

// With more layers the two differ (window keys carry older context), and
// recompute equals a fresh dense pass over the last W past tokens and the
// current one.
TEST(Recompute, EqualsFreshPassOverTheWindow) {
  auto ck = ss::random_llama(sstest::tiny_config(3), 17);
  const auto tokens = random_tokens(20, ck.config.vocab_size, 4);
  const int W = 5;
  std::vector<double> ref;
  for (size_t t = 0; t + 1 < tokens.size(); ++t) {
    std::vector<int> ctx(tokens.begin() + std::max<int>(0, int(t) - W), tokens.begin() + t + 1);
    auto l = sstest::naive_logits(ck, ctx);
    double mx = *std::max_element(l.begin(), l.end()), sum = 0;
    for (double v : l) sum += std::exp(v - mx);
    ref.push_back(std::log(sum) + mx - l[tokens[t + 1]]);
  }
  auto model = std::make_shared<const Model>(std::move(ck));
  const auto rec = engine_nll(model, CachePolicy::make("recompute", 0, W), tokens, 3);
  expect_close(rec, ref, 1e-4);
  const auto win = engine_nll(model, CachePolicy::make("window", 0, W), tokens, 3);
  double diff = 0;
  for (size_t i = 0; i < win.size(); ++i) diff = std::max(diff, std::abs(win[i] - rec[i]));
  EXPECT_GT(diff, 1e-3) << "multi-layer window cache should differ from recompute";
}

}  // namespace

// Batched serving: sessions at different positions of their own sink caches
// (one evicting, one still filling, one given a 3-token chunk) in one forward
// call give each session the logits it gets alone.
TEST(SinkCache, BatchedSessionsEqualOneAtATime) {
  const ss::ModelConfig c = sstest::tiny_config(2, 4, 2);
  auto model = std::make_shared<const Model>(ss::random_llama(c, 29));
  auto be = make_cpu_backend();
  const CachePolicy policy = CachePolicy::make("sinks", 2, 6);
  const auto tokens = random_tokens(40, c.vocab_size, 3);
  const int seen[] = {25, 4, 11}, fed[] = {1, 1, 3};
  std::vector<KvCache> alone, batched;
  Workspace ws(c, 8);
  std::vector<float> logits(size_t(c.vocab_size));
  for (int s = 0; s < 3; ++s) {  // the sessions' history, one token at a time
    alone.push_back(make_cache(c, policy));
    for (int t = 0; t < seen[s]; ++t)
      model->forward(*be, ws, alone.back(), &tokens[size_t(s + t)], 1, nullptr, false);
    batched.push_back(alone.back());
  }
  std::vector<Sequence> seqs;
  for (int s = 0; s < 3; ++s)
    seqs.push_back({&batched[size_t(s)], &tokens[size_t(s + seen[s])], fed[s]});
  std::vector<float> got(3 * size_t(c.vocab_size));
  model->forward(*be, ws, seqs, got.data(), false);
  for (int s = 0; s < 3; ++s) {
    model->forward(*be, ws, alone[size_t(s)], &tokens[size_t(s + seen[s])], fed[s], logits.data(),
                   false);
    for (int v = 0; v < c.vocab_size; ++v)
      ASSERT_NEAR(got[size_t(s) * c.vocab_size + v], logits[size_t(v)], 1e-5)
          << "session " << s << " token " << v;
    EXPECT_EQ(batched[size_t(s)].n_seen(), alone[size_t(s)].n_seen());
  }
}
