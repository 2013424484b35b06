// Q5_0: blocks of 32 values, y = d * (q - 16) with q in 0..31; 22 bytes: f16 d,
// 4 bytes of fifth bits (bit i of the little-endian u32 for value i), then
// 16 bytes of low 4 bits as in Q4_0.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q5_0.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q5_0_ONCE
#define SS_QUANT_Q5_0_ONCE
namespace ss::quant {
struct Q5_0 {
  static constexpr int kValues = 32, kBytes = 22;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float*) {
    s[0] = s[1] = f16_at(b);
    const uint32_t qh = u32_at(b + 2);
    for (int i = 0; i < 16; ++i) {
      q[i] = int8_t(((b[6 + i] & 0xF) | ((qh >> i) & 1) << 4) - 16);
      q[i + 16] = int8_t(((b[6 + i] >> 4) | ((qh >> (i + 16)) & 1) << 4) - 16);
    }
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q5_0 : quant::Q5_0 {
  using quant::Q5_0::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float*) {
    s[0] = s[1] = f16(b);
    const __m256i hi =
        _mm256_and_si256(bytes_from_bits(quant::u32_at(b + 2)), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nibbles(b + 6), hi), _mm256_set1_epi8(16));
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q5_0)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q5_0, q5_0)
void quantize_q5_0(const float* x, void* w, int64_t n) { quantize_legacy<5, false>(x, w, n); }
}  // namespace ss::quant
#endif
