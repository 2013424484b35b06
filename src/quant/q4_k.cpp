// Q4_K: super-blocks of 256 values in 8 groups of 32, y = d * sc * q - dmin * m
// with q in 0..15 and 6-bit sc, m per group; 144 bytes: f16 d, f16 dmin, 12
// bytes of packed scales and minimums, 128 bytes of 4-bit q (group 2p in the
// low nibbles of bytes 32p..32p+31, group 2p+1 in their high nibbles).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q4_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q4_K_ONCE
#define SS_QUANT_Q4_K_ONCE
namespace ss::quant {
struct Q4K {
  static constexpr int kValues = 256, kBytes = 144;
  static constexpr bool kSigned = false, kOffset = true;
  static void unpack(const uint8_t* b, int k, int8_t* q, float* s, float* o) {
    uint8_t sc, m;
    scale_min_k4(k, b + 4, &sc, &m);
    s[0] = s[1] = f16_at(b) * float(sc);
    o[0] = o[1] = -(f16_at(b + 2) * float(m));
    const uint8_t* qs = b + 16 + 32 * (k / 2);
    for (int i = 0; i < 32; ++i) q[i] = int8_t(k % 2 ? qs[i] >> 4 : qs[i] & 0xF);
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q4K : quant::Q4K {
  using quant::Q4K::unpack;
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
    return bits_at(load32(b + 16 + 32 * (k / 2)), 4 * (k % 2), 0xF);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q4K)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q4K, q4_k)

}  // namespace ss::quant
#endif
