// ss::sgemm (ops/gemm.h) on every SIMD target this CPU runs, forced one at a
// time, against a double reference with cblas_sgemm's row-major semantics:
// the four transpose combinations, alpha and beta 0, 1 and other values, odd
// sizes (edge tiles in M, N and K, several cache blocks), leading dimensions
// wider than the rows (the gaps untouched), beta 0 ignoring NaNs in C; and
// bit-identical repeats at 1 and 2 threads, inside a parallel region, bad sizes.
#include <hwy/targets.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/gemm.h"
#include "testutil.h"

namespace {

constexpr float kGap = -12345.0f;  // fills the columns past N in each row of C

struct Problem {
  bool ta, tb;
  int M, N, K, lda, ldb, ldc;
  std::vector<float> A, B, C;  // C as it is before the call

  Problem(bool ta_, bool tb_, int M_, int N_, int K_, int pad, std::mt19937& rng)
      : ta(ta_), tb(tb_), M(M_), N(N_), K(K_) {
    lda = (ta ? M : K) + pad;
    ldb = (tb ? K : N) + pad;
    ldc = N + pad;
    std::uniform_real_distribution<float> u(-1, 1);
    A.resize(size_t(ta ? K : M) * lda);
    B.resize(size_t(tb ? N : K) * ldb);
    C.assign(size_t(M) * ldc, kGap);
    for (float& x : A) x = u(rng);
    for (float& x : B) x = u(rng);
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[size_t(i) * ldc + j] = u(rng);
  }
  float a(int i, int k) const { return ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k]; }
  float b(int k, int j) const { return tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j]; }

  std::vector<float> run(float alpha, float beta, bool nan_c = false) const {
    std::vector<float> c = C;
    if (nan_c)
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) c[size_t(i) * ldc + j] = std::nanf("");
    ss::sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, c.data(), ldc);
    return c;
  }

  // got against alpha op(A) op(B) + beta C in double, each element within
  // 1e-5 of the sum of its terms' magnitudes; the gaps past N unchanged.
  void expect_matches(const std::vector<float>& got, float alpha, float beta,
                      const std::string& what) const {
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j) {
        double s = 0, mag = 0;
        for (int k = 0; k < K; ++k) {
          const double t = double(a(i, k)) * b(k, j);
          s += t;
          mag += std::abs(t);
        }
        const double c0 = beta == 0 ? 0 : double(C[size_t(i) * ldc + j]);
        const double want = alpha * s + beta * c0;
        const double tol = 1e-5 * (std::abs(alpha) * mag + std::abs(beta * c0)) + 1e-30;
        const float g = got[size_t(i) * ldc + j];
        ASSERT_LE(std::abs(g - want), tol)
            << what << " C[" << i << "][" << j << "] = " << g << ", want " << want;
      }
      for (int j = N; j < ldc; ++j)
        ASSERT_EQ(got[size_t(i) * ldc + j], kGap) << what << " gap of row " << i;
    }
  }
};

std::string name(const Problem& p, float alpha, float beta) {
  return std::string(p.ta ? "T" : "N") + (p.tb ? "T" : "N") + " " + std::to_string(p.M) + "x" +
         std::to_string(p.N) + "x" + std::to_string(p.K) + " alpha " + std::to_string(alpha) +
         " beta " + std::to_string(beta);
}

// Runs f once per target with dispatch forced to it; f gets the name.
template <class F>
void each_target(F f) {
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(t);
    f(std::string(hwy::TargetName(t)));
  }
  hwy::SetSupportedTargetsForTest(0);
}

const float kAlphas[] = {1.0f, -0.75f, 0.0f};
const float kBetas[] = {0.0f, 1.0f, 0.5f};

TEST(Gemm, EveryTargetAndTransposeMatchesDouble) {
  // {M, N, K}: single elements, edge tiles in each dimension, odd sizes past a
  // block of K (256) and of M (256), the model's 259 and 688; N = 256 and 64
  // (tiles 2 vectors wide), 48, 259, 688 and 3100 (3 wide).
  const int shapes[][3] = {{1, 1, 1},      {3, 17, 1},   {17, 3, 259},  {259, 17, 3},
                           {8, 48, 16},    {9, 49, 257}, {1, 688, 259}, {17, 259, 688},
                           {300, 97, 600}, {4, 3100, 5}, {77, 256, 40}, {50, 64, 300}};
  each_target([&](const std::string& target) {
    std::mt19937 rng(7);
    int variant = 0;
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const auto& s : shapes) {
          const Problem p(ta, tb, s[0], s[1], s[2], variant % 3 == 0 ? 0 : 5, rng);
          const float alpha = kAlphas[variant % 2], beta = kBetas[variant % 3];
          ++variant;
          p.expect_matches(p.run(alpha, beta), alpha, beta, target + " " + name(p, alpha, beta));
        }
  });
}

TEST(Gemm, AlphaAndBetaOnEveryTarget) {
  each_target([&](const std::string& target) {
    std::mt19937 rng(3);
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const Problem p(ta, tb, 19, 53, 37, 2, rng);
        for (float alpha : kAlphas)
          for (float beta : kBetas)
            p.expect_matches(p.run(alpha, beta), alpha, beta, target + " " + name(p, alpha, beta));
      }
  });
}

TEST(Gemm, BetaZeroIgnoresWhatCHolds) {
  std::mt19937 rng(5);
  const Problem p(false, true, 21, 50, 30, 3, rng);
  p.expect_matches(p.run(1.5f, 0.0f, true), 1.5f, 0.0f, "NaN C, beta 0");
  p.expect_matches(p.run(0.0f, 0.0f, true), 0.0f, 0.0f, "NaN C, alpha 0, beta 0");
}

TEST(Gemm, EmptyKScalesCByBeta) {
  std::mt19937 rng(9);
  const Problem p(false, false, 5, 7, 0, 1, rng);
  for (float beta : kBetas) p.expect_matches(p.run(1.0f, beta), 1.0f, beta, "K 0");
}

// The same call repeats bit for bit at 1 and at 2 threads; and since no
// thread count splits K, the two agree too.
TEST(Gemm, RepeatsBitForBitAtEachThreadCount) {
  std::mt19937 rng(11);
  const int shapes[][2] = {{517, 0}, {517, 1}, {20, 0}};  // {M, trans_a}: packed, and dots
  for (const auto& s : shapes) {
    const Problem p(s[1] != 0, true, s[0], 259, 700, 0, rng);
    const int saved = omp_get_max_threads();
    std::vector<std::vector<float>> first;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      const std::vector<float> c1 = p.run(1.0f, 1.0f), c2 = p.run(1.0f, 1.0f);
      EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)), 0)
          << threads << " threads";
      first.push_back(c1);
    }
    omp_set_num_threads(saved);
    p.expect_matches(first[0], 1.0f, 1.0f, name(p, 1.0f, 1.0f));
    EXPECT_EQ(std::memcmp(first[0].data(), first[1].data(), first[0].size() * sizeof(float)), 0);
  }
}

// Called from each thread of a parallel region, each product runs on its own
// thread and equals the one called outside.
TEST(Gemm, InsideAParallelRegionEachCallIsItsOwn) {
  std::mt19937 rng(13);
  const Problem p(false, false, 200, 300, 150, 0, rng);
  const std::vector<float> outside = p.run(1.0f, 0.0f);
  std::vector<std::vector<float>> inside(4);
#pragma omp parallel for num_threads(4)
  for (int t = 0; t < 4; ++t) inside[size_t(t)] = p.run(1.0f, 0.0f);
  for (const auto& c : inside)
    EXPECT_EQ(std::memcmp(c.data(), outside.data(), c.size() * sizeof(float)), 0);
}

TEST(Gemm, BadSizesAreErrors) {
  float x[4] = {};
  EXPECT_NE(sstest::error_of([&] {
              ss::sgemm(false, false, -1, 1, 1, 1, x, 1, x, 1, 0, x, 1);
            }).find("negative size"),
            std::string::npos);
  EXPECT_NE(sstest::error_of([&] {
              ss::sgemm(false, false, 2, 2, 2, 1, x, 1, x, 2, 0, x, 2);
            }).find("lda 1 too small"),
            std::string::npos);
  EXPECT_NE(sstest::error_of([&] {
              ss::sgemm(false, true, 2, 2, 2, 1, x, 2, x, 1, 0, x, 2);
            }).find("ldb 1 too small"),
            std::string::npos);
  EXPECT_NE(sstest::error_of([&] {
              ss::sgemm(false, false, 2, 2, 2, 1, x, 2, x, 2, 0, x, 1);
            }).find("ldc 1 too small"),
            std::string::npos);
}

}  // namespace
