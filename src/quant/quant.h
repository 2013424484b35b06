// The kernels of each weight type (one file each in src/quant/), as the
// traits table in core/dtype.cpp sees them, and the parts they share.
//
// A quantised type is described by how one chunk of 32 consecutive values
// of a row unpacks: 32 small integers w (signed, or unsigned with an
// offset), and per half-chunk of 16 values a scale s and an offset b, so that
// value i is s[i/16] * w[i] (+ b[i/16] for types with offsets). The generic
// code in quant/kernels-inl.h turns that into row dequantisation (bit-exact
// with gguf-py) and the integer dot product against a QuantRow, for every
// SIMD target; each type file only says how its blocks unpack.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dtype.h"
#include "core/tensor.h"

namespace ss::quant {

#define SS_QUANT_KERNELS(t)                                                    \
  void dequantize_##t(const void* w, float* out, int64_t n);                   \
  float dot_##t(const void* w, const float* x, const QuantRow* xq, int64_t n); \
  float dot_##t##_scalar(const void* w, const QuantRow& xq, int64_t n);
SS_QUANT_KERNELS(q4_0)
SS_QUANT_KERNELS(q4_1)
SS_QUANT_KERNELS(q5_0)
SS_QUANT_KERNELS(q5_1)
SS_QUANT_KERNELS(q8_0)
SS_QUANT_KERNELS(q2_k)
SS_QUANT_KERNELS(q3_k)
SS_QUANT_KERNELS(q4_k)
SS_QUANT_KERNELS(q5_k)
SS_QUANT_KERNELS(q6_k)
SS_QUANT_KERNELS(iq4_nl)
#undef SS_QUANT_KERNELS

void quantize_q4_0(const float* x, void* w, int64_t n);
void quantize_q4_1(const float* x, void* w, int64_t n);
void quantize_q5_0(const float* x, void* w, int64_t n);
void quantize_q5_1(const float* x, void* w, int64_t n);
void quantize_q8_0(const float* x, void* w, int64_t n);

// The float types (quant/float_types.cpp).
void dequantize_f32(const void* w, float* out, int64_t n);
void dequantize_f16(const void* w, float* out, int64_t n);
void dequantize_bf16(const void* w, float* out, int64_t n);
float dot_f32(const void* w, const float* x, const QuantRow* xq, int64_t n);
float dot_f16(const void* w, const float* x, const QuantRow* xq, int64_t n);
float dot_bf16(const void* w, const float* x, const QuantRow* xq, int64_t n);
void quantize_f32(const float* x, void* w, int64_t n);
void quantize_f16(const float* x, void* w, int64_t n);
void quantize_bf16(const float* x, void* w, int64_t n);

// Little-endian reads from a block.
inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The scalar form of a type's chunk unpacking; see the comment at the top.
// C provides kValues (per block), kBytes (per block), kSigned, kOffset and
//   static void unpack(const uint8_t* block, int k, int8_t w[32], float s[2], float b[2]);
// for chunk k of the block (w holds unsigned values 0..255 when !kSigned).
template <class C>
void dequantize_scalar(const void* wv, float* out, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(wv);
  for (int64_t blk = 0; blk < n / C::kValues; ++blk, w += C::kBytes)
    for (int k = 0; k < C::kValues / 32; ++k, out += 32) {
      int8_t q[32];
      float s[2], b[2] = {0, 0};
      C::unpack(w, k, q, s, b);
      for (int i = 0; i < 32; ++i) {
        const float v = C::kSigned ? float(q[i]) : float(uint8_t(q[i]));
        out[i] = s[i / 16] * v;
        if constexpr (C::kOffset) out[i] = out[i] + b[i / 16];
      }
    }
}

template <class C>
float dot_scalar(const void* wv, const QuantRow& x, int64_t n) {
  const auto* w = static_cast<const uint8_t*>(wv);
  const int8_t* xq = x.q.data();
  const float* xd = x.d.data();
  const int16_t* xs = x.sum16.data();
  float acc = 0;
  for (int64_t blk = 0; blk < n / C::kValues; ++blk, w += C::kBytes)
    for (int k = 0; k < C::kValues / 32; ++k, xq += 32, ++xd, xs += 2) {
      int8_t q[32];
      float s[2], b[2] = {0, 0};
      C::unpack(w, k, q, s, b);
      int32_t sum[2] = {0, 0};
      for (int i = 0; i < 32; ++i)
        sum[i / 16] += (C::kSigned ? int32_t(q[i]) : int32_t(uint8_t(q[i]))) * xq[i];
      acc += *xd * (s[0] * float(sum[0]) + s[1] * float(sum[1]));
      if constexpr (C::kOffset) acc += *xd * (b[0] * float(xs[0]) + b[1] * float(xs[1]));
    }
  return acc;
}

// The dispatching entry points of a type (in its HWY_ONCE section): dot_t,
// dequantize_t and the scalar reference dot_t_scalar, from chunk type C.
#define SS_QUANT_EXPORT(C, t)                                                   \
  HWY_EXPORT(Dot##C);                                                           \
  HWY_EXPORT(Dequantize##C);                                                    \
  float dot_##t(const void* w, const float* x, const QuantRow* xq, int64_t n) { \
    return HWY_DYNAMIC_DISPATCH(Dot##C)(w, x, xq, n);                           \
  }                                                                             \
  void dequantize_##t(const void* w, float* out, int64_t n) {                   \
    HWY_DYNAMIC_DISPATCH(Dequantize##C)(w, out, n);                             \
  }                                                                             \
  float dot_##t##_scalar(const void* w, const QuantRow& x, int64_t n) {         \
    return dot_scalar<C>(w, x, n);                                              \
  }

// gguf-py's quantisers of the 32-value legacy types with kBits (4 or 5) bits
// per value: without a minimum, d = x[argmax |x|] / -2^(kBits-1) and
// q = trunc(x / d + 2^(kBits-1) + 0.5); with one (kMin), d = (max - min) /
// (2^kBits - 1) and q = trunc((x - min) / d + 0.5). Blocks are f16 d, f16 m
// (kMin), the fifth bits as a u32 (kBits 5), then 16 bytes of low nibbles.
template <int kBits, bool kMin>
void quantize_legacy(const float* x, void* out, int64_t n) {
  constexpr int kMax = (1 << kBits) - 1;
  auto* b = static_cast<uint8_t*>(out);
  for (int64_t j = 0; j < n / 32; ++j, x += 32) {
    float lo = x[0], hi = x[0], far = 0;
    for (int i = 0; i < 32; ++i) {
      lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
      if (std::abs(x[i]) > std::abs(far)) far = x[i];
    }
    const float d = kMin ? (hi - lo) / kMax : far / -float(1 << (kBits - 1));
    const float id = d != 0 ? 1 / d : 0, shift = kMin ? 0.5f : float(1 << (kBits - 1)) + 0.5f;
    const uint16_t dh = f32_to_f16(d), mh = f32_to_f16(lo);
    std::memcpy(b, &dh, 2), b += 2;
    if (kMin) std::memcpy(b, &mh, 2), b += 2;
    uint8_t q[32];
    uint32_t qh = 0;
    for (int i = 0; i < 32; ++i) {
      q[i] = uint8_t(std::clamp(int(std::trunc((x[i] - (kMin ? lo : 0)) * id + shift)), 0, kMax));
      qh |= uint32_t(q[i] >> 4) << i;
    }
    if (kBits == 5) std::memcpy(b, &qh, 4), b += 4;
    for (int i = 0; i < 16; ++i) b[i] = uint8_t((q[i] & 0xF) | (q[i + 16] & 0xF) << 4);
    b += 16;
  }
}

// The 6-bit scale and minimum j (0..7) of a Q4_K/Q5_K block's 12 scale bytes.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace ss::quant
