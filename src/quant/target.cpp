// Which Highway target the dispatched kernels run on (AVX3_DL, AVX2, SSE4,
// NEON...), and limiting it (SINKSTREAM_SIMD). Every HWY_DYNAMIC_DISPATCH
// in the program (src/quant/, ops/simd.cpp) follows Highway's one chosen
// target, so one name describes them all.
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
#include <cctype>

#include "core/dtype.h"
#include "core/error.h"
namespace ss {
HWY_EXPORT(Target);
const char* simd_target() { return hwy::TargetName(HWY_DYNAMIC_DISPATCH(Target)()); }

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

std::string simd_targets() {
  std::string s;
  for (int64_t t : hwy::SupportedAndGeneratedTargets())
    s += (s.empty() ? "" : ", ") + lower(hwy::TargetName(t));
  return s;
}

void limit_simd_target(std::string_view name) {
  hwy::DisableTargets(0);
  for (int64_t t : hwy::SupportedAndGeneratedTargets())
    if (lower(hwy::TargetName(t)) == lower(std::string(name))) {
      hwy::DisableTargets(t - 1);  // every better target (lower bits)
      return;
    }
  fail("SIMD target '", name, "' is not one this binary and CPU run (", simd_targets(), ")");
}
}  // namespace ss
#endif
