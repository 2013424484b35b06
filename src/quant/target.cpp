// Which Highway target the quantised kernels run on (AVX2, AVX3, AVX3_DL...).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/target.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
int64_t Target() { return HWY_TARGET; }
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "core/dtype.h"
namespace ss {
HWY_EXPORT(Target);
const char* simd_target() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(Target)()); }
}  // namespace ss
#endif
