// Q2_K: super-blocks of 256 values in 16 groups of 16, y = d * sc * q - dmin * m
// with q in 0..3 and 4-bit sc, m per group; 84 bytes: 16 bytes of scales (sc
// low nibble, m high), 64 bytes of 2-bit q, f16 d, f16 dmin. Value 128h + 32j
// + l (h < 2, j < 4, l < 32) is bits 2j..2j+1 of qs[32h + l].
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q2_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q2_K_ONCE
#define SS_QUANT_Q2_K_ONCE
namespace ss::quant {
struct Q2K {
  static constexpr int kValues = 256, kBytes = 84;
  static constexpr bool kSigned = false, kOffset = true;
  static void unpack(const uint8_t* b, int k, int8_t* q, float* s, float* o) {
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    for (int h = 0; h < 2; ++h) {
      const uint8_t sc = b[2 * k + h];
      s[h] = d * float(sc & 0xF);
      o[h] = -(dmin * float(sc >> 4));
    }
    const uint8_t* qs = b + 16 + 32 * (k / 4);
    for (int i = 0; i < 32; ++i) q[i] = int8_t((qs[i] >> (2 * (k % 4))) & 3);
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q2K : quant::Q2K {
  using quant::Q2K::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int k, float* s, float* o) {
    const float d = f16(b + 80), dmin = f16(b + 82);
    for (int h = 0; h < 2; ++h) {
      const uint8_t sc = b[2 * k + h];
      s[h] = d * float(sc & 0xF);
      o[h] = -(dmin * float(sc >> 4));
    }
    return quants(b, k);
  }
  HWY_INLINE static void scales(const uint8_t* b, __m128i* sc, __m128i* m, float* d, float* dm) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    *sc = _mm_and_si128(v, _mm_set1_epi8(0xF));
    *m = _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0xF));
    *d = f16(b + 80), *dm = f16(b + 82);
  }
  HWY_INLINE static __m256i quants(const uint8_t* b, int k) {
    return bits_at(load32(b + 16 + 32 * (k / 4)), 2 * (k % 4), 3);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q2K)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q2K, q2_k)

}  // namespace ss::quant
#endif
