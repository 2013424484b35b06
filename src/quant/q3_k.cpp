// Q3_K: super-blocks of 256 values in 16 groups of 16, y = d * (sc - 32) * (q - 4 *
// !hbit) with q in 0..3 and 6-bit sc per group; 110 bytes: 32 bytes of high
// bits (bit k of hmask[l] for value 32k + l), 64 bytes of 2-bit q (laid out as
// Q2_K), 12 bytes of scales (low 4 bits in bytes 0..7, two high bits in 8..11),
// f16 d.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q3_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q3_K_ONCE
#define SS_QUANT_Q3_K_ONCE
namespace ss::quant {
// Scale g (0..15) of a Q3_K block's 12 scale bytes, minus 32.
inline int q3k_scale(const uint8_t* sc, int g) {
  const int lo = g < 8 ? sc[g] & 0xF : sc[g - 8] >> 4;
  const int hi = (sc[8 + g % 4] >> (2 * (g / 4))) & 3;
  return (lo | hi << 4) - 32;
}
struct Q3K {
  static constexpr int kValues = 256, kBytes = 110;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int k, int8_t* q, float* s, float*) {
    const float d = f16_at(b + 108);
    for (int h = 0; h < 2; ++h) s[h] = d * float(q3k_scale(b + 96, 2 * k + h));
    const uint8_t* qs = b + 32 + 32 * (k / 4);
    for (int i = 0; i < 32; ++i)
      q[i] = int8_t(((qs[i] >> (2 * (k % 4))) & 3) - ((b[i] >> k) & 1 ? 0 : 4));
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q3K : quant::Q3K {
  using quant::Q3K::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int k, float* s, float*) {
    const float d = f16(b + 108);
    for (int h = 0; h < 2; ++h) s[h] = d * float(quant::q3k_scale(b + 96, 2 * k + h));
    return _mm256_sub_epi8(quants(b, k), _mm256_set1_epi8(4));
  }
  // The dot's q are q + 4 (0..7), with the minimum 4 * sc.
  HWY_INLINE static void scales(const uint8_t* b, __m128i* sc, __m128i* m, float* d, float* dm) {
    uint32_t a[3], u[4];
    std::memcpy(a, b + 96, 12);
    const uint32_t k4 = 0x0F0F0F0F, k2 = 0x03030303;
    for (int j = 0; j < 4; ++j)
      u[j] = (a[j % 2] >> (4 * (j / 2)) & k4) | ((a[2] >> (2 * j)) & k2) << 4;
    *sc = *m =
        _mm_sub_epi8(_mm_setr_epi32(int(u[0]), int(u[1]), int(u[2]), int(u[3])), _mm_set1_epi8(32));
    *d = f16(b + 108), *dm = 4 * *d;
  }
  HWY_INLINE static __m256i quants(const uint8_t* b, int k) {
    const __m256i lo = bits_at(load32(b + 32 + 32 * (k / 4)), 2 * (k % 4), 3);
    return _mm256_add_epi8(lo, _mm256_slli_epi16(bits_at(load32(b), k, 1), 2));
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q3K)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q3K, q3_k)

}  // namespace ss::quant
#endif
