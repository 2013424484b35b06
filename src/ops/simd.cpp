// The f32 kernels of the ops (ops/simd.h), compiled for every Highway target
// (foreach_target) and dispatched at run time. Short rows (head dims of 8
// on a 16-lane target) finish on 4-lane vectors, then lane by lane.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/simd.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include "ops/simd.h"

#include <algorithm>
#include <cmath>

#include "ops/kernels.h"

HWY_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Calls f(d, i) for the vectors of d over [0, n): full vectors, then 4
// lanes, then one lane at a time.
template <class D = hn::ScalableTag<float>, class F>
HWY_INLINE void Steps(int64_t n, F& f) {
  const D d;
  const hn::CappedTag<float, 4> d4;
  const hn::CappedTag<float, 1> d1;
  int64_t i = 0;
  for (const auto L = int64_t(hn::Lanes(d)); i + L <= n; i += L) f(d, i);
  for (const auto L = int64_t(hn::Lanes(d4)); i + L <= n; i += L) f(d4, i);
  for (; i < n; ++i) f(d1, i);
}

template <class D>
HWY_INLINE float DotPart(D d, const float* a, const float* b, int& i, int n) {
  const int L = int(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = a0;
  for (; i + 2 * L <= n; i += 2 * L) {
    a0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), a0);
    a1 = hn::MulAdd(hn::LoadU(d, a + i + L), hn::LoadU(d, b + i + L), a1);
  }
  for (; i + L <= n; i += L) a0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), a0);
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
}

template <class D>
HWY_INLINE float DotOver(D d, const float* a, const float* b, int n) {
  int i = 0;
  float s = DotPart(d, a, b, i, n);
  if (n - i >= 4) s += DotPart(hn::CappedTag<float, 4>(), a, b, i, n);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float Dot(const float* a, const float* b, int n) {
  return DotOver(hn::ScalableTag<float>(), a, b, n);
}

struct AxpyStep {
  float a;
  const float* x;
  float* y;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    hn::StoreU(hn::MulAdd(hn::Set(d, a), hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, y + i);
  }
};

void Axpy(float a, const float* x, float* y, int n) {
  AxpyStep f{a, x, y};
  Steps(n, f);
}

// x[i] = f(x[i]) over n floats (only summed, x unchanged, if !kStore), full
// vectors then the rest through a full-vector buffer (Highway 1.0.3's
// MaskedLoad and BlendedStore read and write a whole vector below
// AVX-512); returns the sum of the results.
template <bool kStore = true, class D, class F>
HWY_INLINE float MapSum(D d, float* x, int n, F f) {
  const int L = int(hn::Lanes(d));
  auto sum = hn::Zero(d);
  int i = 0;
  for (; i + L <= n; i += L) {
    const auto y = f(hn::LoadU(d, x + i));
    if constexpr (kStore) hn::StoreU(y, d, x + i);
    sum = hn::Add(sum, y);
  }
  if (i < n) {
    HWY_ALIGN float tail[hn::MaxLanes(d)] = {};
    std::copy(x + i, x + n, tail);
    const auto m = hn::FirstN(d, size_t(n - i));
    const auto y = hn::IfThenElseZero(m, f(hn::Load(d, tail)));
    if constexpr (kStore) {
      hn::Store(y, d, tail);
      std::copy(tail, tail + (n - i), x + i);
    }
    sum = hn::Add(sum, y);
  }
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

template <class D>
HWY_INLINE float MaxOver(D d, const float* x, int n) {
  const int L = int(hn::Lanes(d));
  auto mx = hn::Set(d, -INFINITY);
  int i = 0;
  for (; i + L <= n; i += L) mx = hn::Max(mx, hn::LoadU(d, x + i));
  for (; i < n; ++i) mx = hn::Max(mx, hn::Set(d, x[i]));
  return hn::GetLane(hn::MaxOfLanes(d, mx));
}

// attn_op_forward (ops/kernels.h) on floats, its exp vectorised (Highway's,
// 1 ulp); the extras' few exps stay scalar.
void AttnOpRow(AttnOp op, bool logn, float* s, int n, const float* extra, int n_extra) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  if (op == AttnOp::Softmax || op == AttnOp::Softmax1) {
    float mx = MaxOver(d, s, n);
    for (int e = 0; e < n_extra; ++e) mx = std::max(mx, extra[e]);
    float sum = 0;
    for (int e = 0; e < n_extra; ++e) sum += std::exp(extra[e] - mx);
    const V vmx = hn::Set(d, mx);
    sum += MapSum(d, s, n, [&](V x) { return hn::Exp(d, hn::Sub(x, vmx)); });
    const V inv = hn::Set(d, 1.0f / sum);
    MapSum(d, s, n, [&](V x) { return hn::Mul(x, inv); });
    return;
  }
  const V bias = hn::Set(d, logn ? -float(std::log(double(n))) : 0.0f), one = hn::Set(d, 1.0f);
  const bool sigmoid = op == AttnOp::Sigmoid || op == AttnOp::SigmoidNorm;
  const float sum = MapSum(d, s, n, [&](V x) {
    const V u = hn::Add(x, bias);
    if (sigmoid) {  // with e = exp(-|u|) <= 1, as SiLU below
      const V e = hn::Exp(d, hn::Neg(hn::Abs(u)));
      return hn::Div(hn::IfThenElse(hn::Lt(u, hn::Zero(d)), e, one), hn::Add(one, e));
    }
    return hn::IfThenElse(hn::Gt(u, hn::Zero(d)), hn::Add(u, one),
                          hn::Exp(d, hn::Min(u, hn::Zero(d))));
  });
  if (normalises(op)) {
    const V vs = hn::Set(d, sum);
    MapSum(d, s, n, [&](V x) { return hn::Div(x, vs); });
  }
}

// token_nll (ops/kernels.h) of one row of logits, exp vectorised, summed in
// float over blocks of 1024 and the blocks in double (so a 49k vocabulary
// sums as accurately as 259); with grad, the row becomes scale *
// (softmax(x) - onehot(target)).
double CrossEntropyRow(float* x, int n, int target, float scale, bool grad) {
  const hn::ScalableTag<float> d;
  using V = hn::Vec<decltype(d)>;
  const float mx = MaxOver(d, x, n), xt = x[target];
  const V vmx = hn::Set(d, mx);
  const auto ex = [&](V v) { return hn::Exp(d, hn::Sub(v, vmx)); };
  constexpr int kBlock = 1024;
  double sum = 0;
  for (int b = 0; b < n; b += kBlock) {  // with grad the exps stay in the row
    const int m = std::min(kBlock, n - b);
    sum += grad ? MapSum(d, x + b, m, ex) : MapSum<false>(d, x + b, m, ex);
  }
  if (grad) {
    const V k = hn::Set(d, float(scale / sum));
    MapSum(d, x, n, [&](V v) { return hn::Mul(v, k); });
    x[target] -= scale;
  }
  return std::log(sum) + mx - xt;
}

// attn_op_backward (ops/kernels.h) on floats: the softmax ops' sum p dp and
// ds = p (dp - sum p dp) vectorised; the other ops through the template.
void AttnOpBackwardRow(AttnOp op, bool logn, const float* s, const float* p, const float* dp,
                       float* ds, int n, const float* extra, int n_extra, float* dextra) {
  if (op != AttnOp::Softmax && op != AttnOp::Softmax1)
    return attn_op_backward(op, logn, s, p, dp, ds, n, extra, n_extra, dextra);
  const hn::ScalableTag<float> d;
  const int L = int(hn::Lanes(d));
  const float pdp = DotOver(d, p, dp, n);
  const auto vpdp = hn::Set(d, pdp);
  int j = 0;
  for (; j + L <= n; j += L)
    hn::StoreU(hn::Mul(hn::LoadU(d, p + j), hn::Sub(hn::LoadU(d, dp + j), vpdp)), d, ds + j);
  for (; j < n; ++j) ds[j] = p[j] * (dp[j] - pdp);
  softmax_extras_backward(p, n, pdp, extra, n_extra, dextra);
}

// attention_head with this target's dot and axpy; flattened, so they and
// the template's loops compile for the target in one body. At most 256-bit
// vectors: a head dim of 64 is one 2x8-lane step, and BM_Attention was
// slower with AVX-512's wider loads and reductions.
struct TargetDotAxpy {
  using D = hn::CappedTag<float, 8>;
  static float dot(const float* a, const float* b, int n) { return DotOver(D(), a, b, n); }
  static void axpy(float a, const float* x, float* y, int n) {
    AxpyStep f{a, x, y};
    Steps<D>(n, f);
  }
  static void op_forward(AttnOp op, bool logn, float* s, int n, const float* extra, int n_extra) {
    AttnOpRow(op, logn, s, n, extra, n_extra);
  }
};

HWY_FLATTEN void AttentionHead(const float* q_win, const float* q_sink, const KvView& kv,
                               const AttentionParams& ap, int h, float* s, float* out,
                               float* probs) {
  attention_head<float, TargetDotAxpy>(q_win, q_sink, kv, ap, h, s, out, probs);
}

// sum_i x[i] - c, and sum_i (x[i] - c)^2, in double.
template <bool kSquares>
double SumDouble(const float* x, int n, double c) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const int L = int(hn::Lanes(dd));
  const auto vc = hn::Set(dd, c);
  auto acc = hn::Zero(dd);
  int i = 0;
  for (; i + L <= n; i += L) {
    const auto v = hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i)), vc);
    acc = kSquares ? hn::MulAdd(v, v, acc) : hn::Add(acc, v);
  }
  double s = hn::GetLane(hn::SumOfLanes(dd, acc));
  for (; i < n; ++i) s += kSquares ? (x[i] - c) * (x[i] - c) : x[i] - c;
  return s;
}

// sum_i x[i]^2 in double, over chunks of up to 2^30 floats.
double SumSquares(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i += int64_t(1) << 30)
    s += SumDouble<true>(x + i, int(std::min<int64_t>(n - i, int64_t(1) << 30)), 0.0);
  return s;
}

struct NormStep {
  const float *x, *g, *b;
  float* y;
  float m, s;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    const auto v = hn::Mul(hn::Mul(hn::Sub(hn::LoadU(d, x + i), hn::Set(d, m)), hn::Set(d, s)),
                           hn::LoadU(d, g + i));
    hn::StoreU(b ? hn::Add(v, hn::LoadU(d, b + i)) : v, d, y + i);
  }
};

void Norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
          float eps) {
  for (int t = 0; t < T; ++t, x += dim, y += dim) {
    const double mean = kind == NormKind::LayerNorm ? SumDouble<false>(x, dim, 0) / dim : 0;
    const double ss = SumDouble<true>(x, dim, mean);
    NormStep f{x, g, b, y, float(mean), float(1.0 / std::sqrt(ss / dim + eps))};
    Steps(dim, f);
  }
}

// (v0, v1) -> (v0 c - v1 s, v0 s + v1 c) on pairs split apart (rotate-half)
// or interleaved.
struct RopeStep {
  float *x0, *x1;  // x1 unused when interleaved
  const float *cos, *sin;
  bool interleaved, inverse;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    const auto c = hn::LoadU(d, cos + i), s0 = hn::LoadU(d, sin + i);
    const auto s = inverse ? hn::Neg(s0) : s0;
    hn::Vec<D> v0, v1;
    if (interleaved) {
      hn::LoadInterleaved2(d, x0 + 2 * i, v0, v1);
    } else {
      v0 = hn::LoadU(d, x0 + i), v1 = hn::LoadU(d, x1 + i);
    }
    const auto r0 = hn::Sub(hn::Mul(v0, c), hn::Mul(v1, s));
    const auto r1 = hn::Add(hn::Mul(v0, s), hn::Mul(v1, c));
    if (interleaved) {
      hn::StoreInterleaved2(r0, r1, d, x0 + 2 * i);
    } else {
      hn::StoreU(r0, d, x0 + i), hn::StoreU(r1, d, x1 + i);
    }
  }
};

void Rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const float* cos,
          const float* sin, bool inverse) {
  const int half = rot / 2;
  const bool inter = layout == RopeLayout::Interleaved;
  for (int h = 0; h < n_heads; ++h, x += hd) {
    RopeStep f{x, x + half, cos, sin, inter, inverse};
    Steps(half, f);
  }
}

// erfc(z) for z >= 0 with a relative error below 1.2e-7 (Numerical Recipes'
// erfcc, Chebyshev fit): t exp(-z^2 + P(t)), t = 1 / (1 + z/2).
template <class D, class V>
HWY_INLINE V Erfc(D d, V z) {
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(z, hn::Set(d, 0.5f), hn::Set(d, 1.0f)));
  static constexpr float kP[] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f,
                                 0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f,
                                 1.00002368f, -1.26551223f};
  V p = hn::Set(d, kP[0]);
  for (size_t k = 1; k < sizeof(kP) / sizeof(kP[0]); ++k) p = hn::MulAdd(p, t, hn::Set(d, kP[k]));
  return hn::Mul(t, hn::Exp(d, hn::Sub(p, hn::Mul(z, z))));
}

template <class D, class V>
HWY_INLINE V Activate(D d, Activation act, V x) {
  const V one = hn::Set(d, 1.0f), half = hn::Set(d, 0.5f);
  switch (act) {
    case Activation::SiLU: {  // x sigmoid(x), with e = exp(-|x|) <= 1
      const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
      const V sg = hn::Div(hn::IfThenElse(hn::Lt(x, hn::Zero(d)), e, one), hn::Add(one, e));
      return hn::Mul(x, sg);
    }
    case Activation::GELU: {  // x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2)
      const V z = hn::Mul(x, hn::Set(d, float(M_SQRT1_2)));
      const V c = Erfc(d, hn::Abs(z));
      return hn::Mul(hn::Mul(half, x),
                     hn::IfThenElse(hn::Lt(z, hn::Zero(d)), c, hn::Sub(hn::Set(d, 2.0f), c)));
    }
    case Activation::GELUTanh: {
      const V x3 = hn::Mul(hn::Mul(x, x), x);
      const V u =
          hn::Mul(hn::Set(d, 0.7978845608028654f), hn::MulAdd(hn::Set(d, 0.044715f), x3, x));
      return hn::Mul(hn::Mul(half, x), hn::Add(one, hn::Tanh(d, u)));
    }
    case Activation::ReLU:
      return hn::IfThenElseZero(hn::Gt(x, hn::Zero(d)), x);
  }
  return x;
}

struct ActivationStep {
  Activation act;
  const float *g, *u;
  float* h;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    const auto a = Activate(d, act, hn::LoadU(d, g + i));
    hn::StoreU(u ? hn::Mul(a, hn::LoadU(d, u + i)) : a, d, h + i);
  }
};

void ActivationRow(Activation act, const float* g, const float* u, float* h, int64_t n) {
  ActivationStep f{act, g, u, h};
  Steps(n, f);
}

// The activation and its derivative at x (activate, activate_grad).
template <class D, class V>
HWY_INLINE void ActivateGrad(D d, Activation act, V x, V& a, V& da) {
  const V one = hn::Set(d, 1.0f), half = hn::Set(d, 0.5f), zero = hn::Zero(d);
  switch (act) {
    case Activation::SiLU: {  // sg (1 + x (1 - sg)), sg = sigmoid(x) from e = exp(-|x|)
      const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
      const V sg = hn::Div(hn::IfThenElse(hn::Lt(x, zero), e, one), hn::Add(one, e));
      a = hn::Mul(x, sg);
      da = hn::Mul(sg, hn::MulAdd(x, hn::Sub(one, sg), one));
      return;
    }
    case Activation::GELU: {  // (1 + erf)/2 + x exp(-x^2/2) / sqrt(2 pi)
      const V z = hn::Mul(x, hn::Set(d, float(M_SQRT1_2)));
      const V c = Erfc(d, hn::Abs(z));
      const V cdf = hn::Mul(half, hn::IfThenElse(hn::Lt(z, zero), c, hn::Sub(hn::Set(d, 2.0f), c)));
      const V pdf = hn::Mul(hn::Set(d, 0.3989422804014327f),
                            hn::Exp(d, hn::Mul(hn::Set(d, -0.5f), hn::Mul(x, x))));
      a = hn::Mul(x, cdf);
      da = hn::MulAdd(x, pdf, cdf);
      return;
    }
    case Activation::GELUTanh: {
      const V c = hn::Set(d, 0.7978845608028654f), k = hn::Set(d, 0.044715f);
      const V x3 = hn::Mul(hn::Mul(x, x), x);
      const V th = hn::Tanh(d, hn::Mul(c, hn::MulAdd(k, x3, x)));
      a = hn::Mul(hn::Mul(half, x), hn::Add(one, th));
      // The second term from x clamped to +-100, where 1 - th^2 is 0 already
      // (x^2 of a larger x would overflow: 0 * inf).
      const V xc = hn::Min(hn::Max(x, hn::Set(d, -100.0f)), hn::Set(d, 100.0f));
      const V sech2 = hn::NegMulAdd(th, th, one);
      const V poly = hn::MulAdd(hn::Set(d, float(3 * 0.044715)), hn::Mul(xc, xc), one);
      da = hn::MulAdd(hn::Mul(hn::Mul(half, xc), sech2), hn::Mul(c, poly),
                      hn::Mul(half, hn::Add(one, th)));
      return;
    }
    case Activation::ReLU: {
      const auto pos = hn::Gt(x, zero);
      a = hn::IfThenElseZero(pos, x);
      da = hn::IfThenElseZero(pos, one);
      return;
    }
  }
  a = x, da = one;
}

struct ActivationBackwardStep {
  Activation act;
  const float *g, *u, *dh;
  float *dg, *du;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    hn::Vec<D> a, da;
    ActivateGrad(d, act, hn::LoadU(d, g + i), a, da);
    const auto dhv = hn::LoadU(d, dh + i), ddg = hn::Mul(dhv, da);
    if (!u) {
      hn::StoreU(ddg, d, dg + i);
      return;
    }
    hn::StoreU(hn::Mul(ddg, hn::LoadU(d, u + i)), d, dg + i);
    hn::StoreU(hn::Mul(dhv, a), d, du + i);
  }
};

void ActivationBackwardRow(Activation act, const float* g, const float* u, const float* dh,
                           float* dg, float* du, int64_t n) {
  ActivationBackwardStep f{act, g, u, dh, dg, du};
  Steps(n, f);
}

// norm_backward per row: the mean and mean square (SumDouble), then in
// double vectors xhat = (x - mean) s, dxhat = dy g, dg += dy xhat, db += dy
// and the row sums of dxhat and dxhat xhat; then dx. Lanes past the last
// full double vector run as in ops/kernels.h.
void NormBackward(NormKind kind, const float* x, const float* g, const float* dy, float* dx,
                  float* dg, float* db, int T, int dim, float eps) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const int L = int(hn::Lanes(dd)), full = dim / L * L;
  for (int t = 0; t < T; ++t, x += dim, dy += dim, dx += dim) {
    const double mean = kind == NormKind::LayerNorm ? SumDouble<false>(x, dim, 0) / dim : 0;
    const double s = 1.0 / std::sqrt(SumDouble<true>(x, dim, mean) / dim + eps);
    const auto vm = hn::Set(dd, mean), vs = hn::Set(dd, s);
    auto acc = hn::Zero(dd), acc_x = acc;
    for (int i = 0; i < full; i += L) {
      const auto xhat = hn::Mul(hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i)), vm), vs);
      const auto dyv = hn::PromoteTo(dd, hn::LoadU(df, dy + i));
      const auto dxhat = hn::Mul(dyv, hn::PromoteTo(dd, hn::LoadU(df, g + i)));
      hn::StoreU(hn::Add(hn::LoadU(df, dg + i), hn::DemoteTo(df, hn::Mul(dyv, xhat))), df, dg + i);
      if (db) hn::StoreU(hn::Add(hn::LoadU(df, db + i), hn::LoadU(df, dy + i)), df, db + i);
      acc = hn::Add(acc, dxhat);
      acc_x = hn::MulAdd(dxhat, xhat, acc_x);
    }
    double sum = hn::GetLane(hn::SumOfLanes(dd, acc)),
           sum_x = hn::GetLane(hn::SumOfLanes(dd, acc_x));
    for (int i = full; i < dim; ++i) {
      const double xhat = (x[i] - mean) * s, dxhat = double(dy[i]) * g[i];
      dg[i] += float(dy[i] * xhat);
      if (db) db[i] += dy[i];
      sum += dxhat, sum_x += dxhat * xhat;
    }
    const double a = kind == NormKind::RMSNorm ? 0 : sum / dim, b = sum_x / dim;
    const auto va = hn::Set(dd, a), vb = hn::Set(dd, b);
    for (int i = 0; i < full; i += L) {
      const auto xhat = hn::Mul(hn::Sub(hn::PromoteTo(dd, hn::LoadU(df, x + i)), vm), vs);
      const auto dxhat = hn::Mul(hn::PromoteTo(dd, hn::LoadU(df, dy + i)),
                                 hn::PromoteTo(dd, hn::LoadU(df, g + i)));
      hn::StoreU(hn::DemoteTo(df, hn::Mul(vs, hn::NegMulAdd(xhat, vb, hn::Sub(dxhat, va)))), df,
                 dx + i);
    }
    for (int i = full; i < dim; ++i) {
      const double xhat = (x[i] - mean) * s, dxhat = double(dy[i]) * g[i];
      dx[i] = float(s * (dxhat - a - xhat * b));
    }
  }
}

// One AdamW step (simd::adamw) in float: the bias corrections as
// reciprocals, the moments by fused multiply-adds.
struct AdamWVecStep {
  float *p, *m, *v;
  const float* grad;
  float clip, b1, one_b1, b2, one_b2, inv_c1, inv_c2, eps, lr, wd;
  template <class D>
  HWY_INLINE void operator()(D d, int64_t i) {
    const auto g = hn::Mul(hn::LoadU(d, grad + i), hn::Set(d, clip));
    const auto mv = hn::MulAdd(hn::Set(d, b1), hn::LoadU(d, m + i), hn::Mul(hn::Set(d, one_b1), g));
    const auto vv =
        hn::MulAdd(hn::Set(d, b2), hn::LoadU(d, v + i), hn::Mul(hn::Mul(hn::Set(d, one_b2), g), g));
    hn::StoreU(mv, d, m + i);
    hn::StoreU(vv, d, v + i);
    const auto upd = hn::Div(hn::Mul(mv, hn::Set(d, inv_c1)),
                             hn::Add(hn::Sqrt(hn::Mul(vv, hn::Set(d, inv_c2))), hn::Set(d, eps)));
    const auto pv = hn::LoadU(d, p + i);
    hn::StoreU(hn::Sub(pv, hn::MulAdd(hn::Set(d, lr), upd, hn::Mul(hn::Set(d, wd), pv))), d, p + i);
  }
};

void AdamWRow(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  AdamWVecStep f{p,
                 m,
                 v,
                 grad,
                 s.clip,
                 float(s.beta1),
                 float(1 - s.beta1),
                 float(s.beta2),
                 float(1 - s.beta2),
                 float(1 / s.c1),
                 float(1 / s.c2),
                 float(s.eps),
                 float(s.lr),
                 s.wd};
  Steps(n, f);
}

}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::simd {
HWY_EXPORT(Dot);
HWY_EXPORT(Axpy);
HWY_EXPORT(AttentionHead);
HWY_EXPORT(AttnOpRow);
HWY_EXPORT(AttnOpBackwardRow);
HWY_EXPORT(CrossEntropyRow);
HWY_EXPORT(SumSquares);
HWY_EXPORT(Norm);
HWY_EXPORT(Rope);
HWY_EXPORT(ActivationRow);
HWY_EXPORT(ActivationBackwardRow);
HWY_EXPORT(NormBackward);
HWY_EXPORT(AdamWRow);

float dot(const float* a, const float* b, int n) { return HWY_DYNAMIC_DISPATCH(Dot)(a, b, n); }
void axpy(float a, const float* x, float* y, int n) { HWY_DYNAMIC_DISPATCH(Axpy)(a, x, y, n); }
void attention_head(const float* q_win, const float* q_sink, const KvView& kv,
                    const AttentionParams& ap, int h, float* s, float* out, float* probs) {
  HWY_DYNAMIC_DISPATCH(AttentionHead)(q_win, q_sink, kv, ap, h, s, out, probs);
}
void attn_op(AttnOp op, bool logn, float* s, int n, const float* extra, int n_extra) {
  HWY_DYNAMIC_DISPATCH(AttnOpRow)(op, logn, s, n, extra, n_extra);
}
void attn_op_backward(AttnOp op, bool logn, const float* s, const float* p, const float* dp,
                      float* ds, int n, const float* extra, int n_extra, float* dextra) {
  HWY_DYNAMIC_DISPATCH(AttnOpBackwardRow)(op, logn, s, p, dp, ds, n, extra, n_extra, dextra);
}
double sum_squares(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumSquares)(x, n); }
double cross_entropy(float* x, int n, int target, float scale, bool grad) {
  return HWY_DYNAMIC_DISPATCH(CrossEntropyRow)(x, n, target, scale, grad);
}
void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
          float eps) {
  HWY_DYNAMIC_DISPATCH(Norm)(kind, x, g, b, y, T, dim, eps);
}
void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const float* cos,
          const float* sin, bool inverse) {
  HWY_DYNAMIC_DISPATCH(Rope)(x, n_heads, hd, rot, layout, cos, sin, inverse);
}
void activation(Activation act, const float* g, const float* u, float* h, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ActivationRow)(act, g, u, h, n);
}
void activation_backward(Activation act, const float* g, const float* u, const float* dh, float* dg,
                         float* du, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ActivationBackwardRow)(act, g, u, dh, dg, du, n);
}
void norm_backward(NormKind kind, const float* x, const float* g, const float* dy, float* dx,
                   float* dg, float* db, int T, int dim, float eps) {
  HWY_DYNAMIC_DISPATCH(NormBackward)(kind, x, g, dy, dx, dg, db, T, dim, eps);
}
void adamw(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s) {
  HWY_DYNAMIC_DISPATCH(AdamWRow)(p, grad, m, v, n, s);
}
}  // namespace ss::simd
#endif
