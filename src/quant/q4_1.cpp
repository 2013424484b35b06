// Q4_1: blocks of 32 values, y = d * q + m with q in 0..15; 20 bytes:
// f16 d, f16 m, then 16 bytes of 4-bit q (values 0..15 in the low nibbles,
// 16..31 in the high ones).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q4_1.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q4_1_ONCE
#define SS_QUANT_Q4_1_ONCE
namespace ss::quant {
struct Q4_1 {
  static constexpr int kValues = 32, kBytes = 20;
  static constexpr bool kSigned = false, kOffset = true;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float* o) {
    s[0] = s[1] = f16_at(b);
    o[0] = o[1] = f16_at(b + 2);
    for (int i = 0; i < 16; ++i) {
      q[i] = int8_t(b[4 + i] & 0xF);
      q[i + 16] = int8_t(b[4 + i] >> 4);
    }
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q4_1 : quant::Q4_1 {
  using quant::Q4_1::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float* o) {
    s[0] = s[1] = f16(b);
    o[0] = o[1] = f16(b + 2);
    return nibbles(b + 4);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q4_1)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q4_1, q4_1)
void quantize_q4_1(const float* x, void* w, int64_t n) { quantize_legacy<4, true>(x, w, n); }
}  // namespace ss::quant
#endif
