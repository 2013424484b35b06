// Q5_K: super-blocks of 256 values in 8 groups of 32, y = d * sc * q - dmin * m
// with q in 0..31; 176 bytes: f16 d, f16 dmin, 12 bytes of scales and minimums
// (as Q4_K), 32 bytes of fifth bits (bit k of qh[l] for value 32k + l), 128
// bytes of low 4 bits (as Q4_K).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q5_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q5_K_ONCE
#define SS_QUANT_Q5_K_ONCE
namespace ss::quant {
struct Q5K {
  static constexpr int kValues = 256, kBytes = 176;
  static constexpr bool kSigned = false, kOffset = true;
  static void unpack(const uint8_t* b, int k, int8_t* q, float* s, float* o) {
    uint8_t sc, m;
    scale_min_k4(k, b + 4, &sc, &m);
    s[0] = s[1] = f16_at(b) * float(sc);
    o[0] = o[1] = -(f16_at(b + 2) * float(m));
    const uint8_t* qs = b + 48 + 32 * (k / 2);
    for (int i = 0; i < 32; ++i)
      q[i] = int8_t((k % 2 ? qs[i] >> 4 : qs[i] & 0xF) | ((b[16 + i] >> k) & 1) << 4);
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q5K : quant::Q5K {
  using quant::Q5K::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int k, float* s, float* o) {
    uint8_t sc, m;
    quant::scale_min_k4(k, b + 4, &sc, &m);
    s[0] = s[1] = f16(b) * float(sc);
    o[0] = o[1] = -(f16(b + 2) * float(m));
    return quants(b, k);
  }
  HWY_INLINE static void scales(const uint8_t* b, __m128i* sc, __m128i* m, float* d, float* dm) {
    scales_k4(b, sc, m, d, dm);
  }
  HWY_INLINE static __m256i quants(const uint8_t* b, int k) {
    const __m256i lo = bits_at(load32(b + 48 + 32 * (k / 2)), 4 * (k % 2), 0xF);
    return _mm256_or_si256(lo, _mm256_slli_epi16(bits_at(load32(b + 16), k, 1), 4));
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q5K)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q5K, q5_k)

}  // namespace ss::quant
#endif
