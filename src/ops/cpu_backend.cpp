// CPU kernels: hand-written AVX2/FMA GEMV and attention for decode, OpenBLAS
// sgemm for batched rows, OpenMP across output rows and heads.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "ops/backend.h"

namespace ss {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight weights of each dtype widened to f32. The half type is a template
// argument: a dtype branch in the GEMV loop costs 5-10% of its bandwidth.
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
template <DType T>
inline __m256 load8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (T == DType::F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

float dot_f32(const float* w, const float* x, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load8(w + i), load8(x + i), a0);
    a1 = _mm256_fmadd_ps(load8(w + i + 8), load8(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load8(w + i + 16), load8(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load8(w + i + 24), load8(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load8(w + i), load8(x + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += w[i] * x[i];
  return s;
}

template <DType T>
float dot_half(const uint16_t* w, const float* x, int n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load8<T>(w + i), load8(x + i), a0);
    a1 = _mm256_fmadd_ps(load8<T>(w + i + 8), load8(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load8<T>(w + i + 16), load8(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load8<T>(w + i + 24), load8(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load8<T>(w + i), load8(x + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += (T == DType::F16 ? f16_to_f32(w[i]) : bf16_to_f32(w[i])) * x[i];
  return s;
}

float dot_q8(const BlockQ8_0* b, const float* x, int n) {
  __m256 acc = _mm256_setzero_ps();
  for (int j = 0; j < n / kQ8Block; ++j, x += kQ8Block) {
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[j].q));
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), load8(x));
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))),
                        load8(x + 8), s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), load8(x + 16), s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))),
                        load8(x + 24), s);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(b[j].scale)), s, acc);
  }
  return hsum(acc);
}

float dot_row(const Tensor& w, int64_t r, const float* x, int n) {
  switch (w.dtype) {
    case DType::F32:
      return dot_f32(static_cast<const float*>(w.data) + r * n, x, n);
    case DType::F16:
      return dot_half<DType::F16>(static_cast<const uint16_t*>(w.data) + r * n, x, n);
    case DType::BF16:
      return dot_half<DType::BF16>(static_cast<const uint16_t*>(w.data) + r * n, x, n);
    case DType::Q8_0:
      return dot_q8(static_cast<const BlockQ8_0*>(w.data) + r * (n / kQ8Block), x, n);
  }
  return 0;
}

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
    if (T == 1) {
#pragma omp parallel for schedule(static) if (out * in >= kParallelWork)
      for (int64_t r = 0; r < out; ++r) y[r] = dot_row(w, r, x, int(in));
      return;
    }
    const float* wf = static_cast<const float*>(w.data);
    if (w.dtype != DType::F32) {  // widen once per call; amortised over T rows
      dequant_.resize(size_t(out * in));
#pragma omp parallel for schedule(static) if (out * in >= kParallelWork)
      for (int64_t r = 0; r < out; ++r) dequantize_row(w, r, dequant_.data() + r * in);
      wf = dequant_.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, int(out), int(in), 1.0f, x, int(in), wf,
                int(in), 0.0f, y, int(out));
  }

  void add_bias(float* y, const float* b, int T, int n) override {
    for (int t = 0; t < T; ++t, y += n)
      for (int i = 0; i < n; ++i) y[i] += b[i];
  }

  void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
            float eps) override {
    blocks(T, int64_t(T) * dim * 4, [&](int64_t lo, int64_t hi) {
      norm_forward(kind, x + lo * dim, g, b, y + lo * dim, int(hi - lo), dim, eps);
    });
  }

  void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const RopeAngles& a,
            bool inverse) override {
    rope_rotate(x, n_heads, hd, rot, layout, a.cos, a.sin, inverse);
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
      attention_head(r.q_win, r.q_sink, r.kv, ap, int(i % H), scores.data(), r.out, probs);
    }
  }

  void activation(Activation act, const float* g, const float* u, float* h, int64_t n) override {
    blocks(n, n * 16, [&](int64_t lo, int64_t hi) {
      activation_forward(act, g + lo, u ? u + lo : nullptr, h + lo, hi - lo);
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
  std::vector<float> dequant_, partial_;
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
