// Per-target generic kernels of the quantised types (see quant/quant.h):
// dequantisation and the integer dot product over unpacked 32-value chunks.
// Included by each type file once per Highway target (foreach_target.h).
// x86 targets use intrinsics where Highway 1.0.3 has no op: AVX2 multiplies
// u8 x s8 pairs with vpmaddubsw, AVX3_DL (AVX-512 VNNI) with vpdpbusd. Other
// targets run the scalar chunk code.
//
// A SIMD chunk type C extends the scalar one (quant.h) with kSplit (the two
// half-chunk scales differ) and, on x86,
//   static __m256i unpack(const uint8_t* block, int k, float s[2], float b[2]);
// returning the 32 values as bytes (s8, or u8 when !kSigned).
#if defined(SS_QUANT_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SS_QUANT_KERNELS_INL_H_
#undef SS_QUANT_KERNELS_INL_H_
#else
#define SS_QUANT_KERNELS_INL_H_
#endif

#include <hwy/highway.h>

#include "quant/quant.h"

#undef SS_QUANT_X86
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#define SS_QUANT_X86 1
#else
#define SS_QUANT_X86 0
#endif

// HWY_BEFORE_NAMESPACE plus AVX-512 VNNI, which Highway 1.0.3's AVX3_DL
// target string lacks (its CPU check requires it), and minus AVX-VNNI, which
// the string has but the check does not require: with it GCC encodes 256-bit
// vpdpbusd as VEX, an illegal instruction on Ice Lake and Zen 4. Every
// quantised kernel region opens with it, so that its functions inline into
// each other.
#undef SS_QUANT_BEFORE_NAMESPACE
#if HWY_TARGET == HWY_AVX3_DL
#define SS_QUANT_BEFORE_NAMESPACE() \
  HWY_BEFORE_NAMESPACE();           \
  _Pragma("GCC target(\"avx512vnni,no-avxvnni\")") static_assert(true, "")
#else
#define SS_QUANT_BEFORE_NAMESPACE() HWY_BEFORE_NAMESPACE()
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {

#if SS_QUANT_X86
// 8 int32 sums of four u8 x s8 products each.
HWY_INLINE __m256i dot_u8s8(__m256i u, __m256i s) {
#if HWY_TARGET == HWY_AVX3_DL
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
// The same for s8 x s8: |a| times b with a's sign.
HWY_INLINE __m256i dot_s8s8(__m256i a, __m256i b) {
  return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
HWY_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// 16 packed 4-bit values (low nibbles first, then high) as 32 bytes.
HWY_INLINE __m256i nibbles(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}
// Bit i of x as byte i: 0xFF where set.
HWY_INLINE __m256i bytes_from_bits(uint32_t x) {
  const __m256i shuf =
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(x)), shuf);
  v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}
// Bytes >> shift, masked, for 32 packed bytes.
HWY_INLINE __m256i bits_at(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)),
                          _mm256_set1_epi8(char(mask)));
}
HWY_INLINE __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
// The f16 at p, widened with F16C.
HWY_INLINE float f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
#endif

template <class C>
float DotChunks(const void* wv, const QuantRow& x, int64_t n) {
#if SS_QUANT_X86
  const auto* w = static_cast<const uint8_t*>(wv);
  const int8_t* xq = x.q.data();
  const float* xd = x.d.data();
  const int16_t* xs = x.sum16.data();
  __m256 acc = _mm256_setzero_ps();
  float off = 0;
  for (int64_t blk = 0; blk < n / C::kValues; ++blk, w += C::kBytes)
    for (int k = 0; k < C::kValues / 32; ++k, xq += 32, ++xd, xs += 2) {
      float s[2], b[2] = {0, 0};
      const __m256i q = C::unpack(w, k, s, b);
      const __m256i xv = load32(xq);
      const __m256i p = C::kSigned ? dot_s8s8(q, xv) : dot_u8s8(q, xv);
      const __m256 sc = C::kSplit
                            ? _mm256_setr_m128(_mm_set1_ps(s[0] * *xd), _mm_set1_ps(s[1] * *xd))
                            : _mm256_set1_ps(s[0] * *xd);
      acc = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(p), acc);
      if constexpr (C::kOffset) off += *xd * (b[0] * float(xs[0]) + b[1] * float(xs[1]));
    }
  return hsum(acc) + off;
#else
  return quant::dot_scalar<C>(wv, x, n);
#endif
}

template <class C>
void DequantizeChunks(const void* wv, float* out, int64_t n) {
#if SS_QUANT_X86
  const auto* w = static_cast<const uint8_t*>(wv);
  for (int64_t blk = 0; blk < n / C::kValues; ++blk, w += C::kBytes)
    for (int k = 0; k < C::kValues / 32; ++k, out += 32) {
      float s[2], b[2] = {0, 0};
      const __m256i q = C::unpack(w, k, s, b);
      const __m128i half[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
      for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) {
          const __m128i b8 = e ? _mm_srli_si128(half[h], 8) : half[h];
          const __m256i i32 = C::kSigned ? _mm256_cvtepi8_epi32(b8) : _mm256_cvtepu8_epi32(b8);
          __m256 v = _mm256_mul_ps(_mm256_set1_ps(s[h]), _mm256_cvtepi32_ps(i32));
          if constexpr (C::kOffset) v = _mm256_add_ps(v, _mm256_set1_ps(b[h]));
          _mm256_storeu_ps(out + 16 * h + 8 * e, v);
        }
    }
#else
  quant::dequantize_scalar<C>(wv, out, n);
#endif
}

}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

// A type's two kernels for the current target, from its chunk type C.
#undef SS_QUANT_TARGET_KERNELS
#define SS_QUANT_TARGET_KERNELS(C)                                          \
  float Dot##C(const void* w, const float*, const QuantRow* x, int64_t n) { \
    return DotChunks<C>(w, *x, n);                                          \
  }                                                                         \
  void Dequantize##C(const void* w, float* out, int64_t n) { DequantizeChunks<C>(w, out, n); }

#endif  // SS_QUANT_KERNELS_INL_H_
