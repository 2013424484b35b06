// The float weight types: f32, f16 and bf16. Their GEMV reads the weights
// at full width against an f32 activation row, widened per Highway target
// (F16C on AVX2 and up) and chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/float_types.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "quant/quant.h"

HWY_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One vector of weights of type W widened to f32. The type is a template
// argument: a branch in the GEMV loop costs 5-10% of its bandwidth.
template <class W, class D>
HWY_INLINE hn::Vec<D> Load(D d, const void* p, int64_t i) {
  const W* w = static_cast<const W*>(p) + i;
  if constexpr (std::is_same_v<W, float>) {
    return hn::LoadU(d, w);
  } else {
    return hn::PromoteTo(d, hn::LoadU(hn::Rebind<W, D>(), w));
  }
}

// At most 256 bits: on AVX-512 the unaligned 512-bit loads of a row that
// streams from memory split cache lines twice as often, for no gain.
template <class W>
float DotRow(const void* w, const float* x, int64_t n) {
  const hn::CappedTag<float, 8> d;
  const int64_t L = int64_t(hn::Lanes(d));
  auto a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    a0 = hn::MulAdd(Load<W>(d, w, i), hn::LoadU(d, x + i), a0);
    a1 = hn::MulAdd(Load<W>(d, w, i + L), hn::LoadU(d, x + i + L), a1);
    a2 = hn::MulAdd(Load<W>(d, w, i + 2 * L), hn::LoadU(d, x + i + 2 * L), a2);
    a3 = hn::MulAdd(Load<W>(d, w, i + 3 * L), hn::LoadU(d, x + i + 3 * L), a3);
  }
  for (; i + L <= n; i += L) a0 = hn::MulAdd(Load<W>(d, w, i), hn::LoadU(d, x + i), a0);
  float s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) s += hn::GetLane(Load<W>(d1, w, i)) * x[i];
  return s;
}

template <class W>
void Widen(const void* w, float* out, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t L = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(Load<W>(d, w, i), d, out + i);
  const hn::CappedTag<float, 1> d1;
  for (; i < n; ++i) hn::StoreU(Load<W>(d1, w, i), d1, out + i);
}

float DotF32(const void* w, const float* x, const QuantRow*, int64_t n) {
  return DotRow<float>(w, x, n);
}
float DotF16(const void* w, const float* x, const QuantRow*, int64_t n) {
  return DotRow<hwy::float16_t>(w, x, n);
}
float DotBF16(const void* w, const float* x, const QuantRow*, int64_t n) {
  return DotRow<hwy::bfloat16_t>(w, x, n);
}
void WidenF16(const void* w, float* out, int64_t n) { Widen<hwy::float16_t>(w, out, n); }
void WidenBF16(const void* w, float* out, int64_t n) { Widen<hwy::bfloat16_t>(w, out, n); }

}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
HWY_EXPORT(DotF32);
HWY_EXPORT(DotF16);
HWY_EXPORT(DotBF16);
HWY_EXPORT(WidenF16);
HWY_EXPORT(WidenBF16);

void dequantize_f32(const void* w, float* out, int64_t n) { std::memcpy(out, w, size_t(n) * 4); }
void dequantize_f16(const void* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(WidenF16)(w, out, n);
}
void dequantize_bf16(const void* w, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(WidenBF16)(w, out, n);
}
float dot_f32(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF32)(w, x, xq, n);
}
float dot_f16(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotF16)(w, x, xq, n);
}
float dot_bf16(const void* w, const float* x, const QuantRow* xq, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(DotBF16)(w, x, xq, n);
}
void quantize_f32(const float* x, void* w, int64_t n) { std::memcpy(w, x, size_t(n) * 4); }
void quantize_f16(const float* x, void* w, int64_t n) {
  auto* h = static_cast<uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_f16(x[i]);
}
void quantize_bf16(const float* x, void* w, int64_t n) {
  auto* h = static_cast<uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}
}  // namespace ss::quant
#endif
