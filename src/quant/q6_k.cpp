// Q6_K: super-blocks of 256 values in 16 groups of 16, y = d * sc * (q - 32) with
// q in 0..63 and an int8 sc per group; 210 bytes: 128 bytes of low 4 bits, 64
// bytes of high 2 bits, 16 int8 scales, f16 d. Value 128h + 32j + l (h < 2,
// j < 4, l < 32) has low bits in nibble j / 2 of ql[64h + 32(j % 2) + l] and
// high bits 2j..2j+1 of qh[32h + l].
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q6_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q6_K_ONCE
#define SS_QUANT_Q6_K_ONCE
namespace ss::quant {
struct Q6K {
  static constexpr int kValues = 256, kBytes = 210;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int k, int8_t* q, float* s, float*) {
    const float d = f16_at(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int h = 0; h < 2; ++h) s[h] = d * float(sc[2 * k + h]);
    const int half = k / 4, j = k % 4;
    const uint8_t* ql = b + 64 * half + 32 * (j % 2);
    const uint8_t* qh = b + 128 + 32 * half;
    for (int i = 0; i < 32; ++i)
      q[i] = int8_t(((j / 2 ? ql[i] >> 4 : ql[i] & 0xF) | ((qh[i] >> (2 * j)) & 3) << 4) - 32);
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q6K : quant::Q6K {
  using quant::Q6K::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int k, float* s, float*) {
    const float d = f16(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int h = 0; h < 2; ++h) s[h] = d * float(sc[2 * k + h]);
    return _mm256_sub_epi8(quants(b, k), _mm256_set1_epi8(32));
  }
  // The dot's q are q + 32 (0..63), with the minimum 32 * sc.
  HWY_INLINE static void scales(const uint8_t* b, __m128i* sc, __m128i* m, float* d, float* dm) {
    *sc = *m = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
    *d = f16(b + 208), *dm = 32 * *d;
  }
  HWY_INLINE static __m256i quants(const uint8_t* b, int k) {
    const int half = k / 4, j = k % 4;
    const __m256i lo = bits_at(load32(b + 64 * half + 32 * (j % 2)), 4 * (j / 2), 0xF);
    const __m256i hi = _mm256_slli_epi16(bits_at(load32(b + 128 + 32 * half), 2 * j, 3), 4);
    return _mm256_or_si256(lo, hi);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q6K)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q6K, q6_k)

}  // namespace ss::quant
#endif
