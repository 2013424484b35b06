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
  static constexpr bool kSigned = false, kOffset = true, kSplit = false;
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
float DotQ5_1(const void* w, const float*, const QuantRow* x, int64_t n) {
  return DotChunks<Q5_1>(w, *x, n);
}
void DequantizeQ5_1(const void* w, float* out, int64_t n) { DequantizeChunks<Q5_1>(w, out, n); }
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
HWY_EXPORT(DotQ5_1);
HWY_EXPORT(DequantizeQ5_1);
float dot_q5_1(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotQ5_1)(w, x, xq, n);
}
void dequantize_q5_1(const void* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_1)(w, out, n);
}
float dot_q5_1_scalar(const void* w, const QuantRow& x, int64_t n) {
  return dot_scalar<Q5_1>(w, x, n);
}
// As gguf-py: d = (max - min) / 31, q = trunc((x - min) / d + 0.5).
void quantize_q5_1(const float* x, void* out, int64_t n) {
  auto* b = static_cast<uint8_t*>(out);
  for (int64_t j = 0; j < n / 32; ++j, x += 32, b += 24) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < 32; ++i) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    const float d = (hi - lo) / 31, id = d != 0 ? 1 / d : 0;
    const uint16_t dh = f32_to_f16(d), mh = f32_to_f16(lo);
    std::memcpy(b, &dh, 2);
    std::memcpy(b + 2, &mh, 2);
    uint8_t q[32];
    uint32_t qh = 0;
    for (int i = 0; i < 32; ++i) {
      q[i] = uint8_t(std::clamp(int(std::trunc((x[i] - lo) * id + 0.5f)), 0, 31));
      qh |= uint32_t(q[i] >> 4) << i;
    }
    std::memcpy(b + 4, &qh, 4);
    for (int i = 0; i < 16; ++i) b[8 + i] = uint8_t((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
  }
}
}  // namespace ss::quant
#endif
