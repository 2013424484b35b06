// sinkstream_bench_gemm: GFLOP/s of ss::sgemm (ops/gemm.h) against the linked
// cblas_sgemm, same process and environment, on the training step's shapes
// (sinkstream_bench --only train: 2048 rows = batch 8 x ctx 256; dims 256,
// SwiGLU 688, vocab 259), a few prefill row counts, attention tiles and 1024^3; at 1 and 2
// threads. Prints each and the ratio ours / cblas. `sinkstream_bench_gemm avx2`
// caps our target.
#include <cblas.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "ops/gemm.h"

namespace {

struct Case {
  std::string what;
  bool ta, tb;
  int M, N, K;
  float beta;
};

// Best seconds per call of f over repetitions filling about 0.25 s.
template <class F>
double best_s(F f) {
  f();
  double best = 1e30, spent = 0;
  for (int r = 0; r < 200 && (spent < 0.25 || r < 5); ++r) {
    const double t0 = ssbench::now_s();
    f();
    const double t = ssbench::now_s() - t0;
    best = std::min(best, t);
    spent += t;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("sinkstream_bench_gemm: ss::sgemm against the linked cblas_sgemm, GFLOP/s");
  std::string target;
  app.add_option("target", target,
                 "Cap our kernels' SIMD target (avx2, sse4, ...), as SINKSTREAM_SIMD does");
  CLI11_PARSE(app, argc, argv);
  try {
    if (!target.empty()) ss::limit_simd_target(target);
  } catch (const ss::Error& e) {
    std::fprintf(stderr, "sinkstream_bench_gemm: %s\n", e.what());
    return 2;
  }
  constexpr int T = 2048;
  std::vector<Case> cases;
  const int dims[][2] = {{256, 256}, {256, 688}, {688, 256}, {256, 259}};  // {in, out}
  for (const auto& io : dims) {
    const int in = io[0], out = io[1];
    const std::string s = std::to_string(in) + "->" + std::to_string(out);
    cases.push_back({"fwd   " + s, false, true, T, out, in, 0});
    cases.push_back({"dx    " + s, false, false, T, in, out, 1});
    cases.push_back({"dW    " + s, true, false, out, in, T, 1});
  }
  for (int t : {4, 16, 32, 64, 256, 512})
    cases.push_back({"pre" + std::to_string(t) + " 256->688", false, true, t, 688, 256, 0});
  // Attention over a tile (CpuBackend: 32 rows of up to 4 query heads sharing a KV head,
  // against 256 slots, head dim 64): scores, their weighted sum of V, and dK/dV; for one,
  // two and four heads (32, 64 and 128 rows; the train section's model has one).
  for (int m : {32, 64, 128}) {
    const std::string rows = " " + std::to_string(m) + "r";
    cases.push_back({"attn q.k" + rows, false, true, m, 256, 64, 0});
    cases.push_back({"attn p.v" + rows, false, false, m, 64, 256, 0});
    cases.push_back({"attn dk" + rows, true, false, 256, 64, m, 1});
  }
  cases.push_back({"1024^3 NN", false, false, 1024, 1024, 1024, 0});

  std::printf("simd target %s, OpenBLAS core %s\n", ss::simd_target(), openblas_get_corename());
  std::printf("%-18s %3s %7s %7s %7s  %s\n", "shape (M x N x K)", "thr", "ours", "cblas", "ratio",
              "GFLOP/s");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    for (const Case& c : cases) {
      const int lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      std::vector<float> A(size_t(c.M) * c.K), B(size_t(c.K) * c.N), C(size_t(c.M) * c.N);
      for (float& x : A) x = u(rng);
      for (float& x : B) x = u(rng);
      const double flop = 2.0 * c.M * c.N * c.K;
      const double ours = best_s([&] {
        ss::sgemm(c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), lda, B.data(), ldb, c.beta, C.data(),
                  c.N);
      });
      const double theirs = best_s([&] {
        cblas_sgemm(CblasRowMajor, c.ta ? CblasTrans : CblasNoTrans,
                    c.tb ? CblasTrans : CblasNoTrans, c.M, c.N, c.K, 1.0f, A.data(), lda, B.data(),
                    ldb, c.beta, C.data(), c.N);
      });
      std::printf("%-12s %4dx%4dx%4d %d %7.1f %7.1f %6.2fx\n", c.what.c_str(), c.M, c.N, c.K,
                  threads, flop / ours * 1e-9, flop / theirs * 1e-9, theirs / ours);
    }
  }
  return 0;
}
