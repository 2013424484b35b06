// Every SIMD target this CPU runs (hwy::SupportedAndGeneratedTargets: on
// this x86 machine AVX3_DL, AVX3, AVX2, SSE4, SSSE3 and SCALAR; NEON and SVE
// on aarch64), forced one at a time, against the scalar or double reference:
// the ops' f32 kernels (attention's dot and axpy, attention itself, norms,
// RoPE, activations, the norms' and activations' gradients, AdamW), the
// float weight types, and the target reporting and limiting
// (SINKSTREAM_SIMD). The quantised types: test_quant.cpp. Also the portable
// f16 conversions, exhaustively.
#include <hwy/targets.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "ops/backend.h"
#include "ops/kernels.h"
#include "ops/simd.h"
#include "testutil.h"

namespace {

using ss::Activation;
using ss::NormKind;
using ss::RopeLayout;

// Runs f once per target with dispatch forced to it; f gets the name.
void each_target(const std::function<void(const std::string&)>& f) {
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(t);
    f(hwy::TargetName(t));
  }
  hwy::SetSupportedTargetsForTest(0);
}

std::vector<float> normal(size_t n, std::mt19937& rng, float sd = 1) {
  std::normal_distribution<float> g(0, sd);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}
std::vector<double> wide(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// |got - want| <= tol * (scale + |want|) for every element.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double tol,
                  double scale, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - want[i]), tol * (scale + std::abs(want[i])))
        << what << " [" << i << "]: " << got[i] << " vs " << want[i];
}

const int kLengths[] = {1, 3, 4, 7, 8, 12, 15, 16, 17, 31, 32, 33, 64, 100, 128, 257};

TEST(Simd, TheMachineOffersSeveralTargetsAndReportsEach) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
#if HWY_ARCH_X86
  // Baseline x86-64 (SSSE3, SSE4, the scalar fallback) and AVX2 at least.
  for (int64_t want : {int64_t(HWY_AVX2), int64_t(HWY_SSE4), int64_t(HWY_SSSE3)})
    EXPECT_NE(std::find(targets.begin(), targets.end(), want), targets.end())
        << hwy::TargetName(want);
#endif
  EXPECT_GE(targets.size(), 2u);
  std::printf("SIMD targets: %s\n", ss::simd_targets().c_str());
  std::vector<std::string> seen;
  each_target([&](const std::string& name) {
    EXPECT_EQ(ss::simd_target(), name);
    seen.push_back(name);
  });
  EXPECT_EQ(seen.size(), targets.size());
  EXPECT_EQ(ss::simd_target(), std::string(hwy::TargetName(targets[0])));  // the best by default
}

TEST(Simd, LimitingTheTargetPicksItOrRefuses) {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  for (int64_t t : targets) {
    std::string lower = hwy::TargetName(t);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    ss::limit_simd_target(lower);
    EXPECT_EQ(ss::simd_target(), std::string(hwy::TargetName(t)));
  }
  const std::string msg = sstest::error_of([] { ss::limit_simd_target("avx9000"); });
  EXPECT_NE(msg.find("'avx9000'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(ss::simd_targets()), std::string::npos) << msg;
  hwy::DisableTargets(0);
  EXPECT_EQ(ss::simd_target(), std::string(hwy::TargetName(targets[0])));
}

TEST(Simd, DotAndAxpyOnEveryTarget) {
  std::mt19937 rng(1);
  for (int n : kLengths) {
    const auto a = normal(size_t(n), rng), b = normal(size_t(n), rng), y0 = normal(size_t(n), rng);
    double want = 0, mag = 0;
    for (int i = 0; i < n; ++i) want += double(a[i]) * b[i], mag += std::abs(double(a[i]) * b[i]);
    std::vector<double> want_y(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) want_y[i] = y0[i] + 0.75 * double(a[i]);
    each_target([&](const std::string& t) {
      const std::string what = t + " n=" + std::to_string(n);
      EXPECT_NEAR(ss::simd::dot(a.data(), b.data(), n), want, 1e-5 * mag + 1e-30) << what;
      std::vector<float> y = y0;
      ss::simd::axpy(0.75f, a.data(), y.data(), n);
      expect_close(y, want_y, 1e-6, 1, "axpy " + what);
    });
  }
}

TEST(Simd, AttentionOnEveryTargetMatchesDouble) {
  std::mt19937 rng(2);
  for (int hd : {8, 64, 80}) {
    const int H = 4, KV = 2, cap = 40;
    const auto k = normal(size_t(KV * cap * hd), rng), v = normal(size_t(KV * cap * hd), rng);
    const auto qw = normal(size_t(H * hd), rng), qs = normal(size_t(H * hd), rng);
    const float sinks[H] = {0.5f, -1, 2, 0}, slopes[H] = {0.5f, 0.25f, 0.125f, 0.0625f};
    const ss::KvSegment segs[] = {{0, 4, true}, {20, 13, false}};
    for (float softcap : {0.0f, 5.0f}) {
      ss::AttentionParamsT<double> apd{H, KV, hd};
      apd.softcap = softcap, apd.alibi_slopes = slopes;
      const auto sd = wide(std::vector<float>(sinks, sinks + H));
      apd.sink_logits = sd.data();
      const auto kd = wide(k), vd = wide(v), qwd = wide(qw), qsd = wide(qs);
      const ss::KvViewT<double> kvd{kd.data(), vd.data(), cap, segs, 2, 17};
      std::vector<double> want(size_t(H * hd)), sc(18);
      for (int h = 0; h < H; ++h)
        ss::attention_head(qwd.data(), qsd.data(), kvd, apd, h, sc.data(), want.data(), nullptr);
      ss::AttentionParams ap{H, KV, hd};
      ap.softcap = softcap, ap.alibi_slopes = slopes, ap.sink_logits = sinks;
      const ss::KvView kv{k.data(), v.data(), cap, segs, 2, 17};
      each_target([&](const std::string& t) {
        std::vector<float> out(size_t(H * hd)), s(18);
        for (int h = 0; h < H; ++h)
          ss::simd::attention_head(qw.data(), qs.data(), kv, ap, h, s.data(), out.data(), nullptr);
        expect_close(
            out, want, 1e-5, 1,
            "attention " + t + " hd=" + std::to_string(hd) + " softcap=" + std::to_string(softcap));
      });
    }
  }
}

// The op alone (simd::attn_op, the per-row op of attention and of the tiled
// path): every op, with and without the log-n bias and the extra logits, on
// lengths around each vector width, against attn_op_forward in double.
TEST(Simd, AttnOpOnEveryTargetMatchesDouble) {
  std::mt19937 rng(3);
  const ss::AttnOp ops[] = {ss::AttnOp::Softmax,     ss::AttnOp::Softmax1, ss::AttnOp::Sigmoid,
                            ss::AttnOp::SigmoidNorm, ss::AttnOp::Elu1,     ss::AttnOp::Elu1Norm};
  for (int n : kLengths) {
    const auto x = normal(size_t(n), rng, 3);
    const float extra[2] = {1.5f, 0};
    for (ss::AttnOp op : ops)
      for (bool logn : {false, true})
        for (int n_extra : {0, 2}) {
          std::vector<double> want = wide(x);
          const double extra_d[2] = {extra[0], extra[1]};
          ss::attn_op_forward(op, logn, want.data(), n, extra_d, n_extra);
          each_target([&](const std::string& t) {
            std::vector<float> got = x;
            ss::simd::attn_op(op, logn, got.data(), n, extra, n_extra);
            expect_close(got, want, 2e-6, 0,
                         std::string(ss::attn_op_name(op)) + (logn ? " logn " : " ") + t +
                             " n=" + std::to_string(n) + " extras=" + std::to_string(n_extra));
          });
        }
  }
}

// The op's backward (simd::attn_op_backward, the tiled path's): every op,
// with and without the log-n bias and the extra logits (their gradients
// accumulated onto what dextra held), against attn_op_backward in double on
// the same inputs.
TEST(Simd, AttnOpBackwardOnEveryTargetMatchesDouble) {
  std::mt19937 rng(5);
  const ss::AttnOp ops[] = {ss::AttnOp::Softmax,     ss::AttnOp::Softmax1, ss::AttnOp::Sigmoid,
                            ss::AttnOp::SigmoidNorm, ss::AttnOp::Elu1,     ss::AttnOp::Elu1Norm};
  for (int n : kLengths) {
    const auto s = normal(size_t(n), rng, 3), dp = normal(size_t(n), rng);
    const float extra[2] = {1.5f, 0};
    const double extra_d[2] = {extra[0], extra[1]};
    for (ss::AttnOp op : ops)
      for (bool logn : {false, true})
        for (int n_extra : {0, 2}) {
          std::vector<float> p = s;  // the op's weights, as the forward pass left them
          ss::simd::attn_op(op, logn, p.data(), n, extra, n_extra);
          std::vector<double> want(s.size()), dextra_want = {0.25, -0.5};
          ss::attn_op_backward(op, logn, wide(s).data(), wide(p).data(), wide(dp).data(),
                               want.data(), n, extra_d, n_extra, dextra_want.data());
          each_target([&](const std::string& t) {
            std::vector<float> got(s.size()), dextra = {0.25f, -0.5f};
            ss::simd::attn_op_backward(op, logn, s.data(), p.data(), dp.data(), got.data(), n,
                                       extra, n_extra, dextra.data());
            const std::string what = std::string(ss::attn_op_name(op)) + (logn ? " logn " : " ") +
                                     t + " n=" + std::to_string(n) +
                                     " extras=" + std::to_string(n_extra);
            expect_close(got, want, 1e-5, 1, what);
            expect_close(dextra, dextra_want, 1e-5, 1, what + " dextra");
          });
        }
  }
}

// The trainer's loss and its gradient (simd::cross_entropy) against
// -log softmax in double and softmax - onehot, times the scale, over
// vocabularies around each vector width up to a real model's.
TEST(Simd, CrossEntropyOnEveryTargetMatchesDouble) {
  std::mt19937 rng(6);
  for (int n : {1, 7, 16, 17, 259, 49152}) {
    const auto x = normal(size_t(n), rng, 4);
    const int target = n / 3;
    double mx = -INFINITY, sum = 0;
    for (float v : x) mx = std::max(mx, double(v));
    for (float v : x) sum += std::exp(v - mx);
    const double nll = std::log(sum) + mx - x[size_t(target)], scale = 0.125;
    std::vector<double> grad(x.size());
    for (size_t j = 0; j < x.size(); ++j)
      grad[j] = scale * (std::exp(x[j] - mx) / sum - (int(j) == target));
    each_target([&](const std::string& t) {
      const std::string what = t + " n=" + std::to_string(n);
      std::vector<float> row = x;
      EXPECT_NEAR(ss::simd::cross_entropy(row.data(), n, target, float(scale), false), nll,
                  1e-5 * (1 + nll))
          << what;
      EXPECT_EQ(row, x) << what << ": the row changed without grad";
      EXPECT_NEAR(ss::simd::cross_entropy(row.data(), n, target, float(scale), true), nll,
                  1e-5 * (1 + nll))
          << what;
      expect_close(row, grad, 1e-5, scale / n, what + " grad");
    });
  }
}

TEST(Simd, SumSquaresOnEveryTargetMatchesDouble) {
  std::mt19937 rng(7);
  for (int n : kLengths) {
    const auto x = normal(size_t(n), rng, 3);
    double want = 0;
    for (float v : x) want += double(v) * v;
    each_target([&](const std::string& t) {
      EXPECT_NEAR(ss::simd::sum_squares(x.data(), n), want, 1e-12 * want) << t << " n=" << n;
    });
  }
}

TEST(Simd, NormsOnEveryTargetMatchDouble) {
  std::mt19937 rng(3);
  for (int dim : {4, 8, 63, 64, 576}) {
    const int T = 3;
    auto x = normal(size_t(T * dim), rng, 3);
    for (float& e : x) e += 1.5f;  // a mean for LayerNorm to take away
    const auto g = normal(size_t(dim), rng), b = normal(size_t(dim), rng);
    for (NormKind kind : {NormKind::RMSNorm, NormKind::LayerNorm})
      for (bool bias : {false, true}) {
        const auto xd = wide(x), gd = wide(g), bd = wide(b);
        std::vector<double> want(x.size());
        ss::norm_forward(kind, xd.data(), gd.data(), bias ? bd.data() : nullptr, want.data(), T,
                         dim, 1e-5f);
        each_target([&](const std::string& t) {
          std::vector<float> y(x.size());
          ss::simd::norm(kind, x.data(), g.data(), bias ? b.data() : nullptr, y.data(), T, dim,
                         1e-5f);
          expect_close(y, want, 1e-6, 1, t + " dim=" + std::to_string(dim));
        });
      }
  }
}

TEST(Simd, RopeOnEveryTargetMatchesDouble) {
  std::mt19937 rng(4);
  for (int hd : {8, 64, 80, 128})
    for (int rot : {hd, hd / 2})
      for (RopeLayout layout : {RopeLayout::Interleaved, RopeLayout::RotateHalf})
        for (bool inverse : {false, true}) {
          const int H = 3;
          const auto x = normal(size_t(H * hd), rng);
          std::vector<float> cs(size_t(rot / 2)), sn(size_t(rot / 2));
          for (int i = 0; i < rot / 2; ++i)
            cs[i] = float(std::cos(7.0 * i + 1)), sn[i] = float(std::sin(7.0 * i + 1));
          std::vector<double> want = wide(x);
          ss::rope_rotate(want.data(), H, hd, rot, layout, cs.data(), sn.data(), inverse);
          each_target([&](const std::string& t) {
            std::vector<float> y = x;
            ss::simd::rope(y.data(), H, hd, rot, layout, cs.data(), sn.data(), inverse);
            expect_close(y, want, 1e-6, 1, t + " hd=" + std::to_string(hd));
            for (int h = 0; h < H; ++h)  // past the rotary dims: untouched
              for (int i = rot; i < hd; ++i) ASSERT_EQ(y[h * hd + i], x[h * hd + i]) << t;
          });
        }
}

TEST(Simd, ActivationsOnEveryTargetMatchDouble) {
  std::mt19937 rng(5);
  auto g = normal(1001, rng, 4);
  for (float e : {0.0f, -0.0f, 1e-20f, -1e-20f, 30.0f, -30.0f, 100.0f, -100.0f, 1e30f, -1e30f})
    g.push_back(e);
  const auto u = normal(g.size(), rng);
  for (Activation act :
       {Activation::SiLU, Activation::GELU, Activation::GELUTanh, Activation::ReLU})
    for (bool gated : {false, true}) {
      const auto gd = wide(g), ud = wide(u);
      std::vector<double> want(g.size());
      ss::activation_forward(act, gd.data(), gated ? ud.data() : nullptr, want.data(),
                             int64_t(g.size()));
      each_target([&](const std::string& t) {
        std::vector<float> h(g.size());
        ss::simd::activation(act, g.data(), gated ? u.data() : nullptr, h.data(),
                             int64_t(h.size()));
        // A few ulp of the value, or 1e-6 near zero (where 1 + tanh cancels).
        expect_close(h, want, 1e-6, 1, t + " act=" + std::to_string(int(act)));
      });
    }
}

TEST(Simd, ActivationGradientsOnEveryTargetMatchDouble) {
  std::mt19937 rng(6);
  auto g = normal(1001, rng, 4);
  for (float e : {0.0f, -0.0f, 1e-20f, -1e-20f, 30.0f, -30.0f, 100.0f, -100.0f, 1e30f, -1e30f})
    g.push_back(e);
  const auto u = normal(g.size(), rng), dh = normal(g.size(), rng);
  for (Activation act :
       {Activation::SiLU, Activation::GELU, Activation::GELUTanh, Activation::ReLU})
    for (bool gated : {false, true}) {
      const auto gd = wide(g), ud = wide(u), dhd = wide(dh);
      std::vector<double> want_dg(g.size()), want_du(g.size());
      ss::activation_backward(act, gd.data(), gated ? ud.data() : nullptr, dhd.data(),
                              want_dg.data(), want_du.data(), int64_t(g.size()));
      each_target([&](const std::string& t) {
        const std::string what = t + " act=" + std::to_string(int(act)) + (gated ? " gated" : "");
        std::vector<float> dg(g.size(), NAN), du(g.size(), NAN);
        ss::simd::activation_backward(act, g.data(), gated ? u.data() : nullptr, dh.data(),
                                      dg.data(), gated ? du.data() : nullptr, int64_t(g.size()));
        expect_close(dg, want_dg, 2e-6, 1, "dg " + what);
        if (gated) expect_close(du, want_du, 2e-6, 1, "du " + what);
      });
    }
}

TEST(Simd, NormGradientsOnEveryTargetMatchDouble) {
  std::mt19937 rng(7);
  for (int dim : {4, 7, 8, 63, 64, 256, 576}) {
    const int T = 5;
    auto x = normal(size_t(T * dim), rng, 3);
    for (float& e : x) e += 1.5f;  // a mean for LayerNorm to take away
    const auto g = normal(size_t(dim), rng), dy = normal(size_t(T * dim), rng);
    const auto dg0 = normal(size_t(dim), rng), db0 = normal(size_t(dim), rng);
    for (NormKind kind : {NormKind::RMSNorm, NormKind::LayerNorm})
      for (bool bias : {false, true}) {
        const auto xd = wide(x), gd = wide(g), dyd = wide(dy);
        std::vector<double> want_dx(x.size()), want_dg = wide(dg0), want_db = wide(db0);
        ss::norm_backward(kind, xd.data(), gd.data(), dyd.data(), want_dx.data(), want_dg.data(),
                          bias ? want_db.data() : nullptr, T, dim, 1e-5f);
        each_target([&](const std::string& t) {
          const std::string what =
              t + " dim=" + std::to_string(dim) + (kind == NormKind::RMSNorm ? " rms" : " layer");
          std::vector<float> dx(x.size(), NAN), dg = dg0, db = db0;
          ss::simd::norm_backward(kind, x.data(), g.data(), dy.data(), dx.data(), dg.data(),
                                  bias ? db.data() : nullptr, T, dim, 1e-5f);
          expect_close(dx, want_dx, 1e-6, 1, "dx " + what);
          expect_close(dg, want_dg, 1e-6, 1, "dg " + what);
          if (bias) {
            expect_close(db, want_db, 1e-6, 1, "db " + what);
          } else {
            ASSERT_EQ(db, db0) << what;  // no bias: untouched
          }
        });
      }
  }
}

// AdamW inputs: gradients over several magnitudes (and some zero, with zero
// moments: an update of 0 / eps), moments of any sign and size.
struct AdamWCase {
  std::vector<float> p, grad, m, v;
  explicit AdamWCase(size_t n, std::mt19937& rng) {
    p = normal(n, rng, 0.05f), grad = normal(n, rng), m = normal(n, rng, 0.01f);
    v = normal(n, rng, 1e-3f);
    std::uniform_int_distribution<int> scale(-8, 2);
    for (size_t i = 0; i < n; ++i) {
      grad[i] = std::ldexp(grad[i], scale(rng)), v[i] = v[i] * v[i];
      if (i % 97 == 5) grad[i] = m[i] = v[i] = 0;
    }
  }
};

// A step of AdamW in double from the same inputs, the formula of
// Trainer::train_step; m_mag and step_mag: m and the step from |m|'s two
// terms added without cancelling (the scale of float's rounding of them).
struct AdamWDouble {
  std::vector<double> p, m, v, m_mag, step_mag;
  AdamWDouble(const AdamWCase& c, const ss::AdamWStep& s) {
    for (size_t i = 0; i < c.p.size(); ++i) {
      const double g = double(c.grad[i]) * s.clip;
      m.push_back(s.beta1 * c.m[i] + (1 - s.beta1) * g);
      m_mag.push_back(std::abs(s.beta1 * c.m[i]) + std::abs((1 - s.beta1) * g));
      v.push_back(s.beta2 * c.v[i] + (1 - s.beta2) * g * g);
      const double den = std::sqrt(v[i] / s.c2) + s.eps;
      step_mag.push_back(s.lr * (m_mag[i] / s.c1) / den);
      p.push_back(c.p[i] - s.lr * (m[i] / s.c1) / den - double(s.wd) * c.p[i]);
    }
  }
};

ss::AdamWStep adamw_step(int64_t t, float clip, bool decay) {
  const double lr = 3e-3, b1 = 0.9, b2 = 0.95;
  return {clip,
          lr,
          b1,
          b2,
          1e-8,
          1 - std::pow(b1, double(t)),
          1 - std::pow(b2, double(t)),
          decay ? float(lr * 0.1) : 0.0f};
}

TEST(Simd, AdamWOnEveryTargetMatchesDouble) {
  std::mt19937 rng(8);
  for (int n : kLengths)
    for (int64_t t : {1, 7, 1000})
      for (bool decay : {false, true}) {
        const AdamWCase c(size_t(n) + 40, rng);
        const ss::AdamWStep s = adamw_step(t, t == 7 ? 0.25f : 1.0f, decay);
        const AdamWDouble want(c, s);
        each_target([&](const std::string& tg) {
          const std::string what = tg + " n=" + std::to_string(n) + " t=" + std::to_string(t);
          AdamWCase got = c;
          ss::simd::adamw(got.p.data(), got.grad.data(), got.m.data(), got.v.data(), n + 40, s);
          ASSERT_EQ(got.grad, c.grad) << what;
          for (size_t i = 0; i < c.p.size(); ++i) {
            ASSERT_LE(std::abs(got.m[i] - want.m[i]), 4e-7 * want.m_mag[i]) << what << " m " << i;
            ASSERT_LE(std::abs(got.v[i] - want.v[i]), 4e-7 * want.v[i]) << what << " v " << i;
            // Within float rounding of the parameter, plus a few ulp of the step.
            ASSERT_LE(std::abs(got.p[i] - want.p[i]),
                      0x1p-24 * std::abs(want.p[i]) + 1e-6 * want.step_mag[i])
                << what << " p " << i << ": " << got.p[i] << " vs " << want.p[i];
          }
        });
      }
}

TEST(Simd, TheBackendsAdamWSplitsLargeRangesExactly) {
  std::mt19937 rng(9);
  const size_t n = 300007;  // many threads' blocks, none a whole number of vectors
  const AdamWCase c(n, rng);
  const ss::AdamWStep s = adamw_step(3, 0.5f, true);
  AdamWCase whole = c, split = c;
  ss::simd::adamw(whole.p.data(), whole.grad.data(), whole.m.data(), whole.v.data(), int64_t(n), s);
  const auto be = ss::make_cpu_backend();
  be->adamw(split.p.data(), split.grad.data(), split.m.data(), split.v.data(), int64_t(n), s);
  EXPECT_EQ(split.p, whole.p);
  EXPECT_EQ(split.m, whole.m);
  EXPECT_EQ(split.v, whole.v);
  EXPECT_NE(split.p, c.p);
}

// Halves with finite values: the baseline x86 targets widen f16 without
// F16C by bit arithmetic that does not special-case infinities and NaNs.
std::vector<uint16_t> finite_halves(size_t n, std::mt19937& rng) {
  std::vector<uint16_t> h(n);
  for (uint16_t& x : h) {
    do x = uint16_t(rng());
    while ((x & 0x7c00) == 0x7c00);
  }
  return h;
}

TEST(Simd, FloatWeightTypesOnEveryTarget) {
  std::mt19937 rng(6);
  for (int n : kLengths) {
    const auto x = normal(size_t(n), rng);
    const auto f32 = normal(size_t(n), rng);
    std::vector<uint16_t> f16 = finite_halves(size_t(n), rng), bf16(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) bf16[i] = ss::f32_to_bf16(f32[i] * 100);
    const std::vector<std::pair<ss::DType, const void*>> rows = {
        {ss::DType::F32, f32.data()}, {ss::DType::F16, f16.data()}, {ss::DType::BF16, bf16.data()}};
    for (const auto& row : rows) {  // no binding: the lambda below uses w
      const ss::DType type = row.first;
      const void* w = row.second;
      const ss::DTypeTraits& tr = ss::traits(type);
      std::vector<float> scalar(static_cast<size_t>(n));  // the portable conversions
      for (int i = 0; i < n; ++i)
        scalar[i] = type == ss::DType::F32   ? f32[i]
                    : type == ss::DType::F16 ? ss::f16_to_f32(f16[i])
                                             : ss::bf16_to_f32(bf16[i]);
      double want = 0, mag = 0;
      for (int i = 0; i < n; ++i)
        want += double(scalar[i]) * x[i], mag += std::abs(scalar[i] * x[i]);
      each_target([&](const std::string& t) {
        const std::string what = std::string(tr.name) + " " + t + " n=" + std::to_string(n);
        std::vector<float> out(static_cast<size_t>(n));
        tr.dequantize(w, out.data(), n);
        EXPECT_EQ(std::memcmp(out.data(), scalar.data(), size_t(n) * 4), 0) << what;
        EXPECT_NEAR(tr.dot(w, x.data(), nullptr, n), want, 1e-5 * mag + 1e-30) << what;
      });
    }
  }
}

TEST(Simd, HalfConversionsAreExactAndRoundToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const int e = int(h >> 10 & 0x1f), m = int(h & 0x3ff);
    const float f = ss::f16_to_f32(uint16_t(h));
    const double sign = h & 0x8000 ? -1 : 1;
    if (e == 0x1f) {
      ASSERT_EQ(std::isnan(f), m != 0) << h;
      if (m == 0) {
        ASSERT_EQ(f, float(sign * INFINITY)) << h;
      }
      continue;
    }
    const double want = sign * (e ? std::ldexp(1024 + m, e - 25) : std::ldexp(m, -24));
    ASSERT_EQ(double(f), want) << h;
    ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << h;
    ASSERT_EQ(ss::f32_to_f16(f), h) << h;  // every finite half survives the round trip
  }
  // Halfway between two halves goes to the even one; just past it, up.
  for (uint16_t h = 0; h < 0x7bff; ++h) {
    const double lo = ss::f16_to_f32(h), hi = ss::f16_to_f32(uint16_t(h + 1));
    const auto mid = float((lo + hi) / 2);  // exact in float
    ASSERT_EQ(ss::f32_to_f16(mid), h & 1 ? h + 1 : h) << h;
    ASSERT_EQ(ss::f32_to_f16(std::nextafter(mid, INFINITY)), h + 1) << h;
    ASSERT_EQ(ss::f32_to_f16(-mid), uint16_t((h & 1 ? h + 1 : h) | 0x8000)) << h;
  }
  EXPECT_EQ(ss::f32_to_f16(65519.99f), 0x7bff);  // 65504, the largest half
  EXPECT_EQ(ss::f32_to_f16(65520.0f), 0x7c00);   // the midpoint rounds to infinity
  EXPECT_EQ(ss::f32_to_f16(1e30f), 0x7c00);
  EXPECT_EQ(ss::f32_to_f16(-INFINITY), 0xfc00);
  EXPECT_EQ(ss::f32_to_f16(1e-30f), 0);
  EXPECT_EQ(ss::f32_to_f16(std::nanf("")) & 0x7e00, 0x7e00);  // a quiet NaN
}

#if HWY_ARCH_X86
// The AVX3_DL target runs on every CPU with AVX-512 VNNI, but Highway 1.0.3
// compiles it with AVX-VNNI too, whose VEX-encoded vpdpbusd Ice Lake and Zen 4
// lack (SIGILL in the Q8_0 dot there). quant/kernels-inl.h switches it off;
// this finds any VEX-encoded VNNI instruction left in the CLI.
TEST(Simd, NoTargetUsesAvxVnniItsCpuCheckDoesNotRequire) {
  const std::string cmd = std::string("objdump -d --no-show-raw-insn '") + CLI_BIN + "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char line[512];
  size_t lines = 0, vex_vnni = 0;
  std::string first;
  while (std::fgets(line, sizeof line, p)) {
    ++lines;
    if (std::strstr(line, "{vex} vpdp")) {
      if (vex_vnni++ == 0) first = line;
    }
  }
  ASSERT_EQ(pclose(p), 0) << cmd;
  EXPECT_GT(lines, 10000u);  // objdump read the binary
  EXPECT_EQ(vex_vnni, 0u) << first;
}
#endif

TEST(Simd, TheCliRunsOnALimitedTargetAndRefusesAnUnknownOne) {
  const std::string args = "generate -n 24 --temperature 0 -p 'Once upon a time'";
  const auto best = sstest::run_cli(args);
  ASSERT_EQ(best.status, 0) << best.err;
  // A middle target (SSE4 on x86) and the last, the scalar fallback.
  const auto targets = hwy::SupportedAndGeneratedTargets();
  for (int64_t t : {targets[targets.size() / 2], targets.back()}) {
    std::string name = hwy::TargetName(t);
    for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    setenv("SINKSTREAM_SIMD", name.c_str(), 1);
    const auto r = sstest::run_cli(args);
    EXPECT_EQ(r.status, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, best.out) << name;  // the same greedy tokens
  }
  setenv("SINKSTREAM_SIMD", "avx9000", 1);
  const auto bad = sstest::run_cli(args);
  unsetenv("SINKSTREAM_SIMD");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;  // one line
  EXPECT_NE(bad.err.find("SINKSTREAM_SIMD: SIMD target 'avx9000'"), std::string::npos) << bad.err;
  EXPECT_TRUE(bad.out.empty());
}

}  // namespace
