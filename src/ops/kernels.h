// The maths of every op, forward and backward, templated on the scalar type.
// CpuBackend instantiates them with float (with the run-time dispatched
// dot/axpy of ops/simd.h underneath, and calls that file's f32 norms, RoPE
// and activations directly); the gradient tests instantiate them with double and compare against
// finite differences. Each op is defined once, here.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "model/config.h"
#include "ops/simd.h"

namespace ss {

// One contiguous run of cache slots that shares a query rotation.
struct KvSegment {
  int first_slot;
  int count;
  bool sink;  // uses the sink-rotated query
};

// What one attention call reads: the layer's keys/values, laid out
// [n_kv_heads][capacity][head_dim], and the kept slots in cache order.
template <class S>
struct KvViewT {
  const S* k;
  const S* v;
  int capacity;
  const KvSegment* segments;
  int n_segments;
  int kept;  // total slots over all segments
};
using KvView = KvViewT<float>;

// The shape and extras of one attention call.
template <class S>
struct AttentionParamsT {
  int n_heads, n_kv_heads, head_dim;
  float scale = 0;    // query-key scale; 0: 1/sqrt(head_dim)
  float softcap = 0;  // scores -> softcap * tanh(scores / softcap) (Gemma 2); 0: off
  // ALiBi: score += -alibi_scale * slope[h] * (n-1-j) for the j-th kept slot
  // in cache order; nullptr: none.
  const float* alibi_slopes = nullptr;
  float alibi_scale = 1;
  // Learned per-head sink logits (gpt-oss): an extra term exp(s_h) in each
  // softmax denominator that no value is attached to; nullptr: none.
  const S* sink_logits = nullptr;
  AttnOp op = AttnOp::Softmax;
  bool logn_bias = false;  // sigmoid ops: score - log(kept)
  // A learned key/value slot seen by every query after the cache slots,
  // [n_kv_heads][head_dim] each; nullptr: none.
  const S* kv_bias_k = nullptr;
  const S* kv_bias_v = nullptr;
};
using AttentionParams = AttentionParamsT<float>;

// log sum_i exp(x_i) over n logits, stably, summed in double.
inline double log_sum_exp(const float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  return std::log(sum) + mx;
}
// -log softmax(logits)[target]: the negative log-likelihood of one token.
inline double token_nll(const float* logits, int64_t n, int target) {
  return log_sum_exp(logits, n) - logits[target];
}

// Short dot products (head dims) and y += a x: dispatched for float, scalar
// for double (the reference of the gradient tests).
inline float dot(const float* a, const float* b, int n) { return simd::dot(a, b, n); }
inline void axpy(float a, const float* x, float* y, int n) { simd::axpy(a, x, y, n); }
inline double dot(const double* a, const double* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
inline void axpy(double a, const double* x, double* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}
template <class S>
void attn_op_forward(AttnOp op, bool logn, S* s, int n, const S* extra, int n_extra);

// The dot/axpy above and attn_op_forward as the attention templates'
// default; ops/simd.cpp passes each target's inlined vector forms instead.
struct DotAxpy {
  template <class S>
  static S dot(const S* a, const S* b, int n) {
    return ss::dot(a, b, n);
  }
  template <class S>
  static void axpy(S a, const S* x, S* y, int n) {
    ss::axpy(a, x, y, n);
  }
  template <class S>
  static void op_forward(AttnOp op, bool logn, S* s, int n, const S* extra, int n_extra) {
    attn_op_forward(op, logn, s, n, extra, n_extra);
  }
};

// ---- norms -------------------------------------------------------------------

// RMSNorm (b unused) or LayerNorm (b may be null), row by row.
template <class S>
void norm_forward(NormKind kind, const S* x, const S* g, const S* b, S* y, int T, int dim,
                  float eps) {
  for (int t = 0; t < T; ++t, x += dim, y += dim) {
    double mean = 0, ss = 0;
    if (kind == NormKind::LayerNorm) {
      for (int i = 0; i < dim; ++i) mean += x[i];
      mean /= dim;
    }
    for (int i = 0; i < dim; ++i) ss += (x[i] - mean) * (x[i] - mean);
    const S s = S(1.0 / std::sqrt(ss / dim + eps)), m = S(mean);
    for (int i = 0; i < dim; ++i) y[i] = (x[i] - m) * s * g[i] + (b ? b[i] : S(0));
  }
}

// dx = d norm / dx . dy (written); dg, db accumulate (db may be null).
template <class S>
void norm_backward(NormKind kind, const S* x, const S* g, const S* dy, S* dx, S* dg, S* db, int T,
                   int dim, float eps) {
  for (int t = 0; t < T; ++t, x += dim, dy += dim, dx += dim) {
    double mean = 0, ss = 0;
    if (kind == NormKind::LayerNorm) {
      for (int i = 0; i < dim; ++i) mean += x[i];
      mean /= dim;
    }
    for (int i = 0; i < dim; ++i) ss += (x[i] - mean) * (x[i] - mean);
    const double s = 1.0 / std::sqrt(ss / dim + eps);
    // xhat = (x - m) s; y = xhat g + b; dxhat = dy g.
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int i = 0; i < dim; ++i) {
      const double xhat = (x[i] - mean) * s, dxhat = double(dy[i]) * g[i];
      dg[i] += S(dy[i] * xhat);
      if (db) db[i] += dy[i];
      sum_dxhat += dxhat;
      sum_dxhat_xhat += dxhat * xhat;
    }
    if (kind == NormKind::RMSNorm) sum_dxhat = 0;  // no mean subtracted
    for (int i = 0; i < dim; ++i) {
      const double xhat = (x[i] - mean) * s, dxhat = double(dy[i]) * g[i];
      dx[i] = S(s * (dxhat - sum_dxhat / dim - xhat * sum_dxhat_xhat / dim));
    }
  }
}

// ---- activations ---------------------------------------------------------------

template <class S>
S activate(Activation act, S x) {
  switch (act) {
    case Activation::SiLU:
      return x / (S(1) + std::exp(-x));
    case Activation::GELU:
      return S(0.5) * x * (S(1) + std::erf(x * S(M_SQRT1_2)));
    case Activation::GELUTanh:
      return S(0.5) * x * (S(1) + std::tanh(S(0.7978845608028654) * (x + S(0.044715) * x * x * x)));
    case Activation::ReLU:
      return x > 0 ? x : S(0);
  }
  return x;
}

template <class S>
S activate_grad(Activation act, S x) {
  switch (act) {
    case Activation::SiLU: {
      const S sg = S(1) / (S(1) + std::exp(-x));
      return sg * (S(1) + x * (S(1) - sg));
    }
    case Activation::GELU:
      return S(0.5) * (S(1) + std::erf(x * S(M_SQRT1_2))) +
             x * std::exp(S(-0.5) * x * x) * S(0.3989422804014327);
    case Activation::GELUTanh: {
      const S c = S(0.7978845608028654), u = c * (x + S(0.044715) * x * x * x);
      const S th = std::tanh(u);
      return S(0.5) * (S(1) + th) +
             S(0.5) * x * (S(1) - th * th) * c * (S(1) + S(3 * 0.044715) * x * x);
    }
    case Activation::ReLU:
      return x > 0 ? S(1) : S(0);
  }
  return 1;
}

// h = act(g) * u (gated), or act(g) when u is null.
template <class S>
void activation_forward(Activation act, const S* g, const S* u, S* h, int64_t n) {
  for (int64_t i = 0; i < n; ++i) h[i] = u ? activate(act, g[i]) * u[i] : activate(act, g[i]);
}

// From dh: dg (written) and du (written; when u is non-null).
template <class S>
void activation_backward(Activation act, const S* g, const S* u, const S* dh, S* dg, S* du,
                         int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const S d = activate_grad(act, g[i]);
    dg[i] = dh[i] * d * (u ? u[i] : S(1));
    if (u) du[i] = dh[i] * activate(act, g[i]);
  }
}

// ---- RoPE ----------------------------------------------------------------------

// Rotates the first rot dims of n_heads heads of x in place by angles
// (cos, sin)[rot/2]; sin negated rotates back (the backward pass).
template <class S>
void rope_rotate(S* x, int n_heads, int hd, int rot, RopeLayout layout, const float* cos,
                 const float* sin, bool inverse) {
  const int half = rot / 2;
  for (int h = 0; h < n_heads; ++h, x += hd) {
    for (int i = 0; i < half; ++i) {
      // Interleaved pairs (2i, 2i+1); rotate-half pairs (i, i + r/2).
      S* p0 = layout == RopeLayout::Interleaved ? x + 2 * i : x + i;
      S* p1 = layout == RopeLayout::Interleaved ? x + 2 * i + 1 : x + i + half;
      const S c = cos[i], s = inverse ? -sin[i] : sin[i];
      const S v0 = *p0, v1 = *p1;
      *p0 = v0 * c - v1 * s;
      *p1 = v0 * s + v1 * c;
    }
  }
}

// ---- attention ops -------------------------------------------------------------

// The op's weights from one query's scores, in place: s[0..n) -> p[0..n).
// extra: logits that join a softmax denominator with no value (gpt-oss sink
// logit, and softmax1's zero), n_extra of them. Non-normalising ops ignore them.
template <class S>
void attn_op_forward(AttnOp op, bool logn, S* s, int n, const S* extra, int n_extra) {
  if (op == AttnOp::Softmax || op == AttnOp::Softmax1) {
    S mx = -INFINITY;
    for (int j = 0; j < n; ++j) mx = std::max(mx, s[j]);
    for (int e = 0; e < n_extra; ++e) mx = std::max(mx, extra[e]);
    S sum = 0;
    for (int e = 0; e < n_extra; ++e) sum += std::exp(extra[e] - mx);
    for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
    const S inv = S(1) / sum;
    for (int j = 0; j < n; ++j) s[j] *= inv;
    return;
  }
  const S bias = logn ? -S(std::log(double(n))) : S(0);
  S sum = 0;
  for (int j = 0; j < n; ++j) {
    const S u = s[j] + bias;
    s[j] = op == AttnOp::Sigmoid || op == AttnOp::SigmoidNorm ? S(1) / (S(1) + std::exp(-u))
           : u > 0                                            ? u + S(1)
                                                              : std::exp(u);
    sum += s[j];
  }
  if (normalises(op))
    for (int j = 0; j < n; ++j) s[j] /= sum;
}

// The softmax ops' extra logits (sink logits, softmax1's zero) accumulated
// into dextra, given the slots' weights p and pdp = sum p dp: the extras
// share what the slots leave, 1 - sum p, in proportion to exp(e); an extra
// has no value, so its gradient is -p_e * pdp.
template <class S>
void softmax_extras_backward(const S* p, int n, S pdp, const S* extra, int n_extra, S* dextra) {
  if (!dextra || n_extra == 0) return;
  S left = 1, emx = -INFINITY, esum = 0;
  for (int j = 0; j < n; ++j) left -= p[j];
  for (int e = 0; e < n_extra; ++e) emx = std::max(emx, extra[e]);
  for (int e = 0; e < n_extra; ++e) esum += std::exp(extra[e] - emx);
  for (int e = 0; e < n_extra; ++e) dextra[e] -= left * std::exp(extra[e] - emx) / esum * pdp;
}

// Backward of attn_op_forward: from the scores s, the weights p and dp,
// writes ds (which may alias s); accumulates into dextra (may be null) the extras' gradients.
template <class S>
void attn_op_backward(AttnOp op, bool logn, const S* s, const S* p, const S* dp, S* ds, int n,
                      const S* extra, int n_extra, S* dextra) {
  S pdp = 0;
  for (int j = 0; j < n; ++j) pdp += p[j] * dp[j];
  if (op == AttnOp::Softmax || op == AttnOp::Softmax1) {
    for (int j = 0; j < n; ++j) ds[j] = p[j] * (dp[j] - pdp);
    softmax_extras_backward(p, n, pdp, extra, n_extra, dextra);
    return;
  }
  const S bias = logn ? -S(std::log(double(n))) : S(0);
  // r = f(u): the unnormalised weight; p = r (plain) or r / R (normalised).
  S R = 0;
  for (int j = 0; j < n; ++j) {
    const S u = s[j] + bias;
    R += op == AttnOp::Sigmoid || op == AttnOp::SigmoidNorm ? S(1) / (S(1) + std::exp(-u))
         : u > 0                                            ? u + S(1)
                                                            : std::exp(u);
  }
  for (int j = 0; j < n; ++j) {
    const S u = s[j] + bias;
    const S dr = normalises(op) ? (dp[j] - pdp) / R : dp[j];
    S fprime;
    if (op == AttnOp::Sigmoid || op == AttnOp::SigmoidNorm) {
      const S r = S(1) / (S(1) + std::exp(-u));
      fprime = r * (S(1) - r);
    } else {
      fprime = u > 0 ? S(1) : std::exp(u);
    }
    ds[j] = dr * fprime;
  }
}

// The extra softmax logits of head h: its sink logit and softmax1's zero.
template <class S>
int attn_extras(const AttentionParamsT<S>& ap, int h, S* extra) {
  int n = 0;
  if (ap.op == AttnOp::Softmax || ap.op == AttnOp::Softmax1) {
    if (ap.sink_logits) extra[n++] = ap.sink_logits[h];
    if (ap.op == AttnOp::Softmax1) extra[n++] = 0;
  }
  return n;
}

// The query-key scale: ap.scale, else 1/sqrt(head_dim).
template <class S>
S attn_scale(const AttentionParamsT<S>& ap) {
  return ap.scale > 0 ? S(ap.scale) : S(1) / std::sqrt(S(ap.head_dim));
}
// A scaled query-key product through the soft-cap (when cap > 0).
template <class S>
S attn_softcap(S x, S cap) {
  return cap > 0 ? cap * std::tanh(x / cap) : x;
}

// Head h's pre-op scores against the kept slots in cache order, then the
// kv-bias slot when present; returns how many (kept or kept + 1).
template <class S, class Ops = DotAxpy>
int attn_scores(const S* q_win, const S* q_sink, const KvViewT<S>& kv,
                const AttentionParamsT<S>& ap, int h, S* s) {
  const int hd = ap.head_dim, group = ap.n_heads / ap.n_kv_heads;
  const S scale = attn_scale(ap), cap = S(ap.softcap);
  auto score = [&](S qk) { return attn_softcap(qk * scale, cap); };
  const S* K = kv.k + int64_t(h / group) * kv.capacity * hd;
  const S slope = ap.alibi_slopes ? S(ap.alibi_slopes[h] * ap.alibi_scale) : S(0);
  int j = 0;
  for (int g = 0; g < kv.n_segments; ++g) {
    const KvSegment& seg = kv.segments[g];
    const S* q = (seg.sink ? q_sink : q_win) + h * hd;
    for (int i = 0; i < seg.count; ++i, ++j)
      s[j] =
          score(Ops::dot(K + int64_t(seg.first_slot + i) * hd, q, hd)) - slope * S(kv.kept - 1 - j);
  }
  if (ap.kv_bias_k) s[j++] = score(Ops::dot(ap.kv_bias_k + (h / group) * hd, q_win + h * hd, hd));
  return j;
}

// One query, every head: out[h] = sum_j w_j v_j with w = op(scores). s is
// scratch for kept + 1 weights per head. When probs is non-null it receives
// [n_heads][kept] weights over the cache slots, row-normalised for ops that
// do not normalise (the analysis proxy).
template <class S, class Ops = DotAxpy>
void attention_head(const S* q_win, const S* q_sink, const KvViewT<S>& kv,
                    const AttentionParamsT<S>& ap, int h, S* s, S* out, float* probs) {
  const int hd = ap.head_dim, group = ap.n_heads / ap.n_kv_heads;
  const int n = attn_scores<S, Ops>(q_win, q_sink, kv, ap, h, s);
  S extra[2];
  Ops::op_forward(ap.op, ap.logn_bias, s, n, extra, attn_extras(ap, h, extra));
  const S* V = kv.v + int64_t(h / group) * kv.capacity * hd;
  S* o = out + h * hd;
  std::fill(o, o + hd, S(0));
  int j = 0;
  for (int g = 0; g < kv.n_segments; ++g) {
    const KvSegment& seg = kv.segments[g];
    for (int i = 0; i < seg.count; ++i, ++j)
      Ops::axpy(s[j], V + int64_t(seg.first_slot + i) * hd, o, hd);
  }
  if (ap.kv_bias_v) Ops::axpy(s[j], ap.kv_bias_v + (h / group) * hd, o, hd);
  if (probs) {
    S sum = 0;
    for (j = 0; j < kv.kept; ++j) sum += s[j];
    const S inv = normalises(ap.op) || sum == 0 ? S(1) : S(1) / sum;
    for (j = 0; j < kv.kept; ++j) probs[int64_t(h) * kv.kept + j] = float(s[j] * inv);
  }
}

// Gradients of one query's attention (every head) given dout [n_heads*hd]:
// dq (written), and accumulated: dk, dv in the cache layout of kv, and the
// sink logits' and kv-bias slot's gradients (each may be null when absent).
// The query uses one rotation (q_win) for every slot: a dense cache.
template <class S>
void attention_backward(const S* q, const KvViewT<S>& kv, const AttentionParamsT<S>& ap,
                        const S* dout, S* dq, S* dk, S* dv, S* dsink, S* dkb_k, S* dkb_v, S* s,
                        S* p, S* dp) {
  const int hd = ap.head_dim, group = ap.n_heads / ap.n_kv_heads;
  const S scale = attn_scale(ap);  // softcap: forward only
  for (int h = 0; h < ap.n_heads; ++h) {
    const int64_t base = int64_t(h / group) * kv.capacity * hd;
    const int n = attn_scores(q, q, kv, ap, h, s);
    std::copy(s, s + n, p);
    S extra[2];
    const int n_extra = attn_extras(ap, h, extra);
    attn_op_forward(ap.op, ap.logn_bias, p, n, extra, n_extra);
    const S* go = dout + h * hd;
    // Slot j's key and value, and where their gradients go.
    auto slot = [&](int j, const S*& k, const S*& v, S*& gk, S*& gv) {
      if (j == kv.kept) {  // the kv-bias slot
        k = ap.kv_bias_k + (h / group) * hd, v = ap.kv_bias_v + (h / group) * hd;
        gk = dkb_k ? dkb_k + (h / group) * hd : nullptr;
        gv = dkb_v ? dkb_v + (h / group) * hd : nullptr;
        return;
      }
      int first = 0;
      for (int g = 0; g < kv.n_segments; first += kv.segments[g++].count) {
        if (j < first + kv.segments[g].count) {
          const int64_t at = base + int64_t(kv.segments[g].first_slot + j - first) * hd;
          k = kv.k + at, v = kv.v + at, gk = dk + at, gv = dv + at;
          return;
        }
      }
    };
    for (int j = 0; j < n; ++j) {
      const S *k = nullptr, *v = nullptr;
      S *gk = nullptr, *gv = nullptr;
      slot(j, k, v, gk, gv);
      dp[j] = dot(go, v, hd);
      if (gv) axpy(p[j], go, gv, hd);
    }
    S dextra[2] = {0, 0};
    attn_op_backward(ap.op, ap.logn_bias, s, p, dp, s, n, extra, n_extra, dextra);
    if (dsink && ap.sink_logits) dsink[h] += dextra[0];
    S* gq = dq + h * hd;
    std::fill(gq, gq + hd, S(0));
    for (int j = 0; j < n; ++j) {
      const S *k = nullptr, *v = nullptr;
      S *gk = nullptr, *gv = nullptr;
      slot(j, k, v, gk, gv);
      axpy(s[j] * scale, k, gq, hd);
      if (gk) axpy(s[j] * scale, q + h * hd, gk, hd);
    }
  }
}

}  // namespace ss
