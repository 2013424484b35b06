// CPU kernels: GEMV through each weight type's dot product (src/quant/),
// attention, norms, RoPE and activations (ops/simd.h), all dispatched per
// SIMD target at run time; OpenBLAS sgemm for batched rows; OpenMP across
// output rows and heads.
#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "ops/backend.h"

namespace ss {
namespace {

// Work below this many multiply-adds runs on one thread: fork/join would cost
// more, and far more when another process holds the other cores.
constexpr int64_t kParallelWork = 1 << 17;

// Runs f(lo, hi) over one contiguous block of [0, n) per thread, on every
// thread when work (multiply-adds or so) is worth a fork.
template <class F>
void blocks(int64_t n, int64_t work, F&& f) {
#pragma omp parallel if (work >= kParallelWork)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    f(n * t / k, n * (t + 1) / k);
  }
}

// Sums from several threads into outputs (some may be null), the same way
// for the same thread count: thread 0 adds into the outputs themselves, the
// others into zeroed copies that reduce() adds in thread order.
class Partials {
 public:
  struct Out {
    float* p;
    size_t n;
  };
  Partials(std::vector<float>& storage, int threads, std::vector<Out> outs)
      : outs_(std::move(outs)), threads_(threads), storage_(storage) {
    for (const Out& o : outs_) per_thread_ += o.p ? o.n : 0;
    storage_.assign(size_t(threads - 1) * per_thread_, 0.0f);
  }
  // Where thread t sums output k.
  float* of(int t, size_t k) const {
    if (t == 0 || !outs_[k].p) return outs_[k].p;
    float* at = storage_.data() + size_t(t - 1) * per_thread_;
    for (size_t j = 0; j < k; ++j) at += outs_[j].p ? outs_[j].n : 0;
    return at;
  }
  void reduce() const {
    for (int t = 1; t < threads_; ++t) {
      const float* from = storage_.data() + size_t(t - 1) * per_thread_;
      for (const Out& o : outs_) {
        if (!o.p) continue;
#pragma omp parallel for schedule(static) if (o.n >= size_t(kParallelWork))
        for (size_t i = 0; i < o.n; ++i) o.p[i] += from[i];
        from += o.n;
      }
    }
  }

 private:
  std::vector<Out> outs_;
  int threads_;
  size_t per_thread_ = 0;
  std::vector<float>& storage_;
};

class CpuBackend final : public Backend {
 public:
  void matmul(const Tensor& w, const float* x, float* y, int T) override {
    const int64_t out = w.rows(), in = w.cols();
    const DTypeTraits& tr = traits(w.dtype);
    if (T < kGemmRows) {  // GEMV: each weight row is read once for the T rows of x
      const size_t row_bytes = tr.bytes(in);
      const auto* wb = static_cast<const uint8_t*>(w.data);
      if (tr.quantized()) {
        xq_.resize(size_t(T));
        for (int t = 0; t < T; ++t) xq_[size_t(t)].quantize(x + t * in, in);
      }
#pragma omp parallel for schedule(static) if (out * in * T >= kParallelWork)
      for (int64_t r = 0; r < out; ++r)
        for (int t = 0; t < T; ++t)
          y[t * out + r] = tr.dot(wb + size_t(r) * row_bytes, x + t * in,
                                  tr.quantized() ? &xq_[size_t(t)] : nullptr, in);
      return;
    }
    if (w.dtype == DType::F32) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, int(out), int(in), 1.0f, x, int(in),
                  static_cast<const float*>(w.data), int(in), 0.0f, y, int(out));
      return;
    }
    // Other types: tiles of rows widened into a fixed scratch feed sgemm, so a
    // prompt never needs a whole matrix in f32 (an output head is 100+ MB).
    const int64_t tile = std::max<int64_t>(64, kTileFloats / in);
    tile_.resize(size_t(std::min(tile, out) * in));
    for (int64_t r0 = 0; r0 < out; r0 += tile) {
      const int64_t rows = std::min(tile, out - r0);
#pragma omp parallel for schedule(static) if (rows * in >= kParallelWork)
      for (int64_t r = 0; r < rows; ++r) dequantize_row(w, r0 + r, tile_.data() + r * in);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, int(rows), int(in), 1.0f, x, int(in),
                  tile_.data(), int(in), 0.0f, y + r0, int(out));
    }
  }

  void add_bias(float* y, const float* b, int T, int n) override {
    for (int t = 0; t < T; ++t, y += n)
      for (int i = 0; i < n; ++i) y[i] += b[i];
  }

  void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
            float eps) override {
    blocks(T, int64_t(T) * dim * 4, [&](int64_t lo, int64_t hi) {
      simd::norm(kind, x + lo * dim, g, b, y + lo * dim, int(hi - lo), dim, eps);
    });
  }

  void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const RopeAngles& a,
            bool inverse) override {
    simd::rope(x, n_heads, hd, rot, layout, a.cos, a.sin, inverse);
  }

  void attention(const AttentionRow* rows, int n, const AttentionParams& ap,
                 float* probs) override {
    check(!probs || n == 1, "attention: probabilities are captured one row at a time");
    const int H = ap.n_heads;
    int max_kept = 0;
    int64_t work = 0;
    for (int r = 0; r < n; ++r) {
      max_kept = std::max(max_kept, rows[r].kv.kept);
      work += rows[r].kv.kept;
    }
    // Rows x heads: every item writes its own head of its own row.
#pragma omp parallel for schedule(dynamic, 4) if (work * ap.head_dim * H >= kParallelWork)
    for (int64_t i = 0; i < int64_t(n) * H; ++i) {
      thread_local std::vector<float> scores;
      scores.resize(size_t(max_kept) + 1);
      const AttentionRow& r = rows[i / H];
      simd::attention_head(r.q_win, r.q_sink, r.kv, ap, int(i % H), scores.data(), r.out, probs);
    }
  }

  void activation(Activation act, const float* g, const float* u, float* h, int64_t n) override {
    blocks(n, n * 16, [&](int64_t lo, int64_t hi) {
      simd::activation(act, g + lo, u ? u + lo : nullptr, h + lo, hi - lo);
    });
  }

  void matmul_backward(const Tensor& w, const float* x, const float* dy, float* dx, float* dw,
                       int T, bool accumulate) override {
    check(w.dtype == DType::F32, "training needs f32 weights, not ", dtype_name(w.dtype));
    const int out = int(w.rows()), in = int(w.cols());
    const float* wf = static_cast<const float*>(w.data);
    if (dx)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.0f, dy, out, wf, in,
                  accumulate ? 1.0f : 0.0f, dx, in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1.0f, dy, out, x, in, 1.0f, dw,
                in);
  }

  void norm_backward(NormKind kind, const float* x, const float* g, const float* dy, float* dx,
                     float* dg, float* db, int T, int dim, float eps) override {
    const int64_t work = int64_t(T) * dim * 8;
    const Partials sums(partial_, work >= kParallelWork ? omp_get_max_threads() : 1,
                        {{dg, size_t(dim)}, {db, size_t(dim)}});
    blocks(T, work, [&](int64_t lo, int64_t hi) {
      const int t = omp_get_thread_num();
      ss::norm_backward(kind, x + lo * dim, g, dy + lo * dim, dx + lo * dim, sums.of(t, 0),
                        sums.of(t, 1), int(hi - lo), dim, eps);
    });
    sums.reduce();
  }

  void activation_backward(Activation act, const float* g, const float* u, const float* dh,
                           float* dg, float* du, int64_t n) override {
    blocks(n, n * 32, [&](int64_t lo, int64_t hi) {
      ss::activation_backward(act, g + lo, u ? u + lo : nullptr, dh + lo, dg + lo,
                              du ? du + lo : nullptr, hi - lo);
    });
  }

  void attention_backward(const AttentionGradRow* rows, int n, const AttentionParams& ap, float* dk,
                          float* dv, float* dsink, float* dkb_k, float* dkb_v) override {
    if (n == 0) return;
    const int hd = ap.head_dim;
    const size_t kv = size_t(ap.n_kv_heads) * rows[0].kv.capacity * hd;
    int max_kept = 0;
    int64_t work = 0;
    for (int r = 0; r < n; ++r)
      max_kept = std::max(max_kept, rows[r].kv.kept), work += rows[r].kv.kept;
    const int threads = work * hd * ap.n_heads >= kParallelWork ? omp_get_max_threads() : 1;
    const Partials sums(partial_, threads,
                        {{dk, kv},
                         {dv, kv},
                         {dsink, size_t(ap.n_heads)},
                         {dkb_k, size_t(ap.n_kv_heads) * hd},
                         {dkb_v, size_t(ap.n_kv_heads) * hd}});
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      std::vector<float> s(3 * (size_t(max_kept) + 1));
      float* const sc = s.data();
      // Round-robin rows: causal rows grow, so blocks would be unbalanced.
#pragma omp for schedule(static, 1)
      for (int r = 0; r < n; ++r)
        ss::attention_backward(rows[r].q, rows[r].kv, ap, rows[r].dout, rows[r].dq, sums.of(t, 0),
                               sums.of(t, 1), sums.of(t, 2), sums.of(t, 3), sums.of(t, 4), sc,
                               sc + max_kept + 1, sc + 2 * (max_kept + 1));
    }
    sums.reduce();
  }

 private:
  // Below this many rows a matmul runs as GEMV (sgemm's packing costs more).
  static constexpr int kGemmRows = 4;
  // The widened weight tile of a prefill matmul: 4 MiB, about L2 size.
  static constexpr int64_t kTileFloats = int64_t(1) << 20;
  std::vector<QuantRow> xq_;
  std::vector<float> tile_, partial_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

void rope_angles(int64_t pos, int rot_dim, double base, RopeAngles& a) {
  a.pos = pos;
  for (int i = 0; i < rot_dim / 2; ++i) {
    double theta = double(pos) * std::pow(base, -2.0 * i / rot_dim);
    a.cos[i] = float(std::cos(theta));
    a.sin[i] = float(std::sin(theta));
  }
}

void alibi_slopes(int n, float bias_max, float* out) {
  int p2 = 1;
  while (p2 * 2 <= n) p2 *= 2;
  for (int h = 0; h < p2; ++h) out[h] = float(std::pow(2.0, -bias_max * (h + 1) / p2));
  for (int h = p2; h < n; ++h)
    out[h] = float(std::pow(2.0, -bias_max * (2 * (h - p2) + 1) / (2 * p2)));
}

}  // namespace ss
