// Memory over a 1,000,000-token stream: the sinks cache and every buffer are
// sized up front, so peak RSS must stay flat once the stream is under way.
#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/progress.h"
#include "model/stream.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

using namespace ss;

TEST(Memory, PeakRssFlatOverMillionTokens) {
  constexpr int64_t kTokens = 1'000'000, kWarm = 10'000;
  constexpr int kChunk = 256;
  auto model = Model::load(sstest::kStoriesBin);
  std::ifstream f(sstest::asset("text/tinystories.txt"));
  std::stringstream text;
  text << f.rdbuf();
  const std::vector<int> ids = find_tokenizer(sstest::kStoriesBin)->encode(text.str(), true);
  ASSERT_GT(ids.size(), size_t(kChunk));

  // One thread: the model is tiny, and fork/join would only cost time on a busy machine.
  omp_set_num_threads(1);
  openblas_set_num_threads(1);
  auto be = make_cpu_backend();
  Stream stream(model, *be, CachePolicy::make("sinks", 4, 252), kChunk);
  std::vector<float> logits(model->config().vocab_size);
  int64_t warm_rss = 0;
  for (int64_t done = 0; done < kTokens;) {
    // The sample's ids over and over; logits only for the last token of a chunk.
    const size_t at = size_t(done) % ids.size();
    const int T = int(std::min({int64_t(kChunk), int64_t(ids.size() - at), kTokens - done}));
    stream.feed(ids.data() + at, T, logits.data(), false);
    done += T;
    if (!warm_rss && done >= kWarm) warm_rss = peak_rss_bytes();
  }
  const int64_t end_rss = peak_rss_bytes();
  std::printf("peak RSS after %lld tokens: %.2f MiB; after %lld: %.2f MiB; growth %lld bytes\n",
              (long long)kWarm, warm_rss / 1048576.0, (long long)kTokens, end_rss / 1048576.0,
              (long long)(end_rss - warm_rss));
  EXPECT_EQ(stream.n_seen(), kTokens);
  EXPECT_TRUE(std::isfinite(logits[0]));
  EXPECT_LT(end_rss - warm_rss, 1 << 20);
}
