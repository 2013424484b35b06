// CPU kernels: hand-written AVX2/FMA GEMV and attention for decode, OpenBLAS
// sgemm for batched rows, OpenMP across output rows and heads.
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

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

// y += p * v over n floats.
inline void axpy(float p, const float* v, float* y, int n) {
  int i = 0;
  __m256 pp = _mm256_set1_ps(p);
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pp, load8(v + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += p * v[i];
}

// q·k for one attention score: head dims are short, so one accumulator and no call.
__attribute__((always_inline)) inline float score_dot(const float* k, const float* q, int hd) {
  if (hd % 8 != 0) return dot_f32(k, q, hd);
  __m256 a = _mm256_mul_ps(load8(k), load8(q));
  for (int i = 8; i < hd; i += 8) a = _mm256_fmadd_ps(load8(k + i), load8(q + i), a);
  return hsum(a);
}

// Work below this many multiply-adds runs on one thread: fork/join would cost
// more, and far more when another process holds the other cores.
constexpr int64_t kParallelWork = 1 << 17;

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
    for (int t = 0; t < T; ++t, x += dim, y += dim) {
      double mean = 0, ss = 0;
      if (kind == NormKind::LayerNorm) {
        for (int i = 0; i < dim; ++i) mean += x[i];
        mean /= dim;
      }
      for (int i = 0; i < dim; ++i) ss += (x[i] - mean) * (x[i] - mean);
      const float s = float(1.0 / std::sqrt(ss / dim + eps)), m = float(mean);
      for (int i = 0; i < dim; ++i) y[i] = (x[i] - m) * s * g[i] + (b ? b[i] : 0.0f);
    }
  }

  void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout,
            const RopeAngles& a) override {
    const int half = rot / 2;
    for (int h = 0; h < n_heads; ++h, x += hd) {
      for (int i = 0; i < half; ++i) {
        // Interleaved pairs (2i, 2i+1); rotate-half pairs (i, i + r/2).
        float* p0 = layout == RopeLayout::Interleaved ? x + 2 * i : x + i;
        float* p1 = layout == RopeLayout::Interleaved ? x + 2 * i + 1 : x + i + half;
        float v0 = *p0, v1 = *p1;
        *p0 = v0 * a.cos[i] - v1 * a.sin[i];
        *p1 = v0 * a.sin[i] + v1 * a.cos[i];
      }
    }
  }

  void attention(const float* q_win, const float* q_sink, const KvView& kv,
                 const AttentionParams& ap, float* out, float* probs) override {
    const int hd = ap.head_dim, group = ap.n_heads / ap.n_kv_heads;
    const float scale = 1.0f / std::sqrt(float(hd));
#pragma omp parallel for schedule(static) if (int64_t(kv.kept) * hd * ap.n_heads >= kParallelWork)
    for (int h = 0; h < ap.n_heads; ++h) {
      thread_local std::vector<float> scratch;
      float* p = probs ? probs + int64_t(h) * kv.kept : (scratch.resize(kv.kept), scratch.data());
      const int64_t base = int64_t(h / group) * kv.capacity * hd;
      const float* K = kv.k + base;
      const float* V = kv.v + base;
      const float slope = ap.alibi_slopes ? ap.alibi_slopes[h] * ap.alibi_scale : 0.0f;
      float mx = ap.sink_logits ? ap.sink_logits[h] : -INFINITY;
      int j = 0;
      for (int s = 0; s < kv.n_segments; ++s) {
        const KvSegment& seg = kv.segments[s];
        const float* q = (seg.sink ? q_sink : q_win) + h * hd;
        for (int i = 0; i < seg.count; ++i, ++j) {
          p[j] = score_dot(K + int64_t(seg.first_slot + i) * hd, q, hd) * scale -
                 slope * float(kv.kept - 1 - j);
          mx = std::max(mx, p[j]);
        }
      }
      float sum = ap.sink_logits ? std::exp(ap.sink_logits[h] - mx) : 0.0f;
      for (j = 0; j < kv.kept; ++j) sum += (p[j] = std::exp(p[j] - mx));
      const float inv = 1.0f / sum;
      float* o = out + h * hd;
      std::memset(o, 0, sizeof(float) * hd);
      j = 0;
      for (int s = 0; s < kv.n_segments; ++s) {
        const KvSegment& seg = kv.segments[s];
        for (int i = 0; i < seg.count; ++i, ++j) {
          p[j] *= inv;
          axpy(p[j], V + int64_t(seg.first_slot + i) * hd, o, hd);
        }
      }
    }
  }

  void activation(Activation act, float* g, const float* u, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) {
      const float x = g[i];
      float y = 0;
      switch (act) {
        case Activation::SiLU:
          y = x / (1.0f + std::exp(-x));
          break;
        case Activation::GELU:
          y = 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2)));
          break;
        case Activation::GELUTanh:
          y = 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
          break;
        case Activation::ReLU:
          y = x > 0 ? x : 0.0f;
          break;
      }
      g[i] = u ? y * u[i] : y;
    }
  }

 private:
  std::vector<float> dequant_;
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
