// IQ4_NL: blocks of 32 values, y = d * kValues[q] with q in 0..15 indexing a
// fixed non-linear table; 18 bytes: f16 d, 16 bytes of 4-bit q (as Q4_0).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/iq4_nl.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include "quant/kernels-inl.h"

#ifndef SS_QUANT_IQ4_NL_ONCE
#define SS_QUANT_IQ4_NL_ONCE
namespace ss::quant {
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
struct Iq4Nl {
  static constexpr int kValues = 32, kBytes = 18;
  static constexpr bool kSigned = true, kOffset = false;
  static void unpack(const uint8_t* b, int, int8_t* q, float* s, float*) {
    s[0] = s[1] = f16_at(b);
    for (int i = 0; i < 16; ++i) {
      q[i] = kIq4nlValues[b[2 + i] & 0xF];
      q[i + 16] = kIq4nlValues[b[2 + i] >> 4];
    }
  }
};
}  // namespace ss::quant
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
struct Iq4Nl : quant::Iq4Nl {
  using quant::Iq4Nl::unpack;
#if SS_QUANT_X86
  HWY_INLINE static __m256i unpack(const uint8_t* b, int, float* s, float*) {
    s[0] = s[1] = f16(b);
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIq4nlValues));
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nibbles(b + 2));
  }
#endif
};
SS_QUANT_TARGET_KERNELS(Iq4Nl)
}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss::quant {
SS_QUANT_EXPORT(Iq4Nl, iq4_nl)

}  // namespace ss::quant
#endif
