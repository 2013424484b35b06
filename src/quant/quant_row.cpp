// QuantRow::quantize (core/dtype.h): an activation row to int8 blocks of 32
// with one f32 scale each (llama.cpp's Q8 activations), dispatched per Highway
// target. Every target gives the same bytes: the largest |x| is exact in any
// order, and each value rounds half away from zero, as std::round does.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/quant_row.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/dtype.h"
#include "core/error.h"

HWY_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// blocks blocks of 32 values of x to their int8 q, scale d, and sums per 16.
void QuantizeBlocks(const float* x, int64_t blocks, int8_t* q, float* d, int16_t* sum16,
                    float* dsum16) {
  const hn::CappedTag<float, 16> df;  // at most 16 lanes: a half-block is whole vectors
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const int L = int(hn::Lanes(df));
  for (int64_t j = 0; j < blocks; ++j, x += 32, q += 32) {
    auto amax = hn::Zero(df);
    auto nan = hn::Zero(df);  // becomes NaN where a value is NaN or inf
    for (int i = 0; i < 32; i += L) {
      const auto v = hn::LoadU(df, x + i);
      amax = hn::Max(amax, hn::Abs(v));
      nan = hn::Add(nan, hn::Sub(v, v));
    }
    // A NaN or inf (weights from a broken file): the block's dots are NaN.
    if (!hn::AllTrue(df, hn::Eq(nan, hn::Zero(df)))) {
      d[j] = std::numeric_limits<float>::quiet_NaN();
      std::fill(q, q + 32, int8_t(0));
      sum16[2 * j] = sum16[2 * j + 1] = 0;
      dsum16[2 * j] = dsum16[2 * j + 1] = d[j];
      continue;
    }
    const float dj = hn::GetLane(hn::MaxOfLanes(df, amax)) / 127;
    float id = dj > 0 ? 1 / dj : 0;
    if (std::isinf(id)) id = 0;  // max|x| below 1e-36: the block rounds to zeros
    d[j] = dj;
    const auto vid = hn::Set(df, id), half = hn::Set(df, 0.5f), one = hn::Set(df, 1.0f);
    for (int h = 0; h < 2; ++h) {
      auto sum = hn::Zero(df);
      for (int i = 16 * h; i < 16 * h + 16; i += L) {
        const auto v = hn::Mul(hn::LoadU(df, x + i), vid);
        // Round half away from zero: truncate (v - trunc(v) is exact), then
        // step away from zero where the fraction is at least one half.
        auto r = hn::Trunc(v);
        r = hn::Add(r,
                    hn::IfThenElseZero(hn::Ge(hn::Abs(hn::Sub(v, r)), half), hn::CopySign(one, v)));
        sum = hn::Add(sum, r);
        hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, r)), d8, q + i);
      }
      const int s = int(hn::GetLane(hn::SumOfLanes(df, sum)));  // exact: |s| <= 16 * 127
      sum16[2 * j + h] = int16_t(s);
      dsum16[2 * j + h] = dj * float(s);
    }
  }
}
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss {
HWY_EXPORT(QuantizeBlocks);

void QuantRow::quantize(const float* x, int64_t n) {
  check(n % kBlock == 0, "activation rows of ", n, " values are not whole blocks of ", kBlock);
  q.resize(size_t(n));
  d.resize(size_t(n / kBlock));
  sum16.resize(size_t(n / 16));
  dsum16.resize(size_t(n / 16));
  HWY_DYNAMIC_DISPATCH(QuantizeBlocks)
  (x, n / kBlock, q.data(), d.data(), sum16.data(), dsum16.data());
}
}  // namespace ss
#endif
