// Kernel microbenchmarks (Google Benchmark), on 110M-shape operands. Each
// benchmark cycles over enough copies of its operands to read them from DRAM,
// as decode does. Ratio counters, against figures measured at start-up:
//   of_triad  bytes/s over the STREAM triad (GEMV, attention)
//   of_sgemm  FLOP/s over a plain 1024^3 cblas_sgemm (batched matmul)
// Run with --benchmark_filter=REGEX to pick; all rates use wall time.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "cache/kv_cache.h"
#include "ops/backend.h"

using namespace ss;

namespace {

double g_triad = 0;  // bytes/s
double g_sgemm = 0;  // FLOP/s
constexpr int64_t kColdBytes = int64_t(256) << 20;

// Copies of one random rows x cols weight matrix, enough to exceed kColdBytes.
struct Weights {
  std::vector<std::vector<uint16_t>> bufs;
  std::vector<Tensor> t;
};
Weights make_weights(DType dtype, int64_t rows, int64_t cols) {
  Weights w;
  const Tensor t{dtype, {rows, cols}, nullptr};
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0, 1);
  const int64_t n = rows * cols, copies = (kColdBytes + t.nbytes() - 1) / t.nbytes();
  std::vector<uint16_t> b(dtype == DType::F32 ? 2 * n : n);
  for (int64_t i = 0; i < n; ++i) {
    const float v = g(rng);
    if (dtype == DType::F32)
      reinterpret_cast<float*>(b.data())[i] = v;
    else
      b[i] = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
  }
  w.bufs.assign(copies, b);
  for (auto& c : w.bufs) w.t.push_back({dtype, {rows, cols}, c.data()});
  return w;
}

void BM_Matmul(benchmark::State& st, DType dtype) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const int T = int(st.range(2));
  const Weights w = make_weights(dtype, rows, cols);
  std::vector<float> x(T * cols, 0.5f), y(T * rows);
  auto be = make_cpu_backend();
  size_t i = 0;
  const double t0 = ssbench::now_s();
  for (auto _ : st) {
    be->matmul(w.t[i++ % w.t.size()], x.data(), y.data(), T);
    benchmark::ClobberMemory();
  }
  const double secs = ssbench::now_s() - t0, n = double(st.iterations());
  const double bytes = n * w.t[0].nbytes(), flop = n * 2.0 * T * rows * cols;
  st.SetBytesProcessed(int64_t(bytes));
  st.counters["FLOP/s"] = benchmark::Counter(flop, benchmark::Counter::kIsRate);
  if (T == 1)
    st.counters["of_triad"] = bytes / secs / g_triad;
  else
    st.counters["of_sgemm"] = flop / secs / g_sgemm;
}

// One decode-step attention call over `kept` full cache slots, 12 heads of 64.
void BM_Attention(benchmark::State& st) {
  const int kept = int(st.range(0)), H = 12, hd = 64;
  const int64_t layer_bytes = int64_t(2) * H * kept * hd * sizeof(float);
  const int layers = int((kColdBytes + layer_bytes - 1) / layer_bytes);
  KvCache cache(layers, H, hd, 0, kept, true);
  for (int l = 0; l < layers; ++l) {
    std::fill_n(cache.k(l), int64_t(H) * kept * hd, 0.01f * l);
    std::fill_n(cache.v(l), int64_t(H) * kept * hd, 1.0f);
  }
  std::vector<float> q(H * hd, 0.1f), out(H * hd);
  const KvSegment seg{0, kept, false};
  const AttentionParams params{H, H, hd};
  auto be = make_cpu_backend();
  int l = 0;
  const double t0 = ssbench::now_s();
  for (auto _ : st) {
    const AttentionRow row{
        q.data(), q.data(), {cache.k(l), cache.v(l), kept, &seg, 1, kept}, out.data()};
    be->attention(&row, 1, params, nullptr);
    benchmark::ClobberMemory();
    l = (l + 1) % layers;
  }
  const double secs = ssbench::now_s() - t0, bytes = double(st.iterations()) * layer_bytes;
  st.SetBytesProcessed(int64_t(bytes));
  st.counters["of_triad"] = bytes / secs / g_triad;
}

// Causal attention over T rows of one sample (the training and prefill
// shape: 4 heads of 64, row i sees slots 0..i of a dense cache): forward
// (range(1) == 0) or backward (1). FLOP/s counts the lower triangle's
// multiply-adds: 2 T(T+1)/2 hd per head for each of the forward's 2 products
// and the backward's 4.
void BM_AttentionCausal(benchmark::State& st) {
  const int T = int(st.range(0)), H = 4, hd = 64;
  const bool backward = st.range(1) != 0;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0, 1);
  auto fill = [&](std::vector<float>& x) {
    for (float& v : x) v = g(rng);
  };
  std::vector<float> k(size_t(H) * T * hd), v(k.size()), q(size_t(T) * H * hd), out(q.size()),
      dq(q.size()), dk(k.size()), dv(k.size());
  fill(k), fill(v), fill(q), fill(out);
  std::vector<KvSegment> segs(static_cast<size_t>(T));
  std::vector<AttentionRow> rows(static_cast<size_t>(T));
  std::vector<AttentionGradRow> grad_rows(static_cast<size_t>(T));
  for (int i = 0; i < T; ++i) {
    segs[size_t(i)] = {0, i + 1, false};
    const KvView kv{k.data(), v.data(), T, &segs[size_t(i)], 1, i + 1};
    float* qi = q.data() + size_t(i) * H * hd;
    rows[size_t(i)] = {qi, qi, kv, out.data() + size_t(i) * H * hd};
    grad_rows[size_t(i)] = {qi, kv, out.data() + size_t(i) * H * hd,
                            dq.data() + size_t(i) * H * hd};
  }
  const AttentionParams params{H, H, hd};
  auto be = make_cpu_backend();
  for (auto _ : st) {
    if (backward)
      be->attention_backward(grad_rows.data(), T, params, dk.data(), dv.data(), nullptr, nullptr,
                             nullptr);
    else
      be->attention(rows.data(), T, params, nullptr);
    benchmark::ClobberMemory();
  }
  const double macs = double(T) * (T + 1) / 2 * hd * H * (backward ? 4 : 2);
  st.counters["FLOP/s"] =
      benchmark::Counter(double(st.iterations()) * 2 * macs, benchmark::Counter::kIsRate);
}

double sgemm_flops() {
  const int n = 1024;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = ssbench::now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    best = std::min(best, ssbench::now_s() - t0);
  }
  return 2.0 * n * n * n / best;
}

// 110M-shape attention projections, FFN gate/up and down, and the LM head.
void shapes(benchmark::internal::Benchmark* b, int T) {
  for (auto [rows, cols] : {std::pair{768, 768}, {2048, 768}, {768, 2048}, {32000, 768}})
    b->Args({rows, cols, T});
  b->ArgNames({"rows", "cols", "T"})->UseRealTime();
}
void decode_shapes(benchmark::internal::Benchmark* b) { shapes(b, 1); }
void prefill_shapes(benchmark::internal::Benchmark* b) { shapes(b, 64); }

}  // namespace

BENCHMARK_CAPTURE(BM_Matmul, f32, DType::F32)->Apply(decode_shapes);
BENCHMARK_CAPTURE(BM_Matmul, f16, DType::F16)->Apply(decode_shapes);
BENCHMARK_CAPTURE(BM_Matmul, bf16, DType::BF16)->Apply(decode_shapes);
BENCHMARK_CAPTURE(BM_Matmul, f32_prefill, DType::F32)->Apply(prefill_shapes);
BENCHMARK_CAPTURE(BM_Matmul, bf16_prefill, DType::BF16)->Apply(prefill_shapes);
BENCHMARK(BM_Attention)->Arg(256)->Arg(1024)->Arg(4096)->UseRealTime();
BENCHMARK(BM_AttentionCausal)
    ->ArgsProduct({{256, 1024}, {0, 1}})
    ->ArgNames({"T", "backward"})
    ->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_triad = ssbench::triad_gbs(int64_t(1) << 25, 10, false) * 1e9;
  g_sgemm = sgemm_flops();
  benchmark::AddCustomContext("triad_GB/s", std::to_string(g_triad / 1e9));
  benchmark::AddCustomContext("sgemm_GFLOP/s", std::to_string(g_sgemm / 1e9));
  benchmark::AddCustomContext("simd_target", ss::simd_target());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
