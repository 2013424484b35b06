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
  static constexpr bool kSigned = true, kOffset = false, kSplit = false;
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
float DotQ5_0(const void* w, const float*, const QuantRow* x, int64_t n) {
  return DotChunks<Q5_0>(w, *x, n);
}
void DequantizeQ5_0(const void* w, float* out, int64_t n) { DequantizeChunks<Q5_0>(w, out, n); }
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
HWY_EXPORT(DotQ5_0);
HWY_EXPORT(DequantizeQ5_0);
float dot_q5_0(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotQ5_0)(w, x, xq, n);
}
void dequantize_q5_0(const void* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_0)(w, out, n);
}
float dot_q5_0_scalar(const void* w, const QuantRow& x, int64_t n) {
  return dot_scalar<Q5_0>(w, x, n);
}
// As gguf-py: d = x[argmax |x|] / -16, q = trunc(x / d + 16.5).
void quantize_q5_0(const float* x, void* out, int64_t n) {
  auto* b = static_cast<uint8_t*>(out);
  for (int64_t j = 0; j < n / 32; ++j, x += 32, b += 22) {
    float mx = 0;
    for (int i = 0; i < 32; ++i)
      if (std::abs(x[i]) > std::abs(mx)) mx = x[i];
    const float d = mx / -16, id = d != 0 ? 1 / d : 0;
    const uint16_t dh = f32_to_f16(d);
    std::memcpy(b, &dh, 2);
    uint8_t q[32];
    uint32_t qh = 0;
    for (int i = 0; i < 32; ++i) {
      q[i] = uint8_t(std::clamp(int(std::trunc(x[i] * id + 16.5f)), 0, 31));
      qh |= uint32_t(q[i] >> 4) << i;
    }
    std::memcpy(b + 2, &qh, 4);
    for (int i = 0; i < 16; ++i) b[6 + i] = uint8_t((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
  }
}
}  // namespace ss::quant
#endif
