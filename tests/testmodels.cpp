#include "testmodels.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "model/stream.h"

namespace sstest {

using ss::Checkpoint;
using ss::DType;
using ss::ModelConfig;
using ss::Tensor;

ModelConfig tiny_config(int n_layers, int n_heads, int n_kv_heads, ss::RopeLayout layout) {
  ModelConfig c;
  c.dim = 32;
  c.hidden_dim = 44;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = 8;
  c.vocab_size = 50;
  c.max_seq_len = 64;
  c.rope_layout = layout;
  c.rope_theta = 500.0;  // fast-turning angles make position errors visible
  c.tied_embeddings = false;
  return c;
}

namespace {

using Vec = std::vector<double>;
using FVec = std::vector<float>;  // a weight, dequantized (exact in float)

struct Naive {
  const Checkpoint& ck;
  const ModelConfig& c = ck.config;
  mutable std::map<std::string, FVec> weights = {};  // dequantized once: real models are big

  const FVec& w(const std::string& name) const {
    auto it = weights.find(name);
    if (it != weights.end()) return it->second;
    const Tensor* t = ck.tensors.find(name);
    FVec& out = weights[name];
    out.resize(t->numel());
    for (int64_t r = 0; r < t->rows(); ++r) ss::dequantize_row(*t, r, out.data() + r * t->cols());
    return out;
  }
  static Vec matvec(const FVec& W, const Vec& x) {
    Vec y(W.size() / x.size(), 0.0);
    const size_t n = x.size();
    for (size_t r = 0; r < y.size(); ++r) {  // four sums in flight: real models are big
      const float* w = W.data() + r * n;
      double s[4] = {0, 0, 0, 0};
      size_t i = 0;
      for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += w[i + k] * x[i + k];
      for (; i < n; ++i) s[0] += w[i] * x[i];
      y[r] = (s[0] + s[1]) + (s[2] + s[3]);
    }
    return y;
  }
  Vec rmsnorm(const Vec& x, const FVec& g) const {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / x.size() + c.norm_eps);
    Vec y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * g[i];
    return y;
  }
  // Rotates every head of x to position pos, from the textbook formula.
  Vec rope(Vec x, int64_t pos) const {
    const int hd = c.head_dim;
    for (size_t h = 0; h < x.size() / hd; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double th = pos * std::pow(c.rope_theta, -2.0 * i / hd);
        size_t a = h * hd + (c.rope_layout == ss::RopeLayout::Interleaved ? 2 * i : i);
        size_t b = h * hd + (c.rope_layout == ss::RopeLayout::Interleaved ? 2 * i + 1 : i + hd / 2);
        double x0 = x[a], x1 = x[b];
        x[a] = x0 * std::cos(th) - x1 * std::sin(th);
        x[b] = x0 * std::sin(th) + x1 * std::cos(th);
      }
    return x;
  }

  // Runs the stream; calls out(i, logits) after token i. Step t keeps the
  // first `sinks` tokens, the `window` tokens before t and t itself (window
  // < 0: every token), numbered 0..n-1; the query sits at n-1+query_shift.
  template <typename F>
  void run(const std::vector<int>& tokens, int sinks, int window, int query_shift, F out) const {
    const int L = c.n_layers, hd = c.head_dim, H = c.n_heads, group = c.n_heads / c.n_kv_heads;
    std::vector<std::vector<Vec>> K(L), V(L);  // raw (unrotated) keys, values per token
    const FVec& emb = w("model.embed_tokens.weight");
    for (size_t t = 0; t < tokens.size(); ++t) {
      // The kept tokens at this step, in cache order.
      std::vector<size_t> kept;
      for (size_t j = 0; j <= t; ++j)
        if (int64_t(j) < sinks || window < 0 || int64_t(j) >= int64_t(t) - window)
          kept.push_back(j);
      Vec x(emb.begin() + tokens[t] * c.dim, emb.begin() + (tokens[t] + 1) * c.dim);
      for (int l = 0; l < L; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        Vec xb = rmsnorm(x, w(p + "input_layernorm.weight"));
        Vec q = rope(matvec(w(p + "self_attn.q_proj.weight"), xb),
                     int64_t(kept.size()) - 1 + query_shift);
        K[l].push_back(matvec(w(p + "self_attn.k_proj.weight"), xb));
        V[l].push_back(matvec(w(p + "self_attn.v_proj.weight"), xb));
        std::vector<Vec> rk(kept.size());  // kept keys rotated to their place n
        for (size_t n = 0; n < kept.size(); ++n) rk[n] = rope(K[l][kept[n]], int64_t(n));
        Vec att(size_t(H) * hd, 0.0);
        for (int h = 0; h < H; ++h) {
          const int kh = h / group;
          Vec sc(kept.size());
          double mx = -1e300;
          for (size_t n = 0; n < kept.size(); ++n) {
            const Vec& k = rk[n];
            double s = 0;
            for (int i = 0; i < hd; ++i) s += q[h * hd + i] * k[kh * hd + i];
            sc[n] = s / std::sqrt(double(hd));
            mx = std::max(mx, sc[n]);
          }
          double sum = 0;
          for (double& s : sc) sum += (s = std::exp(s - mx));
          for (size_t n = 0; n < kept.size(); ++n)
            for (int i = 0; i < hd; ++i)
              att[h * hd + i] += sc[n] / sum * V[l][kept[n]][kh * hd + i];
        }
        Vec o = matvec(w(p + "self_attn.o_proj.weight"), att);
        for (int i = 0; i < c.dim; ++i) x[i] += o[i];
        xb = rmsnorm(x, w(p + "post_attention_layernorm.weight"));
        Vec gt = matvec(w(p + "mlp.gate_proj.weight"), xb);
        Vec up = matvec(w(p + "mlp.up_proj.weight"), xb);
        for (size_t i = 0; i < gt.size(); ++i) gt[i] = gt[i] / (1 + std::exp(-gt[i])) * up[i];
        Vec dn = matvec(w(p + "mlp.down_proj.weight"), gt);
        for (int i = 0; i < c.dim; ++i) x[i] += dn[i];
      }
      Vec xf = rmsnorm(x, w("model.norm.weight"));
      out(t, matvec(w(c.tied_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"), xf));
    }
  }
};

}  // namespace

double reference_token_nll(const std::vector<double>& logits, int target) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (double l : logits) sum += std::exp(l - mx);
  return std::log(sum) + mx - logits[size_t(target)];
}

std::vector<double> naive_stream_nll(const Checkpoint& ck, const std::vector<int>& tokens,
                                     int sinks, int window, int query_shift) {
  std::vector<double> nll;
  Naive{ck}.run(tokens, sinks, window, query_shift, [&](size_t t, const Vec& logits) {
    if (t + 1 < tokens.size()) nll.push_back(reference_token_nll(logits, tokens[t + 1]));
  });
  return nll;
}

std::vector<std::vector<float>> engine_logits(std::shared_ptr<const ss::Model> m,
                                              const ss::CachePolicy& p,
                                              const std::vector<int>& tokens, int chunk) {
  auto be = ss::make_cpu_backend();
  ss::Stream s(m, *be, p, chunk);
  const int V = m->config().vocab_size;
  std::vector<float> logits(tokens.size() * V);
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const int T = int(std::min<size_t>(chunk, tokens.size() - i));
    s.feed(tokens.data() + i, T, logits.data() + i * V, true);
  }
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < tokens.size(); ++i)
    rows.emplace_back(logits.begin() + i * V, logits.begin() + (i + 1) * V);
  return rows;
}

std::vector<double> engine_nll(std::shared_ptr<const ss::Model> m, const ss::CachePolicy& p,
                               const std::vector<int>& tokens, int chunk) {
  const auto logits = engine_logits(std::move(m), p, tokens, chunk);
  std::vector<double> nll;
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    nll.push_back(ss::token_nll(logits[i].data(), int64_t(logits[i].size()), tokens[i + 1]));
  return nll;
}

std::vector<double> naive_logits(const Checkpoint& ck, const std::vector<int>& tokens) {
  Vec last;
  Naive{ck}.run(tokens, 0, -1, 0, [&](size_t, const Vec& logits) { last = logits; });
  return last;
}

}  // namespace sstest
