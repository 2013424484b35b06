// Every op's backward (ops/kernels.h) against central finite differences, in
// double precision: the kernels are templates, instantiated here with double.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ops/kernels.h"

using namespace ss;

namespace {

using Vec = std::vector<double>;

Vec randn(size_t n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> g(0.0, scale);
  Vec v(n);
  for (double& x : v) x = g(rng);
  return v;
}

// Checks grad against d loss / d x by central differences, element by element.
void expect_grad(Vec& x, const Vec& grad, const std::function<double()>& loss,
                 const std::string& what) {
  ASSERT_EQ(x.size(), grad.size()) << what;
  const double h = 1e-6;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss();
    x[i] = keep - h;
    const double down = loss();
    x[i] = keep;
    const double fd = (up - down) / (2 * h);
    EXPECT_NEAR(grad[i], fd, 1e-6 * (1 + std::abs(fd))) << what << " element " << i;
  }
}

double dotv(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST(GradOps, Norms) {
  std::mt19937_64 rng(1);
  const int T = 3, dim = 7;
  for (NormKind kind : {NormKind::RMSNorm, NormKind::LayerNorm}) {
    Vec x = randn(T * dim, rng, 2), g = randn(dim, rng), b = randn(dim, rng),
        dy = randn(T * dim, rng);
    auto loss = [&] {
      Vec y(x.size());
      norm_forward(kind, x.data(), g.data(), b.data(), y.data(), T, dim, 1e-5f);
      return dotv(y, dy);
    };
    Vec dx(x.size()), dg(dim, 0.0), db(dim, 0.0);
    norm_backward(kind, x.data(), g.data(), dy.data(), dx.data(), dg.data(), db.data(), T, dim,
                  1e-5f);
    const std::string name = kind == NormKind::RMSNorm ? "rmsnorm" : "layernorm";
    expect_grad(x, dx, loss, name + " x");
    expect_grad(g, dg, loss, name + " gain");
    if (kind == NormKind::LayerNorm) expect_grad(b, db, loss, name + " bias");
  }
}

TEST(GradOps, Activations) {
  std::mt19937_64 rng(2);
  const int n = 40;
  for (Activation act :
       {Activation::SiLU, Activation::GELU, Activation::GELUTanh, Activation::ReLU}) {
    for (bool gated : {true, false}) {
      Vec g = randn(n, rng, 2), u = randn(n, rng), dh = randn(n, rng);
      auto loss = [&] {
        Vec h(n);
        activation_forward(act, g.data(), gated ? u.data() : nullptr, h.data(), n);
        return dotv(h, dh);
      };
      Vec dg(n), du(n);
      activation_backward(act, g.data(), gated ? u.data() : nullptr, dh.data(), dg.data(),
                          du.data(), n);
      const std::string name = "act " + std::to_string(int(act)) + (gated ? " gated" : "");
      expect_grad(g, dg, loss, name + " g");
      if (gated) expect_grad(u, du, loss, name + " u");
    }
  }
}

TEST(GradOps, RopeBackwardIsTheInverseRotation) {
  std::mt19937_64 rng(3);
  const int heads = 2, hd = 8, rot = 6;
  const float cos[3] = {0.3f, -0.8f, 0.95f}, sin[3] = {0.9539392f, 0.6f, 0.3122499f};
  for (RopeLayout layout : {RopeLayout::Interleaved, RopeLayout::RotateHalf}) {
    Vec x = randn(heads * hd, rng), dy = randn(heads * hd, rng);
    auto loss = [&] {
      Vec y = x;
      rope_rotate(y.data(), heads, hd, rot, layout, cos, sin, false);
      return dotv(y, dy);
    };
    Vec dx = dy;
    rope_rotate(dx.data(), heads, hd, rot, layout, cos, sin, true);
    expect_grad(x, dx, loss, "rope");
  }
}

// Attention for one query over two segments of a cache, every op and extra.
struct AttnCase {
  AttnOp op;
  bool logn, sink_logits, kv_bias, alibi;
};

class GradAttention : public ::testing::TestWithParam<AttnCase> {};

TEST_P(GradAttention, MatchesFiniteDifferences) {
  const AttnCase tc = GetParam();
  std::mt19937_64 rng(4);
  const int H = 4, Hkv = 2, hd = 4, cap = 7;
  const KvSegment segs[2] = {{0, 2, false}, {3, 3, false}};  // slots 0,1 then 3,4,5
  Vec q = randn(H * hd, rng), K = randn(Hkv * cap * hd, rng), V = randn(Hkv * cap * hd, rng),
      sinks = randn(H, rng), kb = randn(Hkv * hd, rng), vb = randn(Hkv * hd, rng),
      dout = randn(H * hd, rng);
  const float slopes[4] = {0.5f, 0.25f, 0.125f, 0.0625f};
  AttentionParamsT<double> ap{H, Hkv, hd};
  ap.op = tc.op;
  ap.logn_bias = tc.logn;
  if (tc.alibi) ap.alibi_slopes = slopes;
  if (tc.sink_logits) ap.sink_logits = sinks.data();
  if (tc.kv_bias) ap.kv_bias_k = kb.data(), ap.kv_bias_v = vb.data();
  const KvViewT<double> kv{K.data(), V.data(), cap, segs, 2, 5};
  auto loss = [&] {
    Vec out(H * hd), s(kv.kept + 1);
    for (int h = 0; h < H; ++h)
      attention_head(q.data(), q.data(), kv, ap, h, s.data(), out.data(), nullptr);
    return dotv(out, dout);
  };
  Vec dq(q.size()), dK(K.size(), 0.0), dV(V.size(), 0.0), dsinks(H, 0.0), dkb(kb.size(), 0.0),
      dvb(vb.size(), 0.0), s(kv.kept + 1), p(kv.kept + 1), dp(kv.kept + 1);
  attention_backward(q.data(), kv, ap, dout.data(), dq.data(), dK.data(), dV.data(), dsinks.data(),
                     dkb.data(), dvb.data(), s.data(), p.data(), dp.data());
  expect_grad(q, dq, loss, "q");
  expect_grad(K, dK, loss, "K");  // slots outside the view get no gradient
  expect_grad(V, dV, loss, "V");
  if (tc.sink_logits) expect_grad(sinks, dsinks, loss, "sink logits");
  if (tc.kv_bias) {
    expect_grad(kb, dkb, loss, "kv-bias key");
    expect_grad(vb, dvb, loss, "kv-bias value");
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, GradAttention,
                         ::testing::Values(AttnCase{AttnOp::Softmax, false, false, false, false},
                                           AttnCase{AttnOp::Softmax, false, true, false, true},
                                           AttnCase{AttnOp::Softmax, false, false, true, false},
                                           AttnCase{AttnOp::Softmax1, false, false, false, false},
                                           AttnCase{AttnOp::Softmax1, false, true, true, true},
                                           AttnCase{AttnOp::Sigmoid, false, false, false, false},
                                           AttnCase{AttnOp::Sigmoid, true, false, true, false},
                                           AttnCase{AttnOp::SigmoidNorm, false, false, false, true},
                                           AttnCase{AttnOp::SigmoidNorm, true, false, true, false},
                                           AttnCase{AttnOp::Elu1, false, false, true, false},
                                           AttnCase{AttnOp::Elu1Norm, false, false, false, true}),
                         [](const auto& info) {
                           const AttnCase& c = info.param;
                           return std::string(attn_op_name(c.op)) + (c.logn ? "_logn" : "") +
                                  (c.sink_logits ? "_sinklogit" : "") +
                                  (c.kv_bias ? "_kvbias" : "") + (c.alibi ? "_alibi" : "");
                         });

// The op alone: weights of known scores, by definition.
TEST(GradOps, AttnOpWeightsByDefinition) {
  const double s[3] = {0.5, -1.0, 2.0};
  auto weights = [&](AttnOp op, bool logn, const double* extra, int n_extra) {
    Vec p(s, s + 3);
    attn_op_forward(op, logn, p.data(), 3, extra, n_extra);
    return p;
  };
  const double zero = 0;
  const double z = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
  EXPECT_NEAR(weights(AttnOp::Softmax, false, nullptr, 0)[2], std::exp(2.0) / z, 1e-12);
  EXPECT_NEAR(weights(AttnOp::Softmax1, false, &zero, 1)[0], std::exp(0.5) / (1 + z), 1e-12);
  EXPECT_NEAR(weights(AttnOp::Sigmoid, false, nullptr, 0)[1], 1 / (1 + std::exp(1.0)), 1e-12);
  EXPECT_NEAR(weights(AttnOp::Sigmoid, true, nullptr, 0)[1], 1 / (1 + std::exp(1.0 + std::log(3))),
              1e-12);
  EXPECT_NEAR(weights(AttnOp::Elu1, false, nullptr, 0)[1], std::exp(-1.0), 1e-12);
  EXPECT_NEAR(weights(AttnOp::Elu1, false, nullptr, 0)[2], 3.0, 1e-12);
  const double e = std::exp(-1.0) + 1.5 + 3.0;
  EXPECT_NEAR(weights(AttnOp::Elu1Norm, false, nullptr, 0)[0], 1.5 / e, 1e-12);
}
