// The float weight types: f32, f16 and bf16. Their GEMV reads the weights
// at full width against an f32 activation row (AVX2/FMA).
#include <immintrin.h>

#include "quant/quant.h"

namespace ss::quant {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight weights of each type widened to f32. The type is a template
// argument: a branch in the GEMV loop costs 5-10% of its bandwidth.
template <DType T>
inline __m256 load8(const void* p, int64_t i) {
  if constexpr (T == DType::F32) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  const __m128i h =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
  if constexpr (T == DType::F16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

template <DType T>
inline float scalar_at(const void* p, int64_t i) {
  if constexpr (T == DType::F32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  return T == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
}

template <DType T>
float dot(const void* w, const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load8<T>(w, i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load8<T>(w, i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load8<T>(w, i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load8<T>(w, i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load8<T>(w, i), _mm256_loadu_ps(x + i), a0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) s += scalar_at<T>(w, i) * x[i];
  return s;
}

template <DType T>
void widen(const void* w, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = scalar_at<T>(w, i);
}

}  // namespace

void dequantize_f32(const void* w, float* out, int64_t n) { std::memcpy(out, w, size_t(n) * 4); }
void dequantize_f16(const void* w, float* out, int64_t n) { widen<DType::F16>(w, out, n); }
void dequantize_bf16(const void* w, float* out, int64_t n) { widen<DType::BF16>(w, out, n); }
float dot_f32(const void* w, const float* x, const QuantRow*, int64_t n) {
  return dot<DType::F32>(w, x, n);
}
float dot_f16(const void* w, const float* x, const QuantRow*, int64_t n) {
  return dot<DType::F16>(w, x, n);
}
float dot_bf16(const void* w, const float* x, const QuantRow*, int64_t n) {
  return dot<DType::BF16>(w, x, n);
}
void quantize_f32(const float* x, void* w, int64_t n) { std::memcpy(w, x, size_t(n) * 4); }
void quantize_f16(const float* x, void* w, int64_t n) {
  auto* h = static_cast<uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(x[i]);
}
void quantize_bf16(const float* x, void* w, int64_t n) {
  auto* h = static_cast<uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}

}  // namespace ss::quant
