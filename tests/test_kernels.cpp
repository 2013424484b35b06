// CPU kernels against naive double-precision loops.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ops/backend.h"

using namespace ss;

namespace {

std::vector<float> normal_floats(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> g;
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}

// One Backend::attention_backward call over all rows into fresh sums: dK
// (k floats), dV (v), dsink (H), the kv-bias slot's dk and dv (kb each),
// then the rows' dq as they left it.
std::vector<std::vector<float>> backward_sums(Backend& be,
                                              const std::vector<AttentionGradRow>& rows,
                                              const AttentionParams& p, size_t k, size_t v, int H,
                                              size_t kb, const std::vector<float>& dq) {
  std::vector<std::vector<float>> r = {std::vector<float>(k), std::vector<float>(v),
                                       std::vector<float>(H), std::vector<float>(kb),
                                       std::vector<float>(kb)};
  be.attention_backward(rows.data(), int(rows.size()), p, r[0].data(), r[1].data(), r[2].data(),
                        r[3].data(), r[4].data());
  r.push_back(dq);
  return r;
}

struct Weights {
  Tensor t;
  std::vector<float> values;  // what the stored weights decode to
  std::vector<uint8_t> bytes;
};

Weights make_weights(DType dt, int rows, int cols, std::mt19937& rng) {
  std::normal_distribution<float> g;
  Weights w;
  std::vector<float> f(size_t(rows) * cols);
  for (float& x : f) x = g(rng);
  w.t.dtype = dt;
  w.t.shape = {rows, cols};
  w.bytes.resize(dtype_bytes(dt, int64_t(rows) * cols));
  const size_t row_bytes = traits(dt).bytes(cols);
  for (int r = 0; r < rows; ++r)
    quantize_row(dt, f.data() + size_t(r) * cols, cols, w.bytes.data() + r * row_bytes);
  w.t.data = w.bytes.data();
  w.values.resize(f.size());
  for (int r = 0; r < rows; ++r) dequantize_row(w.t, r, w.values.data() + size_t(r) * cols);
  if (dt == DType::Q8_0) {
    // Within half a step (amax/254) plus the f16 rounding of the scale (amax * 2^-11).
    for (size_t b = 0; b < f.size(); b += 32) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(f[b + i]));
      for (int i = 0; i < 32; ++i)
        EXPECT_LE(std::abs(w.values[b + i] - f[b + i]), amax / 254 + amax / 2048);
    }
  }
  return w;
}

TEST(Kernels, MatmulEveryDtypeAndShape) {
  std::mt19937 rng(1);
  auto be = make_cpu_backend();
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                   DType::Q5_1, DType::Q8_0}) {
    for (int cols : {32, 64, 96, 172, 288}) {
      if (cols % traits(dt).block) continue;
      for (int T : {1, 3, 17}) {
        const int rows = 37;
        Weights w = make_weights(dt, rows, cols, rng);
        std::vector<float> x(size_t(T) * cols), y(size_t(T) * rows);
        std::normal_distribution<float> g;
        for (float& v : x) v = g(rng);
        be->matmul(w.t, x.data(), y.data(), T);
        for (int t = 0; t < T; ++t)
          for (int r = 0; r < rows; ++r) {
            double ref = 0, mag = 0;
            for (int i = 0; i < cols; ++i) {
              ref += double(w.values[r * cols + i]) * x[t * cols + i];
              mag += std::abs(w.values[r * cols + i] * x[t * cols + i]);
            }
            // GEMV on quantised weights quantises x to 8 bits: each product
            // is off by at most |w| max|x| / 254, well inside mag / 100.
            const bool q8 = traits(dt).quantized() && T < 4;
            ASSERT_NEAR(y[t * rows + r], ref, 1e-4 * cols + (q8 ? mag / 100 : 0))
                << dtype_name(dt) << " cols " << cols << " T " << T;
          }
      }
    }
  }
}

TEST(Kernels, LayerNormAndRmsNorm) {
  auto be = make_cpu_backend();
  const int dim = 13;
  std::vector<float> x(2 * dim), g(dim), b(dim), y(2 * dim);
  for (int i = 0; i < 2 * dim; ++i) x[i] = std::sin(i * 1.7f) * 3 + 1;
  for (int i = 0; i < dim; ++i) g[i] = 0.5f + i * 0.1f, b[i] = i * 0.01f;
  for (NormKind k : {NormKind::RMSNorm, NormKind::LayerNorm}) {
    be->norm(k, x.data(), g.data(), k == NormKind::LayerNorm ? b.data() : nullptr, y.data(), 2, dim,
             1e-5f);
    for (int t = 0; t < 2; ++t) {
      double mean = 0, var = 0;
      for (int i = 0; i < dim; ++i) mean += x[t * dim + i] / dim;
      if (k == NormKind::RMSNorm) mean = 0;
      for (int i = 0; i < dim; ++i) var += std::pow(x[t * dim + i] - mean, 2) / dim;
      for (int i = 0; i < dim; ++i) {
        double ref = (x[t * dim + i] - mean) / std::sqrt(var + 1e-5) * g[i];
        if (k == NormKind::LayerNorm) ref += b[i];
        EXPECT_NEAR(y[t * dim + i], ref, 1e-5);
      }
    }
  }
}

TEST(Kernels, PartialRotaryLeavesTheRestAlone) {
  auto be = make_cpu_backend();
  const int hd = 16, rot = 4;
  RopeAngles a;
  rope_angles(1000003, rot, 10000.0, a);
  for (RopeLayout layout : {RopeLayout::Interleaved, RopeLayout::RotateHalf}) {
    std::vector<float> x(2 * hd);
    for (int i = 0; i < 2 * hd; ++i) x[i] = float(i + 1);
    std::vector<float> y = x;
    be->rope(y.data(), 2, hd, rot, layout, a);
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < rot / 2; ++i) {
        const int p0 = layout == RopeLayout::Interleaved ? 2 * i : i;
        const int p1 = layout == RopeLayout::Interleaved ? 2 * i + 1 : i + rot / 2;
        const double th = 1000003.0 * std::pow(10000.0, -2.0 * i / rot);
        const double x0 = x[h * hd + p0], x1 = x[h * hd + p1];
        EXPECT_NEAR(y[h * hd + p0], x0 * std::cos(th) - x1 * std::sin(th), 1e-4);
        EXPECT_NEAR(y[h * hd + p1], x0 * std::sin(th) + x1 * std::cos(th), 1e-4);
      }
      for (int i = rot; i < hd; ++i) EXPECT_EQ(y[h * hd + i], x[h * hd + i]);
    }
  }
}

TEST(Kernels, AlibiSlopesFollowPressEtAl) {
  // Power of two: 2^(-8/n * (h+1)). Six heads: the four of n=4, then every
  // other slope of n=8 (2^-1, 2^-3).
  std::vector<float> s(8);
  alibi_slopes(8, 8, s.data());
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(s[h], std::pow(2.0f, -float(h + 1)));
  alibi_slopes(6, 8, s.data());
  const float want[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
  for (int h = 0; h < 6; ++h) EXPECT_FLOAT_EQ(s[h], want[h]) << h;
}

TEST(Kernels, AttentionWithAlibiAndSinkLogits) {
  auto be = make_cpu_backend();
  const int H = 2, Hkv = 1, hd = 8, cap = 6, kept = 5;
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<float> K(cap * hd), V(cap * hd), q(H * hd), out(H * hd), probs(H * kept);
  for (float& v : K) v = g(rng);
  for (float& v : V) v = g(rng);
  for (float& v : q) v = g(rng);
  // Two segments: slots 4..5 then 0..2, the order a wrapped ring gives.
  KvSegment seg[2] = {{4, 2, false}, {0, 3, false}};
  const int slot_of[kept] = {4, 5, 0, 1, 2};
  KvView view{K.data(), V.data(), cap, seg, 2, kept};
  const float slopes[H] = {0.5f, 0.125f}, sinks[H] = {1.5f, -0.5f};
  AttentionParams p{H, Hkv, hd};
  p.alibi_slopes = slopes, p.alibi_scale = 0.25f, p.sink_logits = sinks;
  const AttentionRow row{q.data(), q.data(), view, out.data()};
  be->attention(&row, 1, p, probs.data());
  for (int h = 0; h < H; ++h) {
    std::vector<double> s(kept);
    double mx = sinks[h], sum = 0;
    for (int j = 0; j < kept; ++j) {
      double d = 0;
      for (int i = 0; i < hd; ++i) d += double(q[h * hd + i]) * K[slot_of[j] * hd + i];
      s[j] = d / std::sqrt(double(hd)) - 0.25 * slopes[h] * (kept - 1 - j);
      mx = std::max(mx, s[j]);
    }
    sum = std::exp(sinks[h] - mx);
    for (double& v : s) sum += (v = std::exp(v - mx));
    for (int i = 0; i < hd; ++i) {
      double o = 0;
      for (int j = 0; j < kept; ++j) o += s[j] / sum * V[slot_of[j] * hd + i];
      EXPECT_NEAR(out[h * hd + i], o, 1e-5);
    }
    for (int j = 0; j < kept; ++j) EXPECT_NEAR(probs[h * kept + j], s[j] / sum, 1e-6);
  }
}

TEST(Kernels, Activations) {
  auto be = make_cpu_backend();
  const float xs[] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f};
  for (Activation a :
       {Activation::SiLU, Activation::GELU, Activation::GELUTanh, Activation::ReLU}) {
    std::vector<float> g(xs, xs + 5), u(5, 2.0f);
    be->activation(a, g.data(), u.data(), g.data(), 5);
    for (int i = 0; i < 5; ++i) {
      const double x = xs[i];
      double y = 0;
      if (a == Activation::SiLU) y = x / (1 + std::exp(-x));
      if (a == Activation::GELU) y = 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
      if (a == Activation::GELUTanh)
        y = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
      if (a == Activation::ReLU) y = std::max(0.0, x);
      EXPECT_NEAR(g[i], 2 * y, 1e-5);
    }
  }
}

// Many causal rows at once, over rows x heads on every thread: each row equals
// its own one-row call; the backward pass's sums over rows equal the kernel's
// row-by-row sums (up to the order of float additions) and repeat bit for bit.
TEST(Kernels, BatchedAttentionRowsMatchOneRowCalls) {
  const int T = 96, H = 4, Hkv = 2, hd = 16;
  std::mt19937 rng(5);
  auto randn = [&](size_t n) { return normal_floats(rng, n); };
  const std::vector<float> K = randn(size_t(Hkv) * T * hd), V = randn(K.size()),
                           q = randn(size_t(T) * H * hd), dout = randn(q.size()), sinks = randn(H),
                           kb_k = randn(size_t(Hkv) * hd), kb_v = randn(kb_k.size());
  AttentionParams p{H, Hkv, hd};
  p.sink_logits = sinks.data();
  p.kv_bias_k = kb_k.data(), p.kv_bias_v = kb_v.data();
  std::vector<KvSegment> seg(T);
  std::vector<AttentionRow> rows(T);
  std::vector<AttentionGradRow> grad_rows(T);
  std::vector<float> out(q.size()), one(q.size()), dq(q.size()), dq1(q.size());
  for (int i = 0; i < T; ++i) {
    seg[i] = {0, i + 1, false};
    const KvView kv{K.data(), V.data(), T, &seg[i], 1, i + 1};
    const float* qi = q.data() + size_t(i) * H * hd;
    rows[i] = {qi, qi, kv, out.data() + size_t(i) * H * hd};
    grad_rows[i] = {qi, kv, dout.data() + size_t(i) * H * hd, dq.data() + size_t(i) * H * hd};
  }
  auto be = make_cpu_backend();
  const int threads = omp_get_max_threads();
  omp_set_num_threads(3);  // partial sums from more than one thread, on any machine
  be->attention(rows.data(), T, p, nullptr);
  for (int i = 0; i < T; ++i) {
    AttentionRow r = rows[i];
    r.out = one.data() + size_t(i) * H * hd;
    be->attention(&r, 1, p, nullptr);
  }
  // 96 rows take the tiled path (GEMMs), one row the per-row path: equal up
  // to rounding.
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], one[i], 1e-5) << i;

  // Reference: the kernel row by row on one thread.
  std::vector<float> dK1(K.size()), dV1(V.size()), ds1(H), dkk1(kb_k.size()), dkv1(kb_v.size());
  std::vector<float> scratch(3 * (T + 1));
  for (int i = 0; i < T; ++i)
    attention_backward(q.data() + size_t(i) * H * hd, grad_rows[i].kv, p,
                       dout.data() + size_t(i) * H * hd, dq1.data() + size_t(i) * H * hd,
                       dK1.data(), dV1.data(), ds1.data(), dkk1.data(), dkv1.data(), scratch.data(),
                       scratch.data() + T + 1, scratch.data() + 2 * (T + 1));
  auto batched = [&] {
    return backward_sums(*be, grad_rows, p, K.size(), V.size(), H, kb_k.size(), dq);
  };
  const auto a = batched(), b = batched();
  omp_set_num_threads(threads);
  EXPECT_EQ(a, b);  // deterministic
  const std::vector<std::vector<float>> want = {dK1, dV1, ds1, dkk1, dkv1, dq1};
  for (size_t k = 0; k < want.size(); ++k)
    for (size_t i = 0; i < want[k].size(); ++i)
      ASSERT_NEAR(a[k][i], want[k][i], 1e-4 * (1 + std::abs(want[k][i]))) << k << " " << i;
}

}  // namespace

// Calls of many rows over one contiguous slot range each (training, prefill)
// take CpuBackend's tiled path (GEMMs over tiles of rows); one-row calls take
// the per-row path. Both, and the double-precision kernels, must agree for
// every op and extra, every mask shape and head grouping.
enum class Mask { Causal, Window, Prefix, SinkSegment, TwoSamples };
struct TiledCase {
  AttnOp op;
  bool logn, sink_logits, kv_bias, alibi;
  float softcap, scale;
  int H, Hkv;
  Mask mask;
};

const char* mask_name(Mask m) {
  switch (m) {
    case Mask::Causal:
      return "causal";
    case Mask::Window:
      return "window";
    case Mask::Prefix:
      return "prefix";
    case Mask::SinkSegment:
      return "sinksegment";
    case Mask::TwoSamples:
      return "twosamples";
  }
  return "";
}

class TiledAttention : public ::testing::TestWithParam<TiledCase> {};

TEST_P(TiledAttention, MatchesPerRowAndDouble) {
  const TiledCase tc = GetParam();
  // 70 rows: two full tiles of 32 and a short one (35 + 35 for two samples).
  const int T = 70, H = tc.H, Hkv = tc.Hkv, hd = 16, qd = H * hd, window = 9, prefix = 20;
  std::mt19937 rng(7);
  auto randn = [&](size_t n) { return normal_floats(rng, n); };
  // Two samples' caches side by side (TwoSamples uses the second for rows T/2..).
  const size_t kv_size = size_t(Hkv) * T * hd;
  const std::vector<float> K = randn(2 * kv_size), V = randn(K.size()), q = randn(size_t(T) * qd),
                           dout = randn(q.size()), sinks = randn(size_t(H)),
                           kb_k = randn(size_t(Hkv) * hd), kb_v = randn(kb_k.size());
  std::vector<float> slopes(static_cast<size_t>(H));
  alibi_slopes(H, 8, slopes.data());
  AttentionParams p{H, Hkv, hd};
  p.op = tc.op, p.logn_bias = tc.logn, p.softcap = tc.softcap, p.scale = tc.scale;
  if (tc.sink_logits) p.sink_logits = sinks.data();
  if (tc.kv_bias) p.kv_bias_k = kb_k.data(), p.kv_bias_v = kb_v.data();
  if (tc.alibi) p.alibi_slopes = slopes.data(), p.alibi_scale = 0.5f;
  // Row i's segments and which sample's cache it reads.
  std::vector<std::array<KvSegment, 2>> segs(T);
  std::vector<int> n_segs(T, 1), sample(T, 0);
  for (int i = 0; i < T; ++i) {
    switch (tc.mask) {
      case Mask::Causal:
        segs[i][0] = {0, i + 1, false};
        break;
      case Mask::Window:  // slots i-8..i: ranges that start after slot 0
        segs[i][0] = {std::max(0, i + 1 - window), std::min(i + 1, window), false};
        break;
      case Mask::Prefix:  // rows < p see [0, p), later rows [0, i]
        segs[i][0] = {0, std::max(i + 1, prefix), false};
        break;
      case Mask::SinkSegment:  // 4 sink slots then the rest, one query rotation
        segs[i][0] = {0, std::min(i + 1, 4), true};
        if (i >= 4) segs[i][1] = {4, i - 3, false}, n_segs[i] = 2;
        break;
      case Mask::TwoSamples:
        sample[i] = i >= T / 2;
        segs[i][0] = {0, i - sample[i] * (T / 2) + 1, false};
        break;
    }
  }
  auto view = [&](int i) {
    const int kept = segs[i][0].count + (n_segs[i] == 2 ? segs[i][1].count : 0);
    const size_t at = size_t(sample[i]) * kv_size;
    return KvView{K.data() + at, V.data() + at, T, segs[i].data(), n_segs[i], kept};
  };
  std::vector<AttentionRow> rows(T);
  std::vector<AttentionGradRow> grad_rows(T);
  std::vector<float> out(q.size()), per_row(q.size()), dq(q.size()), dq_row(q.size());
  for (int i = 0; i < T; ++i) {
    const float* qi = q.data() + size_t(i) * qd;
    rows[i] = {qi, qi, view(i), out.data() + size_t(i) * qd};
    grad_rows[i] = {qi, view(i), dout.data() + size_t(i) * qd, dq.data() + size_t(i) * qd};
  }
  auto be = make_cpu_backend();
  const int threads = omp_get_max_threads();
  omp_set_num_threads(3);  // several threads' partial sums, on any machine
  be->attention(rows.data(), T, p, nullptr);
  const std::vector<float> out1 = out;
  be->attention(rows.data(), T, p, nullptr);
  EXPECT_EQ(out, out1);  // deterministic
  // The per-row path: one row per call, the backward summing call by call.
  std::vector<float> dK_row(K.size()), dV_row(V.size()), ds_row(H), dkk_row(kb_k.size()),
      dkv_row(kb_v.size());
  for (int i = 0; i < T; ++i) {
    AttentionRow r = rows[i];
    r.out = per_row.data() + size_t(i) * qd;
    be->attention(&r, 1, p, nullptr);
    AttentionGradRow gr = grad_rows[i];
    gr.dq = dq_row.data() + size_t(i) * qd;
    be->attention_backward(&gr, 1, p, dK_row.data(), dV_row.data(), ds_row.data(), dkk_row.data(),
                           dkv_row.data());
  }
  auto tiled_backward = [&] {
    return backward_sums(*be, grad_rows, p, K.size(), V.size(), H, kb_k.size(), dq);
  };
  const auto a = tiled_backward(), b = tiled_backward();
  omp_set_num_threads(threads);
  EXPECT_EQ(a, b);  // deterministic

  // The double-precision kernels, row by row.
  auto wide = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  const auto Kd = wide(K), Vd = wide(V), qd_ = wide(q), dod = wide(dout), sd = wide(sinks),
             kbkd = wide(kb_k), kbvd = wide(kb_v);
  AttentionParamsT<double> pd{H, Hkv, hd};
  pd.op = p.op, pd.logn_bias = p.logn_bias, pd.softcap = p.softcap, pd.scale = p.scale;
  pd.alibi_slopes = p.alibi_slopes, pd.alibi_scale = p.alibi_scale;
  if (tc.sink_logits) pd.sink_logits = sd.data();
  if (tc.kv_bias) pd.kv_bias_k = kbkd.data(), pd.kv_bias_v = kbvd.data();
  std::vector<double> want(q.size()), dq_d(q.size()), dK_d(K.size()), dV_d(V.size()), ds_d(H),
      dkk_d(kb_k.size()), dkv_d(kb_v.size()), s(3 * (T + 1));
  for (int i = 0; i < T; ++i) {
    const KvView f = view(i);
    const size_t at = size_t(sample[i]) * kv_size;
    const KvViewT<double> kv{Kd.data() + at, Vd.data() + at, T, f.segments, f.n_segments, f.kept};
    const double* qi = qd_.data() + size_t(i) * qd;
    for (int h = 0; h < H; ++h)
      attention_head(qi, qi, kv, pd, h, s.data(), want.data() + size_t(i) * qd, nullptr);
    attention_backward(qi, kv, pd, dod.data() + size_t(i) * qd, dq_d.data() + size_t(i) * qd,
                       dK_d.data(), dV_d.data(), ds_d.data(), dkk_d.data(), dkv_d.data(), s.data(),
                       s.data() + T + 1, s.data() + 2 * (T + 1));
  }
  auto near = [](const std::vector<float>& got, const std::vector<float>& ref,
                 const std::vector<double>& exact, double tol, const char* what) {
    ASSERT_EQ(got.size(), exact.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], exact[i], tol * (1 + std::abs(exact[i]))) << what << " [" << i << "]";
      ASSERT_NEAR(got[i], ref[i], tol * (1 + std::abs(exact[i])))
          << what << " per row [" << i << "]";
    }
  };
  near(out, per_row, want, 1e-5, "out");
  near(a[5], dq_row, dq_d, 2e-5, "dq");
  near(a[0], dK_row, dK_d, 2e-5, "dK");
  near(a[1], dV_row, dV_d, 2e-5, "dV");
  near(a[2], ds_row, ds_d, 2e-5, "dsink");
  near(a[3], dkk_row, dkk_d, 2e-5, "dkv-bias k");
  near(a[4], dkv_row, dkv_d, 2e-5, "dkv-bias v");
}

INSTANTIATE_TEST_SUITE_P(
    Ops, TiledAttention,
    ::testing::Values(
        TiledCase{AttnOp::Softmax, false, false, false, false, 0, 0, 4, 4, Mask::Causal},
        TiledCase{AttnOp::Softmax, false, true, false, true, 0, 0, 6, 2, Mask::Window},
        TiledCase{AttnOp::Softmax, false, false, true, false, 5, 0, 5, 1, Mask::Prefix},
        TiledCase{AttnOp::Softmax, false, true, true, false, 0, 0.3f, 6, 2, Mask::TwoSamples},
        TiledCase{AttnOp::Softmax1, false, true, true, true, 0, 0, 6, 2, Mask::SinkSegment},
        TiledCase{AttnOp::Softmax1, false, false, false, false, 0, 0, 5, 1, Mask::Window},
        TiledCase{AttnOp::Sigmoid, false, false, false, false, 0, 0, 4, 4, Mask::Causal},
        TiledCase{AttnOp::Sigmoid, true, false, true, false, 0, 0, 5, 1, Mask::Window},
        TiledCase{AttnOp::SigmoidNorm, false, false, false, true, 0, 0, 6, 2, Mask::Prefix},
        TiledCase{AttnOp::SigmoidNorm, true, false, true, false, 0, 0.1f, 4, 4, Mask::Causal},
        TiledCase{AttnOp::Elu1, false, false, true, false, 0, 0, 6, 2, Mask::Window},
        TiledCase{AttnOp::Elu1Norm, false, false, false, true, 3, 0, 5, 1, Mask::SinkSegment}),
    [](const auto& info) {
      const TiledCase& c = info.param;
      return std::string(attn_op_name(c.op)) + (c.logn ? "_logn" : "") +
             (c.sink_logits ? "_sinklogit" : "") + (c.kv_bias ? "_kvbias" : "") +
             (c.alibi ? "_alibi" : "") + (c.softcap > 0 ? "_softcap" : "") +
             (c.scale > 0 ? "_scale" : "") + "_h" + std::to_string(c.H) + "kv" +
             std::to_string(c.Hkv) + "_" + mask_name(c.mask);
    });
