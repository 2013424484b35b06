// Q5_1: blocks of 32 values, y = d * q + m with q in 0..31; 24 bytes: f16 d,
// f16 m, 4 bytes of fifth bits, then 16 bytes of low 4 bits (as Q5_0).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q5_1.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q5_1_ONCE
#define SS_QUANT_Q5_1_ONCE
namespace ss::quant {
struct Q5_1 {
  static constexpr int kValues = 32, kBytes = 24;
  static constexpr bool kSigned = false, kOffset = true;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float* o) {
    s[0] = s[1] = f16_at(b);
    o[0] = o[1] = f16_at(b + 2);
    const uint32_t qh = u32_at(b + 4);
    for (int i = 0; i < 16; ++i) {
      q[i] = int8_t((b[8 + i] & 0xF) | ((qh >> i) & 1) << 4);
      q[i + 16] = int8_t((b[8 + i] >> 4) | ((qh >> (i + 16)) & 1) << 4);
    }
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q5_1 : quant::Q5_1 {
  using quant::Q5_1::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float* o) {
    s[0] = s[1] = f16(b);
    o[0] = o[1] = f16(b + 2);
    const __m256i hi =
        _mm256_and_si256(bytes_from_bits(quant::u32_at(b + 4)), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles(b + 8), hi);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q5_1)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q5_1, q5_1)
void quantize_q5_1(const float* x, void* w, int64_t n) { quantize_legacy<5, true>(x, w, n); }
}  // namespace ss::quant
#endif
