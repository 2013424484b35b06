// StreamingLLM's window on the real SmolLM2-135M-Instruct: under sinks and
// window, per-token NLL equals the naive reference that keeps S sinks, the W
// most recent past tokens and the current one (tests/testmodels.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/stream.h"
#include "real/real_models.h"
#include "testmodels.h"

using namespace ss;
using sstest::engine_nll;

namespace {

// The checkpoint with every tensor dequantised to f32: the engine then runs
// its f32 kernels on exactly the values the naive reference reads (the
// quantised kernels round activations to 8 bits, far above 1e-4 in NLL).
Checkpoint widened(const Checkpoint& ck) {
  Checkpoint out = ck;
  out.tensors = {};
  for (const auto& [name, t] : ck.tensors.tensors) {
    auto buf = std::make_shared<std::vector<float>>(size_t(t.numel()));
    for (int64_t r = 0; r < t.rows(); ++r) dequantize_row(t, r, buf->data() + r * t.cols());
    Tensor f = t;
    f.dtype = DType::F32;
    f.data = buf->data();
    out.tensors.tensors.emplace_back(name, f);
    out.tensors.owners.push_back(buf);
  }
  return out;
}

// 200 Austen tokens as llama.cpp tokenizes them: sinks 4 + 60 past and
// window 64, so 135 tokens stream under eviction. Under sinks, token by token
// and in chunks of 48, every NLL is within 1e-4 of the double reference (max
// 1.5e-5 seen). Under window the first token (SmolLM2's sink) is evicted, the
// activations grow, and f32 rounding reaches a few 1e-4 on a few tokens (max
// 9.6e-5 token by token, 3.4e-4 in chunks of 48 seen), so there: 95% within
// 1e-4 and all within 1e-3. A reference one slot off is more than 1e-2 away.
TEST(RealModelSmolLM2, SinksAndWindowMatchNaive) {
  const std::string path = sstest::real_model(sstest::kSmolLM2);
  if (path.empty()) return;  // real_model failed the test with its one-line reason
  const nlohmann::json refs = sstest::reference("tokens_smollm2.json");
  std::vector<int> tokens;
  for (const auto& c : refs.at("cases"))
    if (c.at("name") == "austen") tokens = c.at("ids").get<std::vector<int>>();
  ASSERT_GE(tokens.size(), 200u);
  tokens.resize(200);
  const Checkpoint ck = widened(load_checkpoint(path));
  ASSERT_EQ(ck.config.n_layers, 30);
  auto model = std::make_shared<const Model>(ck);
  auto check = [](const std::string& what, const std::vector<double>& got,
                  const std::vector<double>& want, double share) {
    ASSERT_EQ(got.size(), want.size());
    size_t within = 0;
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double d = std::abs(got[i] - want[i]);
      within += d <= 1e-4;
      worst = std::max(worst, d);
    }
    std::printf("[%s] %zu of %zu tokens within 1e-4 of the naive reference, max |dNLL| %.2e\n",
                what.c_str(), within, got.size(), worst);
    EXPECT_GE(double(within), share * double(got.size())) << what;
    EXPECT_LE(worst, share == 1.0 ? 1e-4 : 1e-3) << what;
  };
  const CachePolicy sp = CachePolicy::make("sinks", 4, 60), wp = CachePolicy::make("window", 0, 64);
  const auto naive_sinks = sstest::naive_stream_nll(ck, tokens, 4, 60);
  const auto naive_window = sstest::naive_stream_nll(ck, tokens, 0, 64);
  const auto sinks = engine_nll(model, sp, tokens, 1);
  check("sinks 4+60, token by token", sinks, naive_sinks, 1.0);
  check("sinks 4+60, chunks of 48", engine_nll(model, sp, tokens, 48), naive_sinks, 1.0);
  check("window 64, token by token", engine_nll(model, wp, tokens, 1), naive_window, 0.95);
  check("window 64, chunks of 48", engine_nll(model, wp, tokens, 48), naive_window, 0.95);
  // One slot off is visible on the real model too.
  const auto off = sstest::naive_stream_nll(ck, tokens, 4, 59);
  double d = 0;
  for (size_t i = 0; i < off.size(); ++i) d = std::max(d, std::abs(off[i] - sinks[i]));
  EXPECT_GT(d, 1e-2);
}

}  // namespace
