// Q8_0: blocks of 32 values, y = d * q with q an int8; 34 bytes: f16 d, 32 q.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/q8_0.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_Q8_0_ONCE
#define SS_QUANT_Q8_0_ONCE
namespace ss::quant {
struct Q8_0 {
  static constexpr int kValues = 32, kBytes = 34;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float*) {
    s[0] = s[1] = f16_at(b);
    std::memcpy(q, b + 2, 32);
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Q8_0 : quant::Q8_0 {
  using quant::Q8_0::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float*) {
    s[0] = s[1] = f16(b);
    return load32(b + 2);
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Q8_0)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Q8_0, q8_0)
// d = max|x| / 127, q = round(x / d): error per value <= d / 2.
void quantize_q8_0(const float* x, void* out, int64_t n) {
  auto* b = static_cast<uint8_t*>(out);
  for (int64_t j = 0; j < n / 32; ++j, x += 32, b += 34) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(x[i]));
    const float d = amax / 127, id = d > 0 ? 1 / d : 0;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(b, &dh, 2);
    for (int i = 0; i < 32; ++i) b[2 + i] = uint8_t(int8_t(std::lround(x[i] * id)));
  }
}
}  // namespace ss::quant
#endif
