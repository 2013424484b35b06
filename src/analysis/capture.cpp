#include "analysis/capture.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/stream.h"

namespace ss {
namespace {

double norm2(const float* x, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return std::sqrt(s);
}

}  // namespace

ActivationProbes::ActivationProbes(const ModelConfig& c, int n_positions)
    : L_(c.n_layers),
      P_(n_positions),
      H_(c.n_heads),
      Hkv_(c.n_kv_heads),
      hd_(c.head_dim),
      dim_(c.dim),
      h_(size_t(L_) * P_),
      k_(h_.size()),
      v_(h_.size()),
      cos_(h_.size()),
      key0_(size_t(L_) * c.kv_dim()),
      max_abs_(size_t(L_) * dim_),
      argmax_(max_abs_.size()) {}

void ActivationProbes::observe(int l, int64_t t0, int T, const LayerActivations& a) {
  const int kvd = Hkv_ * hd_, qd = H_ * hd_, group = H_ / Hkv_;
  float* key0 = key0_.data() + size_t(l) * kvd;
  for (int j = 0; j < T; ++j) {
    const int64_t pos = t0 + j;
    check(pos < P_, "probe at position ", pos, " of a sample of ", P_);
    const size_t at = size_t(l) * P_ + pos;
    const float* x = a.x + size_t(j) * dim_;
    const float* k = a.k + size_t(j) * kvd;
    const float* q = a.q + size_t(j) * qd;
    h_[at] += norm2(x, dim_);
    k_[at] += norm2(k, kvd);
    v_[at] += norm2(a.v + size_t(j) * kvd, kvd);
    for (int d = 0; d < dim_; ++d) {
      float& m = max_abs_[size_t(l) * dim_ + d];
      if (std::abs(x[d]) > m) {
        m = std::abs(x[d]);
        argmax_[size_t(l) * dim_ + d] = int(pos);
      }
    }
    if (pos == 0) std::copy_n(k, kvd, key0);
    double cos = 0;
    for (int h = 0; h < H_; ++h) {
      const float* qh = q + h * hd_;
      const float* kh = key0 + (h / group) * hd_;
      double dot = 0;
      for (int i = 0; i < hd_; ++i) dot += double(qh[i]) * kh[i];
      const double den = norm2(qh, hd_) * norm2(kh, hd_);
      cos += den > 0 ? dot / den : 0.0;
    }
    cos_[at] += cos / H_;
  }
}

std::vector<ActivationProbes::TopDim> ActivationProbes::top_dims(int l, int n) const {
  std::vector<TopDim> d(dim_);
  for (int i = 0; i < dim_; ++i)
    d[i] = {i, max_abs_[size_t(l) * dim_ + i], argmax_[size_t(l) * dim_ + i]};
  n = std::min(n, dim_);
  std::partial_sort(d.begin(), d.begin() + n, d.end(),
                    [](const TopDim& a, const TopDim& b) { return a.max_abs > b.max_abs; });
  d.resize(n);
  return d;
}

double ActivationProbes::median_max_abs(int l) const {
  std::vector<float> m(max_abs_.begin() + size_t(l) * dim_,
                       max_abs_.begin() + size_t(l + 1) * dim_);
  std::nth_element(m.begin(), m.begin() + dim_ / 2, m.end());
  return m[dim_ / 2];
}

AttentionRows capture_attention(std::shared_ptr<const Model> model, Backend& be,
                                const CachePolicy& policy, const std::vector<int>& ids, int chunk,
                                ActivationProbes* probes) {
  check(policy.kind != PolicyKind::Recompute,
        "policy recompute has no attention capture (it re-encodes the window at every step); use "
        "dense, window or sinks");
  check(!ids.empty() && chunk >= 1, "capture needs tokens and a chunk size >= 1");
  const ModelConfig& c = model->config();
  const int Q = int(ids.size()) + lead_tokens(c);  // the sink token is a query too
  Stream stream(std::move(model), be, policy, chunk);
  AttentionRows rows(c.n_layers, c.n_heads, Q, std::min(Q, stream.cache().max_capacity()));
  Workspace& ws = stream.workspace();
  ws.hook = [&rows, H = c.n_heads](int l, int64_t t, const KvStep& s, const float* probs) {
    rows.kept_at(l, int(t)) = s.kept;
    for (int h = 0; h < H; ++h) std::copy_n(probs + size_t(h) * s.kept, s.kept, rows.row(l, h, t));
  };
  if (probes)
    ws.probe = [probes](int l, int64_t t0, int T, const LayerActivations& a) {
      probes->observe(l, t0, T, a);
    };
  std::vector<float> logits(c.vocab_size);
  stream.feed(ids.data(), int(ids.size()), logits.data(), false);
  if (probes) probes->finish_sample();
  return rows;
}

}  // namespace ss
