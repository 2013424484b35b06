// Properties of the sink cache: which tokens it keeps, and that any policy,
// cache size and chunking streams exactly like the naive reference.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <set>

#include "cache/kv_cache.h"
#include "model/stream.h"
#include "testmodels.h"

using namespace ss;

// Step t keeps {0..S-1} ∪ {t-W+1..t} (clipped to seen tokens), in cache order,
// and the slots it reads hold exactly those tokens.
RC_GTEST_PROP(KvCache, KeepsSinksAndTheLastWindow, ()) {
  const int S = *rc::gen::inRange(0, 6);
  const int W = *rc::gen::inRange(1, 12);
  const int64_t t = *rc::gen::inRange<int64_t>(0, 200);
  KvCache cache(1, 1, 2, S, W, true);
  std::vector<int64_t> want;
  for (int64_t j = 0; j <= t; ++j)
    if (j < S || j > t - W) want.push_back(j);
  // Which token each slot holds after writing tokens 0..t in order.
  std::vector<int64_t> holder(S + W, -1);
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
  const int W = *rc::gen::inRange(1, 7);
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
