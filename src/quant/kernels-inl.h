// Per-target generic kernels of the quantised types (see quant/quant.h):
// dequantisation and the integer dot product over unpacked 32-value chunks.
// Included by each type file once per Highway target (foreach_target.h).
// x86 targets use intrinsics where Highway 1.0.3 has no op: AVX2 multiplies
// u8 x s8 pairs with vpmaddubsw, AVX3_DL (AVX-512 VNNI) with vpdpbusd. Other
// targets run the scalar chunk code.
//
// A SIMD chunk type C extends the scalar one (quant.h), on x86, with
//   static __m256i unpack(const uint8_t* block, int k, float s[2], float b[2]);
// returning the 32 values as bytes (s8, or u8 when !kSigned); the dot of a
// 32-value type takes s[0] as the chunk's one scale. The dot of the 256-value
// (K) types works per super-block instead, from
//   static void scales(const uint8_t* block, __m128i* sc, __m128i* m, float* d, float* dm);
//   static __m256i quants(const uint8_t* block, int k);
// where value 16g + i of the super-block (g < 16) is d * sc[g] * q - dm * m[g]
// with s8 sc and m, and chunk k's q are u8 (a signed type adds a bias to q
// and takes it back as a minimum).
#if defined(SS_QUANT_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef SS_QUANT_KERNELS_INL_H_
#undef SS_QUANT_KERNELS_INL_H_
#else
#define SS_QUANT_KERNELS_INL_H_
#endif

#include <hwy/highway.h>

#include "quant/quant.h"

#undef SS_QUANT_X86
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#include <immintrin.h>
#define SS_QUANT_X86 1
#else
#define SS_QUANT_X86 0
#endif

// HWY_BEFORE_NAMESPACE minus AVX-VNNI, which Highway 1.0.3's AVX3_DL target
// string has but its CPU check does not require (GCC would emit VEX-encoded
// VNNI, an illegal instruction on Ice Lake and Zen 4). Every quantised kernel
// region opens with it, so that its functions inline into each other.
#undef SS_QUANT_BEFORE_NAMESPACE
#if HWY_TARGET == HWY_AVX3_DL
#define SS_QUANT_BEFORE_NAMESPACE() \
  HWY_BEFORE_NAMESPACE();           \
  _Pragma("GCC target(\"no-avxvnni\")") static_assert(true, "")
#else
#define SS_QUANT_BEFORE_NAMESPACE() HWY_BEFORE_NAMESPACE()
#endif

SS_QUANT_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {

#if SS_QUANT_X86
// 8 int32 sums of four u8 x s8 products each.
HWY_INLINE __m256i dot_u8s8(__m256i u, __m256i s) {
#if HWY_TARGET == HWY_AVX3_DL
  // AVX-512 VNNI's vpdpbusd in asm, which assemblers encode as EVEX unless
  // told {vex}: the intrinsic needs a VNNI feature enabled, and clang (which
  // ignores the pragma above) would encode it as VEX.
  __m256i acc = _mm256_setzero_si256();
  asm("vpdpbusd %[s], %[u], %[acc]" : [acc] "+v"(acc) : [u] "v"(u), [s] "v"(s));
  return acc;
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}
// The same for s8 x s8: |a| times b with a's sign.
HWY_INLINE __m256i dot_s8s8(__m256i a, __m256i b) {
  return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
HWY_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// 16 packed 4-bit values (low nibbles first, then high) as 32 bytes.
HWY_INLINE __m256i nibbles(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}
// Bit i of x as byte i: 0xFF where set.
HWY_INLINE __m256i bytes_from_bits(uint32_t x) {
  const __m256i shuf =
      _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(x)), shuf);
  v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}
// Bytes >> shift, masked, for 32 packed bytes.
HWY_INLINE __m256i bits_at(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)),
                          _mm256_set1_epi8(char(mask)));
}
HWY_INLINE __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
// The f16 at p, widened with F16C.
HWY_INLINE float f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
// The super-block header Q4_K and Q5_K share: f16 d, f16 dmin, then the 8
// scales and minimums of its 12 scale bytes (as quant::scale_min_k4), each
// twice: one per 16 values.
HWY_INLINE void scales_k4(const uint8_t* b, __m128i* sc, __m128i* m, float* d, float* dm) {
  *d = f16(b), *dm = f16(b + 2);
  uint32_t u[4];
  std::memcpy(u, b + 4, 12);
  const uint32_t k6 = 0x3F3F3F3F, k4 = 0x0F0F0F0F, k2 = 0x03030303;
  u[3] = ((u[2] >> 4) & k4) | ((u[1] >> 6) & k2) << 4;
  const uint32_t m03 = u[1] & k6;
  u[1] = (u[2] & k4) | ((u[0] >> 6) & k2) << 4;
  u[2] = m03;
  u[0] &= k6;
  const __m128i v = _mm_setr_epi32(int(u[0]), int(u[1]), int(u[2]), int(u[3]));
  *sc = _mm_unpacklo_epi8(v, v);
  *m = _mm_unpackhi_epi8(v, v);
}

// The dot of a 256-value type, per super-block.
template <class C>
float DotSuper(const uint8_t* w, const QuantRow& x, int64_t n) {
  const int8_t* xq = x.q.data();
  const float* xd = x.d.data();
  const int16_t* xs = x.sum16.data();
  // Chunk k's lanes 0..3 take scale 2k % 8 of s[k / 4], lanes 4..7 the next.
  const __m256i pair[4] = {
      _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
      _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5), _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7)};
  // Four sums: the FMA latency bounds one.
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  for (int64_t blk = 0; blk < n / 256; ++blk, w += C::kBytes, xq += 256, xd += 8, xs += 16) {
    __m128i sc, m;
    float d, dm;
    C::scales(w, &sc, &m, &d, &dm);
    // The 16 scales times d and their chunk's x scale.
    const __m256 xd8 = _mm256_loadu_ps(xd), dx = _mm256_mul_ps(xd8, _mm256_set1_ps(d));
    const __m256 s[2] = {
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)),
                      _mm256_permutevar8x32_ps(dx, _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3))),
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))),
                      _mm256_permutevar8x32_ps(dx, _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7)))};
    // The minimums: per chunk, m . sum16 times dm and the x scale.
    const __m256i ms = _mm256_madd_epi16(_mm256_cvtepi8_epi16(m), load32(xs));
    acc[3] =
        _mm256_fnmadd_ps(_mm256_mul_ps(xd8, _mm256_set1_ps(dm)), _mm256_cvtepi32_ps(ms), acc[3]);
    for (int k = 0; k < 8; ++k) {
      const __m256i p = dot_u8s8(C::quants(w, k), load32(xq + 32 * k));
      const __m256 sk = _mm256_permutevar8x32_ps(s[k / 4], pair[k % 4]);
      acc[k % 4] = _mm256_fmadd_ps(sk, _mm256_cvtepi32_ps(p), acc[k % 4]);
    }
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}
#endif

#if SS_QUANT_X86
// Block i of a 32-value type into sum acc and offset off (one of two pairs,
// for even and odd blocks: one would wait on the latency of its add every
// block). Not a lambda: one with HWY_ATTR turns AVX-VNNI back on, so GCC
// would not inline it into the AVX3_DL code.
template <class C>
HWY_INLINE void DotBlock(const uint8_t* w, const int8_t* xq, const float* xd, const float* xs,
                         int64_t i, __m256& acc, float& off) {
  float s[2], b[2] = {0, 0};
  const __m256i q = C::unpack(w + i * C::kBytes, 0, s, b);
  const __m256i xv = load32(xq + 32 * i);
  const __m256i p = C::kSigned ? dot_s8s8(q, xv) : dot_u8s8(q, xv);
  acc = _mm256_fmadd_ps(_mm256_set1_ps(s[0] * xd[i]), _mm256_cvtepi32_ps(p), acc);
  if constexpr (C::kOffset) off += b[0] * xs[2 * i] + b[1] * xs[2 * i + 1];
}
#endif

template <class C>
float DotChunks(const void* wv, const QuantRow& x, int64_t n) {
#if SS_QUANT_X86
  const auto* w = static_cast<const uint8_t*>(wv);
  if constexpr (C::kValues == 256) {
    return DotSuper<C>(w, x, n);
  } else {
    static_assert(C::kValues == 32);
    const int8_t* xq = x.q.data();
    const float* xd = x.d.data();
    const float* xs = x.dsum16.data();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float off0 = 0, off1 = 0;
    const int64_t blocks = n / 32;
    int64_t i = 0;
    for (; i + 1 < blocks; i += 2) {
      DotBlock<C>(w, xq, xd, xs, i, acc0, off0);
      DotBlock<C>(w, xq, xd, xs, i + 1, acc1, off1);
    }
    if (i < blocks) DotBlock<C>(w, xq, xd, xs, i, acc0, off0);
    return hsum(_mm256_add_ps(acc0, acc1)) + (off0 + off1);
  }
#else
  return quant::dot_scalar<C>(wv, x, n);
#endif
}

template <class C>
void DequantizeChunks(const void* wv, float* out, int64_t n) {
#if SS_QUANT_X86
  const auto* w = static_cast<const uint8_t*>(wv);
  for (int64_t blk = 0; blk < n / C::kValues; ++blk, w += C::kBytes)
    for (int k = 0; k < C::kValues / 32; ++k, out += 32) {
      float s[2], b[2] = {0, 0};
      const __m256i q = C::unpack(w, k, s, b);
      const __m128i half[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
      for (int h = 0; h < 2; ++h)
        for (int e = 0; e < 2; ++e) {
          const __m128i b8 = e ? _mm_srli_si128(half[h], 8) : half[h];
          const __m256i i32 = C::kSigned ? _mm256_cvtepi8_epi32(b8) : _mm256_cvtepu8_epi32(b8);
          __m256 v = _mm256_mul_ps(_mm256_set1_ps(s[h]), _mm256_cvtepi32_ps(i32));
          if constexpr (C::kOffset) v = _mm256_add_ps(v, _mm256_set1_ps(b[h]));
          _mm256_storeu_ps(out + 16 * h + 8 * e, v);
        }
    }
#else
  quant::dequantize_scalar<C>(wv, out, n);
#endif
}

}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

// A type's two kernels for the current target, from its chunk type C.
#undef SS_QUANT_TARGET_KERNELS
#define SS_QUANT_TARGET_KERNELS(C)                                          \
  float Dot##C(const void* w, const float*, const QuantRow* x, int64_t n) { \
    return DotChunks<C>(w, *x, n);                                          \
  }                                                                         \
  void Dequantize##C(const void* w, float* out, int64_t n) { DequantizeChunks<C>(w, out, n); }

#endif  // SS_QUANT_KERNELS_INL_H_
