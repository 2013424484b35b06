// Properties of the sink cache: which tokens it keeps, and that any policy,
// cache size and chunking streams exactly like the naive reference.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "cache/kv_cache.h"
#include "model/stream.h"
#include "testmodels.h"

using namespace ss;

// A window of W past tokens is a ring of W + 1 slots: step t keeps
// {0..S-1} ∪ {t-W..t} (clipped to seen tokens), in cache order, and the slots
// it reads hold exactly those tokens.
RC_GTEST_PROP(KvCache, KeepsSinksAndTheLastWindow, ()) {
  const int S = *rc::gen::inRange(0, 6);
  const int W = *rc::gen::inRange(0, 12);
  const int64_t t = *rc::gen::inRange<int64_t>(0, 200);
  const CachePolicy p = CachePolicy::make(S ? "sinks" : "window", S, W);
  RC_ASSERT(p.capacity() == S + W + 1);
  KvCache cache(1, 1, 2, S, p.capacity() - S, true);
  std::vector<int64_t> want;
  for (int64_t j = 0; j <= t; ++j)
    if (j < S || j >= t - W) want.push_back(j);
  // Which token each slot holds after writing tokens 0..t in order.
  std::vector<int64_t> holder(S + W + 1, -1);
  for (int64_t j = 0; j <= t; ++j) holder[cache.slot(j)] = j;
  const KvStep s = cache.step(t);
  std::vector<int64_t> got;
  for (int i = 0; i < s.n_segments; ++i)
    for (int k = 0; k < s.segments[i].count; ++k) {
      const int slot = s.segments[i].first_slot + k;
      RC_ASSERT(s.segments[i].sink == (slot < S));
      got.push_back(holder[slot]);
    }
  RC_ASSERT(got == want);
  RC_ASSERT(s.kept == int(want.size()));
  RC_ASSERT(s.window_pos == t);
  RC_ASSERT(s.sink_pos == s.kept - 1);
}

RC_GTEST_PROP(Stream, AnyPolicyAndChunkingMatchesNaive, ()) {
  const int S = *rc::gen::inRange(0, 4);
  const int W = *rc::gen::inRange(0, 7);
  const int chunk = *rc::gen::inRange(1, 13);
  const int n = *rc::gen::inRange(2, 40);
  const auto layout = *rc::gen::element(RopeLayout::Interleaved, RopeLayout::RotateHalf);
  const int kv = *rc::gen::element(1, 2, 4);
  auto ck = random_llama(sstest::tiny_config(2, 4, kv, layout), *rc::gen::arbitrary<uint32_t>());
  std::vector<int> tokens =
      *rc::gen::container<std::vector<int>>(n, rc::gen::inRange(0, ck.config.vocab_size));
  const auto ref = sstest::naive_stream_nll(ck, tokens, S, W);
  auto model = std::make_shared<const Model>(std::move(ck));
  auto be = make_cpu_backend();
  Stream s(model, *be, CachePolicy::make(S ? "sinks" : "window", S, W), chunk);
  const int V = model->config().vocab_size;
  std::vector<float> logits(size_t(n) * V);
  for (int i = 0; i < n; i += chunk) {
    const int T = std::min(chunk, n - i);
    s.feed(tokens.data() + i, T, logits.data() + size_t(i) * V, true);
  }
  for (int i = 0; i + 1 < n; ++i) {
    const float* l = logits.data() + size_t(i) * V;
    double mx = *std::max_element(l, l + V), sum = 0;
    for (int j = 0; j < V; ++j) sum += std::exp(l[j] - mx);
    RC_ASSERT(std::abs(std::log(sum) + mx - l[tokens[i + 1]] - ref[i]) <= 1e-4);
  }
}

// Eviction is O(1): feeding one token writes its own slot in every layer and
// leaves every other slot's keys and values bit for bit as they were (no
// copying, no re-rotation), and the cache never grows.
TEST(KvCache, EvictionWritesOneSlotAndMovesNothing) {
  auto model = std::make_shared<const Model>(random_llama(sstest::tiny_config(2, 4, 2), 31));
  auto be = make_cpu_backend();
  const CachePolicy p = CachePolicy::make("sinks", 2, 5);
  Stream s(model, *be, p, 1);
  const KvCache& cache = s.cache();
  ASSERT_EQ(cache.capacity(), 8);
  const ModelConfig& c = model->config();
  const size_t per_layer = size_t(c.n_kv_heads) * cache.capacity() * c.head_dim;
  auto snapshot = [&] {
    std::vector<float> all;
    for (int l = 0; l < c.n_layers; ++l)
      for (const float* b : {cache.k(l), cache.v(l)}) all.insert(all.end(), b, b + per_layer);
    return all;
  };
  const size_t bytes = cache.bytes();
  std::vector<float> logits(c.vocab_size);
  for (int t = 0; t < 40; ++t) {
    const std::vector<float> before = snapshot();
    const int tok = (t * 7 + 3) % c.vocab_size;
    s.feed(&tok, 1, logits.data(), false);
    const std::vector<float> after = snapshot();
    const int written = cache.slot(t);
    int changed = 0;
    for (size_t i = 0; i < after.size(); ++i) {
      const int slot = int(i / c.head_dim % cache.capacity());
      if (slot == written) {
        changed += std::memcmp(&before[i], &after[i], sizeof(float)) != 0;
      } else {
        ASSERT_EQ(std::memcmp(&before[i], &after[i], sizeof(float)), 0)
            << "token " << t << " touched slot " << slot << " (its own is " << written << ")";
      }
    }
    EXPECT_GT(changed, 0) << "token " << t << " wrote nothing to slot " << written;
    EXPECT_EQ(cache.bytes(), bytes);
  }
}
