// Q4_0: blocks of 32 values, y = d * (q - 8) with q in 0..15; 18 bytes: f16 d,
// then 16 bytes of 4-bit q (values 0..15 in the low nibbles, 16..31 high).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q4_0.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q4_0_ONCE
#define SS_QUANT_Q4_0_ONCE
namespace ss::quant {
struct Q4_0 {
  static constexpr int kValues = 32, kBytes = 18;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float*) {
    s[0] = s[1] = f16_at(b);
    for (int i = 0; i < 16; ++i) {
      q[i] = int8_t((b[2 + i] & 0xF) - 8);
      q[i + 16] = int8_t((b[2 + i] >> 4) - 8);
    }
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q4_0 : quant::Q4_0 {
  using quant::Q4_0::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float*) {
    s[0] = s[1] = f16(b);
    return _mm256_sub_epi8(nibbles(b + 2), _mm256_set1_epi8(8));
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q4_0)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q4_0, q4_0)
void quantize_q4_0(const float* x, void* w, int64_t n) { quantize_legacy<4, false>(x, w, n); }
}  // namespace ss::quant
#endif
