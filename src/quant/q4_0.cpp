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
  static constexpr bool kSigned = true, kOffset = false, kSplit = false;
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
float DotQ4_0(const void* w, const float*, const QuantRow* x, int64_t n) {
  return DotChunks<Q4_0>(w, *x, n);
}
void DequantizeQ4_0(const void* w, float* out, int64_t n) { DequantizeChunks<Q4_0>(w, out, n); }
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
HWY_EXPORT(DotQ4_0);
HWY_EXPORT(DequantizeQ4_0);
float dot_q4_0(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotQ4_0)(w, x, xq, n);
}
void dequantize_q4_0(const void* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_0)(w, out, n);
}
float dot_q4_0_scalar(const void* w, const QuantRow& x, int64_t n) {
  return dot_scalar<Q4_0>(w, x, n);
}
// As gguf-py: d = x[argmax |x|] / -8, q = trunc(x / d + 8.5).
void quantize_q4_0(const float* x, void* out, int64_t n) {
  auto* b = static_cast<uint8_t*>(out);
  for (int64_t j = 0; j < n / 32; ++j, x += 32, b += 18) {
    float mx = 0;
    for (int i = 0; i < 32; ++i)
      if (std::abs(x[i]) > std::abs(mx)) mx = x[i];
    const float d = mx / -8, id = d != 0 ? 1 / d : 0;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(b, &dh, 2);
    uint8_t q[32];
    for (int i = 0; i < 32; ++i)
      q[i] = uint8_t(std::clamp(int(std::trunc(x[i] * id + 8.5f)), 0, 15));
    for (int i = 0; i < 16; ++i) b[2 + i] = uint8_t(q[i] | q[i + 16] << 4);
  }
}
}  // namespace ss::quant
#endif
