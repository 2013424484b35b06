// Picking the next token from logits: greedy, temperature, top-k, top-p.
#pragma once
#include <cstdint>
#include <vector>

namespace ss {

struct SamplerConfig {
  float temperature = 0.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  uint64_t seed = 42;
  // One-line ss::Error on values out of range.
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplerConfig& c);
  // The next token; logits (length n) may be overwritten.
  int sample(float* logits, int n);

 private:
  double uniform();  // [0, 1), reproducible across platforms (splitmix64)
  SamplerConfig c_;
  uint64_t state_;
  std::vector<int> order_;
};

}  // namespace ss
