#include "analysis/sink_metric.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace ss {

AttentionRows::AttentionRows(int n_layers, int n_heads, int n_queries, int width)
    : n_layers(n_layers),
      n_heads(n_heads),
      n_queries(n_queries),
      width(width),
      kept(size_t(n_layers) * n_queries),
      weights(size_t(n_layers) * n_heads * n_queries * width) {}

SinkMetric::SinkMetric(int n_layers, int n_heads, const SinkMetricOptions& o,
                       std::vector<bool> local)
    : o_(o),
      local_(std::move(local)),
      L_(n_layers),
      H_(n_heads),
      alpha_(size_t(n_layers) * n_heads * o.max_k),
      above_(alpha_.size()),
      alpha_u_(size_t(n_layers) * o.max_k),
      above_u_(alpha_u_.size()),
      mass_(n_layers),
      mass_u_(n_layers) {
  check(local_.empty() || int(local_.size()) == n_layers, "sink metric: ", local_.size(),
        " local-layer flags for ", n_layers, " layers");
  check(o.epsilon > 0 && o.epsilon < 1, "epsilon must be in (0, 1), got ", o.epsilon);
  check(o.max_k >= 1, "max k must be >= 1, got ", o.max_k);
  check(o.mass_k >= 1, "mass k must be >= 1, got ", o.mass_k);
}

void SinkMetric::add(const AttentionRows& r) {
  check(r.n_layers == L_ && r.n_heads == H_, "attention rows of ", r.n_layers, "x", r.n_heads,
        " (layers x heads) for a metric of ", L_, "x", H_);
  const int K = o_.max_k, Q = r.n_queries;
  check(r.kept.size() == size_t(L_) * Q, "attention rows: ", r.kept.size(), " key counts for ", L_,
        " layers of ", Q, " queries");
  // Per layer: queries that see key position k, and the uniform baseline's alpha_k.
  std::vector<int> count(size_t(L_) * K);
  for (int l = 0; l < L_; ++l) {
    std::vector<double> uniform(K);
    double mass_u = 0;
    int* cl = count.data() + size_t(l) * K;
    for (int i = 0; i < Q; ++i) {
      const int n = r.kept_at(l, i);
      for (int k = 0; k < std::min(n, K); ++k) {
        ++cl[k];
        uniform[k] += 1.0 / n;
      }
      mass_u += double(std::min(n, o_.mass_k)) / n;
    }
    check(cl[K - 1] > 0, "no query of layer ", l, " sees key position ", K,
          ": lower k or use more tokens");
    for (int k = 0; k < K; ++k) {
      uniform[k] /= cl[k];
      alpha_u_[size_t(l) * K + k] += uniform[k];
      above_u_[size_t(l) * K + k] += uniform[k] > o_.epsilon;
    }
    mass_u_[l] += mass_u / Q;
  }
  if (o_.maps) {
    if (n_ == 0) {
      Q_ = Q, W_ = r.width, kept_ = r.kept;
      map_.assign(size_t(L_) * H_ * Q_ * W_, 0.0);
    }
    check(r.kept == kept_ && r.width == W_, "attention maps need samples of one shape");
  }

  std::vector<double> a(K);
  for (int l = 0; l < L_; ++l) {
    double mass = 0;
    for (int h = 0; h < H_; ++h) {
      std::fill(a.begin(), a.end(), 0.0);
      double* map = o_.maps ? map_.data() + (size_t(l) * H_ + h) * Q_ * W_ : nullptr;
      for (int i = 0; i < Q; ++i) {
        const float* w = r.row(l, h, i);
        const int n = r.kept_at(l, i);
        // The one place an op's weights become the metric's: each row divided
        // by its sum. Softmax rows already sum to one; an op whose rows do not
        // (e.g. sigmoid) is measured through this row-normalised proxy.
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += w[j];
        const double inv = sum > 0 ? 1.0 / sum : 0.0;
        for (int k = 0; k < std::min(n, K); ++k) a[k] += w[k] * inv;
        for (int j = 0; j < std::min(n, o_.mass_k); ++j) mass += w[j] * inv;
        if (map)
          for (int j = 0; j < n; ++j) map[size_t(i) * W_ + j] += w[j] * inv;
      }
      double* alpha = alpha_.data() + (size_t(l) * H_ + h) * K;
      double* above = above_.data() + (size_t(l) * H_ + h) * K;
      for (int k = 0; k < K; ++k) {
        const int c = count[size_t(l) * K + k];
        alpha[k] += a[k] / c;
        above[k] += a[k] / c > o_.epsilon;
      }
    }
    mass_[l] += mass / (double(H_) * Q);
  }
  ++n_;
}

double SinkMetric::alpha(int l, int h, int k) const {
  return alpha_[(size_t(l) * H_ + h) * o_.max_k + k - 1] / n_;
}
double SinkMetric::above(int l, int h, int k) const {
  return above_[(size_t(l) * H_ + h) * o_.max_k + k - 1] / n_;
}
double SinkMetric::mass(int l) const { return mass_[l] / n_; }
double SinkMetric::mass_uniform(int l) const { return mass_u_[l] / n_; }

bool SinkMetric::has_local() const {
  const auto n = std::count(local_.begin(), local_.end(), true);
  return n > 0 && n < L_;
}

template <class F>
double SinkMetric::over(LayerSet set, F f) const {
  double s = 0;
  int n = 0;
  for (int l = 0; l < L_; ++l)
    if (in(l, set)) s += f(l), ++n;
  return n ? s / n : std::numeric_limits<double>::quiet_NaN();
}

double SinkMetric::alpha_mean(int k, LayerSet set) const {
  return over(set, [&](int l) {
    double s = 0;
    for (int h = 0; h < H_; ++h) s += alpha(l, h, k);
    return s / H_;
  });
}
double SinkMetric::alpha_uniform(int k, LayerSet set) const {
  return over(set, [&](int l) { return alpha_u_[size_t(l) * o_.max_k + k - 1] / n_; });
}
double SinkMetric::sink_uniform(int k, LayerSet set) const {
  return over(set, [&](int l) { return 100.0 * above_u_[size_t(l) * o_.max_k + k - 1] / n_; });
}
double SinkMetric::sink(int k, LayerSet set) const {
  return over(set, [&](int l) {
    double s = 0;
    for (int h = 0; h < H_; ++h) s += above(l, h, k);
    return 100.0 * s / H_;
  });
}

std::vector<double> SinkMetric::map(int l, int h) const {
  check(o_.maps && n_ > 0, "no attention maps were kept");
  std::vector<double> m(size_t(Q_) * W_, std::numeric_limits<double>::quiet_NaN());
  const double* s = map_.data() + (size_t(l) * H_ + h) * Q_ * W_;
  for (int i = 0; i < Q_; ++i)
    for (int j = 0; j < kept_[size_t(l) * Q_ + i]; ++j)
      m[size_t(i) * W_ + j] = s[size_t(i) * W_ + j] / n_;
  return m;
}

std::vector<double> SinkMetric::layer_map(int l) const {
  std::vector<double> m = map(l, 0);
  for (int h = 1; h < H_; ++h) {
    const std::vector<double> mh = map(l, h);
    for (size_t i = 0; i < m.size(); ++i) m[i] += mh[i];
  }
  for (double& v : m) v /= H_;
  return m;
}

}  // namespace ss
