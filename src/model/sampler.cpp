#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace ss {

void SamplerConfig::validate() const {
  check(std::isfinite(temperature) && temperature >= 0, "--temperature must be >= 0, got ",
        temperature);
  check(top_k >= 0, "--top-k must be >= 0, got ", top_k);
  check(top_p > 0 && top_p <= 1, "--top-p must be in (0, 1], got ", top_p);
}

Sampler::Sampler(const SamplerConfig& c) : c_(c), state_(c.seed) { c.validate(); }

double Sampler::uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

int Sampler::sample(float* logits, int n) {
  if (c_.temperature == 0) return int(std::max_element(logits, logits + n) - logits);
  // Candidates by descending logit, cut by top-k, softmax at the temperature, cut by top-p.
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  const int k = c_.top_k > 0 ? std::min(c_.top_k, n) : n;
  auto by_logit = [&](int a, int b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (k < n || c_.top_p < 1) {
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), by_logit);
  }
  const float mx = *std::max_element(logits, logits + n);
  double total = 0;
  for (int i = 0; i < k; ++i) {
    float& l = logits[order_[i]];
    l = float(std::exp((l - mx) / c_.temperature));
    total += l;
  }
  int m = k;
  if (c_.top_p < 1) {
    double cum = 0;
    for (int i = 0; i < k; ++i) {
      cum += logits[order_[i]] / total;
      if (cum >= c_.top_p) {
        m = i + 1;
        break;
      }
    }
    total = 0;
    for (int i = 0; i < m; ++i) total += logits[order_[i]];
  }
  double r = uniform() * total;
  for (int i = 0; i < m; ++i) {
    r -= logits[order_[i]];
    if (r < 0) return order_[i];
  }
  return order_[m - 1];
}

}  // namespace ss
