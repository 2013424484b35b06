// ss::sgemm (ops/gemm.h): Goto/BLIS blocking over packed panels. For each
// block of kKc rows of op(B) and kNc columns, op(B) is packed into panels of
// NR = 2 or 3 vectors of columns (whichever pads N less; k-major,
// zero-padded); for each block of kMc rows of op(A), a transposed A into
// panels of MR rows (k-major, zero-padded), while an untransposed A is read
// in place (its rows are already contiguous in k) but for a last panel of
// fewer than MR rows. The micro-kernel keeps an MR x NR tile of C in
// registers (12 x 2 or 8 x 3 vectors on targets with 32 vector registers, 6 x 2
// or 4 x 3 on those with 16), broadcasting one element of A per row and
// multiplying it into the vectors of B with FMA. Edge tiles compute in full on
// the padding and write only their part of C. A product of up to kDotRows
// rows of A by a transposed B, with K of kDotMinK or more (a prefill's
// x W^T), runs as dot products along K instead, unpacked (DotGemm).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/gemm.cpp"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "ops/gemm.h"

#include <hwy/aligned_allocator.h>
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

#ifndef SS_GEMM_SHARED
#define SS_GEMM_SHARED
namespace ss::gemm {
constexpr int kKc = 256;   // rows of op(B) per packed block (B's micro-panel in L1)
constexpr int kMc = 256;   // rows of op(A) per packed block (in L2)
constexpr int kNc = 3072;  // columns of op(B) per packed block

// The calling thread's packing buffer `which` (0: A, 1: B), at least n floats,
// aligned to the widest vector; it only grows.
inline float* scratch(int which, size_t n) {
  thread_local hwy::AlignedFreeUniquePtr<float[]> buf[2];
  thread_local size_t cap[2] = {0, 0};
  if (cap[which] < n) {
    buf[which] = hwy::AllocateAligned<float>(n);
    check(buf[which] != nullptr, "sgemm: out of memory for ", n, " floats of packing");
    cap[which] = n;
  }
  return buf[which].get();
}

struct Shape {
  int mr, nr;
};
}  // namespace ss::gemm
#endif

HWY_BEFORE_NAMESPACE();
namespace ss::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// A micro-tile is MR rows by NV vectors: 8 x 3 or 12 x 2 (24 accumulators
// of 32 registers); with 16 registers, 4 x 3 or 6 x 2.
#undef SS_GEMM_ROWS
#define SS_GEMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
template <int NV>
constexpr int Mr() {
#if HWY_MAX_BYTES >= 64 || HWY_ARCH_ARM_A64
  return NV == 3 ? 8 : 12;
#else
  return NV == 3 ? 4 : 6;
#endif
}

using D = hn::ScalableTag<float>;

// The tile for N columns: 2 vectors wide where that pads N by 5% less than 3
// (N = 256 or 64 with 16 lanes: 32-column tiles fit exactly, 48 waste 11% or 33%).
gemm::Shape TileShape(int N) {
  const int L = int(hn::Lanes(D()));
  const int pad2 = (N + 2 * L - 1) / (2 * L) * 2 * L, pad3 = (N + 3 * L - 1) / (3 * L) * 3 * L;
  if (pad2 * 20 < pad3 * 19) return {Mr<2>(), 2 * L};
  return {Mr<3>(), 3 * L};
}

// out[i][j] = alpha * acc + beta * out (beta 0: out is not read), one vector.
template <class V>
HWY_INLINE void Put(D d, V acc, float* out, V va, V vb, int mode) {
  if (mode == 0)
    hn::StoreU(hn::Mul(acc, va), d, out);
  else if (mode == 1)
    hn::StoreU(hn::MulAdd(acc, va, hn::LoadU(d, out)), d, out);
  else
    hn::StoreU(hn::MulAdd(acc, va, hn::Mul(hn::LoadU(d, out), vb)), d, out);
}

// One MR x NR tile (NR = NV vectors) over kc steps of the panels ap and bp
// (kc x NR, packed). ap is packed (kc x MR) or, if kDirect, MR whole rows of
// A itself, lda apart (the same products in the same order, so the same
// bits). mode: 0 overwrite (beta 0), 1 accumulate (beta 1), 2 scale by beta.
// mr x nr is the part of the tile inside C.
template <int NV, bool kDirect>
HWY_NOINLINE void MicroKernel(int kc, const float* HWY_RESTRICT ap, int lda,
                              const float* HWY_RESTRICT bp, float* c, int ldc, float alpha,
                              float beta, int mode, int mr, int nr) {
  constexpr int MR = Mr<NV>();
  const D d;
  const size_t L = hn::Lanes(d);
#define SS_GEMM_DECL(r) \
  [[maybe_unused]] auto c##r##0 = hn::Zero(d), c##r##1 = c##r##0, c##r##2 = c##r##0;
  SS_GEMM_ROWS(SS_GEMM_DECL)
#undef SS_GEMM_DECL
  for (int k = 0; k < kc; ++k) {
    const auto b0 = hn::Load(d, bp), b1 = hn::Load(d, bp + L);
    const auto b2 = NV == 3 ? hn::Load(d, bp + 2 * L) : b0;
#define SS_GEMM_FMA(r)                                           \
  if constexpr (r < MR) {                                        \
    const auto a = hn::Set(d, ap[kDirect ? r * lda : r]);        \
    c##r##0 = hn::MulAdd(a, b0, c##r##0);                        \
    c##r##1 = hn::MulAdd(a, b1, c##r##1);                        \
    if constexpr (NV == 3) c##r##2 = hn::MulAdd(a, b2, c##r##2); \
  }
    SS_GEMM_ROWS(SS_GEMM_FMA)
#undef SS_GEMM_FMA
    ap += kDirect ? 1 : MR;
    bp += NV * L;
  }
  const int NR = int(NV * L);
  const auto va = hn::Set(d, alpha), vb = hn::Set(d, beta);
  if (mr == MR && nr == NR) {
#define SS_GEMM_PUT(r)                                                         \
  if constexpr (r < MR) {                                                      \
    Put(d, c##r##0, c + r * ldc, va, vb, mode);                                \
    Put(d, c##r##1, c + r * ldc + L, va, vb, mode);                            \
    if constexpr (NV == 3) Put(d, c##r##2, c + r * ldc + 2 * L, va, vb, mode); \
  }
    SS_GEMM_ROWS(SS_GEMM_PUT)
#undef SS_GEMM_PUT
    return;
  }
  // An edge tile: the whole tile to a buffer, then its part of C.
  HWY_ALIGN float tile[MR * NV * (HWY_MAX_BYTES / sizeof(float))];
  const auto one = hn::Set(d, 1.0f);
#define SS_GEMM_PUT(r)                                                          \
  if constexpr (r < MR) {                                                       \
    Put(d, c##r##0, tile + r * NR, one, one, 0);                                \
    Put(d, c##r##1, tile + r * NR + L, one, one, 0);                            \
    if constexpr (NV == 3) Put(d, c##r##2, tile + r * NR + 2 * L, one, one, 0); \
  }
  SS_GEMM_ROWS(SS_GEMM_PUT)
#undef SS_GEMM_PUT
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      float& o = c[ptrdiff_t(i) * ldc + j];
      const float t = tile[i * NR + j];
      o = mode == 0 ? alpha * t : mode == 1 ? alpha * t + o : alpha * t + beta * o;
    }
}

#if HWY_TARGET != HWY_SCALAR
// Packs `rows` whole rows (a multiple of 4; row r at src + r * lda) k-major,
// out[k * rows + r], transposing 4 x 4 blocks in registers: a panel of A, or
// one of a transposed B.
void PackRows(const float* src, int lda, int rows, int kc, float* HWY_RESTRICT out) {
  const hn::Full128<float> d4;
  int k = 0;
  for (; k + 4 <= kc; k += 4)
    for (int r = 0; r < rows; r += 4) {
      const float* s = src + ptrdiff_t(r) * lda + k;
      const auto a0 = hn::LoadU(d4, s), a1 = hn::LoadU(d4, s + lda);
      const auto a2 = hn::LoadU(d4, s + 2 * lda), a3 = hn::LoadU(d4, s + 3 * lda);
      // t0 = (a0k0 a1k0 a0k1 a1k1), t1 likewise for rows 2, 3; t2, t3 for k2, k3.
      const auto t0 = hn::InterleaveLower(d4, a0, a1), t1 = hn::InterleaveLower(d4, a2, a3);
      const auto t2 = hn::InterleaveUpper(d4, a0, a1), t3 = hn::InterleaveUpper(d4, a2, a3);
      float* o = out + ptrdiff_t(k) * rows + r;
      hn::StoreU(hn::ConcatLowerLower(d4, t1, t0), d4, o);
      hn::StoreU(hn::ConcatUpperUpper(d4, t1, t0), d4, o + rows);
      hn::StoreU(hn::ConcatLowerLower(d4, t3, t2), d4, o + 2 * rows);
      hn::StoreU(hn::ConcatUpperUpper(d4, t3, t2), d4, o + 3 * rows);
    }
  for (; k < kc; ++k)
    for (int r = 0; r < rows; ++r) out[ptrdiff_t(k) * rows + r] = src[ptrdiff_t(r) * lda + k];
}
#endif

// Packs rows [i0, i0 + mc) x columns [p0, p0 + kc) of op(A) into panels of
// MR rows, k-major, rows past M zero.
template <int MR>
void PackA(bool trans, const float* A, int lda, int M, int i0, int mc, int p0, int kc,
           float* HWY_RESTRICT out) {
  for (int q = 0; q < mc; q += MR, out += ptrdiff_t(MR) * kc) {
    const int rows = std::min(MR, M - (i0 + q));
    if (trans) {  // op(A)(i, k) = A[k][i]: MR contiguous floats per k
      for (int k = 0; k < kc; ++k) {
        const float* src = A + ptrdiff_t(p0 + k) * lda + i0 + q;
        float* dst = out + k * MR;
        if (rows == MR) {  // a fixed size: inline moves, not a call to memcpy per k
          std::memcpy(dst, src, sizeof(float) * MR);
          continue;
        }
        for (int r = 0; r < rows; ++r) dst[r] = src[r];
        for (int r = rows; r < MR; ++r) dst[r] = 0;
      }
    } else {
#if HWY_TARGET != HWY_SCALAR
      if constexpr (MR % 4 == 0) {
        if (rows == MR) {
          PackRows(A + ptrdiff_t(i0 + q) * lda + p0, lda, MR, kc, out);
          continue;
        }
      }
#endif
      for (int r = 0; r < MR; ++r) {
        if (r >= rows) {
          for (int k = 0; k < kc; ++k) out[k * MR + r] = 0;
          continue;
        }
        const float* src = A + ptrdiff_t(i0 + q + r) * lda + p0;
        for (int k = 0; k < kc; ++k) out[k * MR + r] = src[k];
      }
    }
  }
}

// Packs rows [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into panels of
// NR columns, k-major, columns past N zero.
void PackB(bool trans, const float* B, int ldb, int N, int j0, int nc, int p0, int kc, int NR,
           float* HWY_RESTRICT out) {
  for (int q = 0; q < nc; q += NR, out += ptrdiff_t(NR) * kc) {
    const int cols = std::min(NR, N - (j0 + q));
    if (trans) {  // op(B)(k, j) = B[j][k]
#if HWY_TARGET != HWY_SCALAR
      if (cols == NR) {
        PackRows(B + ptrdiff_t(j0 + q) * ldb + p0, ldb, NR, kc, out);
        continue;
      }
#endif
      for (int c = 0; c < NR; ++c) {
        if (c >= cols) {
          for (int k = 0; k < kc; ++k) out[k * NR + c] = 0;
          continue;
        }
        const float* src = B + ptrdiff_t(j0 + q + c) * ldb + p0;
        for (int k = 0; k < kc; ++k) out[k * NR + c] = src[k];
      }
    } else {
      const D d;
      const int L = int(hn::Lanes(d));
      for (int k = 0; k < kc; ++k) {
        const float* src = B + ptrdiff_t(p0 + k) * ldb + j0 + q;
        float* dst = out + k * NR;
        if (cols == NR) {  // whole vectors (dst is aligned): no call to memcpy per k
          for (int v = 0; v < NR; v += L) hn::Store(hn::LoadU(d, src + v), d, dst + v);
          continue;
        }
        std::memcpy(dst, src, sizeof(float) * size_t(cols));
        std::fill(dst + cols, dst + NR, 0.0f);
      }
    }
  }
}

// Few rows of A times B transposed (a prefill's x W^T): dot products along
// the contiguous K of both, a tile of kDr rows by kDc rows of B at a time
// (kDr x kDc accumulators), with no packing. Rows past M or N repeat the
// last one and are not stored.
#undef SS_GEMM_DROWS
#undef SS_GEMM_DTILE
#undef SS_GEMM_DROW
#if HWY_MAX_BYTES >= 64 || HWY_ARCH_ARM_A64
constexpr int kDr = 4, kDc = 4;  // a tile is square: the macros pair a row with a column
#define SS_GEMM_DROWS(X) X(0) X(1) X(2) X(3)
#define SS_GEMM_DROW(X, r) X(r, 0) X(r, 1) X(r, 2) X(r, 3)
#define SS_GEMM_DTILE(X) SS_GEMM_DROW(X, 0) SS_GEMM_DROW(X, 1) SS_GEMM_DROW(X, 2) SS_GEMM_DROW(X, 3)
#else
constexpr int kDr = 3, kDc = 3;
#define SS_GEMM_DROWS(X) X(0) X(1) X(2)
#define SS_GEMM_DROW(X, r) X(r, 0) X(r, 1) X(r, 2)
#define SS_GEMM_DTILE(X) SS_GEMM_DROW(X, 0) SS_GEMM_DROW(X, 1) SS_GEMM_DROW(X, 2)
#endif

HWY_NOINLINE void DotTile(int K, const float* A, int lda, int mr, const float* B, int ldb, int nr,
                          float* c, int ldc, float alpha, float beta) {
  const D d;
  const int L = int(hn::Lanes(d));
#define SS_GEMM_PTRS(r)                                                      \
  const float* HWY_RESTRICT a##r = A + ptrdiff_t(std::min(r, mr - 1)) * lda; \
  const float* HWY_RESTRICT b##r = B + ptrdiff_t(std::min(r, nr - 1)) * ldb;
  SS_GEMM_DROWS(SS_GEMM_PTRS)
#undef SS_GEMM_PTRS
#define SS_GEMM_DECL(r, j) auto c##r##j = hn::Zero(d);
  SS_GEMM_DTILE(SS_GEMM_DECL)
#undef SS_GEMM_DECL
  int k = 0;
  for (; k + L <= K; k += L) {
#define SS_GEMM_LOAD(r)                      \
  const auto va##r = hn::LoadU(d, a##r + k); \
  const auto vb##r = hn::LoadU(d, b##r + k);
    SS_GEMM_DROWS(SS_GEMM_LOAD)
#undef SS_GEMM_LOAD
#define SS_GEMM_FMA(r, j) c##r##j = hn::MulAdd(va##r, vb##j, c##r##j);
    SS_GEMM_DTILE(SS_GEMM_FMA)
#undef SS_GEMM_FMA
  }
#define SS_GEMM_PUT(r, j)                                                         \
  if (r < mr && j < nr) {                                                         \
    float s = hn::GetLane(hn::SumOfLanes(d, c##r##j));                            \
    for (int t = k; t < K; ++t) s += a##r[t] * b##j[t];                           \
    float& o = c[ptrdiff_t(r) * ldc + j];                                         \
    o = beta == 0 ? alpha * s : beta == 1 ? alpha * s + o : alpha * s + beta * o; \
  }
  SS_GEMM_DTILE(SS_GEMM_PUT)
#undef SS_GEMM_PUT
}

void DotGemm(int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
             float beta, float* C, int ldc) {
  for (int j = 0; j < N; j += kDc)
    for (int i = 0; i < M; i += kDr)
      DotTile(K, A + ptrdiff_t(i) * lda, lda, std::min(kDr, M - i), B + ptrdiff_t(j) * ldb, ldb,
              std::min(kDc, N - j), C + ptrdiff_t(i) * ldc + j, ldc, alpha, beta);
}

// The whole product on the calling thread (alpha != 0, K > 0), packed with
// tiles of NV vectors.
template <int NV>
void GemmPacked(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc) {
  constexpr int MR = Mr<NV>();
  const int NR = NV * int(hn::Lanes(D()));
  const int nc_max = std::min(gemm::kNc / NR * NR, (N + NR - 1) / NR * NR);
  const int mc_max = std::min(gemm::kMc / MR * MR, (M + MR - 1) / MR * MR);
  const int kc_max = std::min(gemm::kKc, K);
  float* bp = gemm::scratch(1, size_t(nc_max) * kc_max);
  float* ap = gemm::scratch(0, size_t(mc_max) * kc_max);
  for (int j0 = 0; j0 < N; j0 += nc_max) {
    const int nc = std::min(nc_max, N - j0);
    const int nc_pad = (nc + NR - 1) / NR * NR;
    for (int p0 = 0; p0 < K; p0 += kc_max) {
      const int kc = std::min(kc_max, K - p0);
      const int mode = p0 > 0 ? 1 : beta == 0 ? 0 : beta == 1 ? 1 : 2;
      const float b_eff = p0 > 0 ? 1.0f : beta;
      PackB(tb, B, ldb, N, j0, nc_pad, p0, kc, NR, bp);
      for (int i0 = 0; i0 < M; i0 += mc_max) {
        const int mc = std::min(mc_max, M - i0);
        // Untransposed A is read in place, whole panels of MR rows; only the
        // edge panel is packed (zero-padded). A transposed A is packed whole.
        const int direct = ta ? 0 : mc / MR * MR;
        PackA<MR>(ta, A, lda, M, i0 + direct, (mc - direct + MR - 1) / MR * MR, p0, kc, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          const float* bpanel = bp + ptrdiff_t(jr) * kc;
          float* cpanel = C + ptrdiff_t(i0) * ldc + j0 + jr;
          const int nr = std::min(NR, nc - jr);
          int ir = 0;
          for (; ir < direct; ir += MR)
            MicroKernel<NV, true>(kc, A + ptrdiff_t(i0 + ir) * lda + p0, lda, bpanel,
                                  cpanel + ptrdiff_t(ir) * ldc, ldc, alpha, b_eff, mode, MR, nr);
          for (; ir < mc; ir += MR)
            MicroKernel<NV, false>(kc, ap + ptrdiff_t(ir - direct) * kc, MR, bpanel,
                                   cpanel + ptrdiff_t(ir) * ldc, ldc, alpha, b_eff, mode,
                                   std::min(MR, mc - ir), nr);
        }
      }
    }
  }
}

// The whole product on the calling thread (alpha != 0, K > 0): by DotGemm
// when dots (only NoTrans x Trans), else packed with tiles nr columns wide.
void GemmSerial(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
                const float* B, int ldb, float beta, float* C, int ldc, bool dots, int nr) {
  if (dots) return DotGemm(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (nr == 2 * int(hn::Lanes(D())))
    return GemmPacked<2>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  GemmPacked<3>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ss::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ss {
HWY_EXPORT(TileShape);
HWY_EXPORT(GemmSerial);

namespace {
// Below this many multiply-adds a second thread costs more than it saves.
constexpr double kParallelMacs = 1 << 21;
// Up to this many rows, A x B^T is faster as dot products than packed
// (sinkstream_bench_gemm: 32 x 688 x 256 at 145 against 110 GFLOP/s, 64 rows 128 against 150),
// if K is long enough to pay for the tile's sums across lanes (an attention tile's scores,
// 32 x 256 x 64, run at 48 GFLOP/s as dots and 86 packed).
constexpr int kDotRows = 32, kDotMinK = 128;
}  // namespace

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  check(M >= 0 && N >= 0 && K >= 0, "sgemm: negative size ", M, " x ", N, " x ", K);
  check(lda >= std::max(1, trans_a ? M : K), "sgemm: lda ", lda, " too small");
  check(ldb >= std::max(1, trans_b ? K : N), "sgemm: ldb ", ldb, " too small");
  check(ldc >= std::max(1, N), "sgemm: ldc ", ldc, " too small");
  if (M == 0 || N == 0) return;
  if (alpha == 0 || K == 0) {
    for (int i = 0; i < M; ++i) {
      float* c = C + ptrdiff_t(i) * ldc;
      if (beta == 0)
        std::fill(c, c + N, 0.0f);
      else if (beta != 1)
        for (int j = 0; j < N; ++j) c[j] *= beta;
    }
    return;
  }
  const gemm::Shape sh = HWY_DYNAMIC_DISPATCH(TileShape)(N);
  const int tiles_m = (M + sh.mr - 1) / sh.mr, tiles_n = (N + sh.nr - 1) / sh.nr;
  // Few rows times a transposed B: dot products, split over N.
  const bool dots = !trans_a && trans_b && M <= kDotRows && K >= kDotMinK;
  const bool split_m = !dots && tiles_m >= tiles_n;
  const int tiles = split_m ? tiles_m : tiles_n;
  int threads = 1;
  if (!omp_in_parallel() && double(M) * N * K >= kParallelMacs)
    threads = std::min(omp_get_max_threads(), tiles);
  if (threads <= 1) {
    HWY_DYNAMIC_DISPATCH(GemmSerial)
    (trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, dots, sh.nr);
    return;
  }
  // Thread t takes a contiguous run of whole tiles of M (or N).
  const int per = (tiles + threads - 1) / threads;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < threads; ++t) {
    const int t0 = t * per, t1 = std::min(tiles, t0 + per);
    if (t0 >= t1) continue;
    if (split_m) {
      const int m0 = t0 * sh.mr, m1 = std::min(M, t1 * sh.mr);
      const float* a = trans_a ? A + m0 : A + ptrdiff_t(m0) * lda;
      HWY_DYNAMIC_DISPATCH(GemmSerial)
      (trans_a, trans_b, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + ptrdiff_t(m0) * ldc, ldc,
       dots, sh.nr);
    } else {
      const int n0 = t0 * sh.nr, n1 = std::min(N, t1 * sh.nr);
      const float* b = trans_b ? B + ptrdiff_t(n0) * ldb : B + n0;
      HWY_DYNAMIC_DISPATCH(GemmSerial)
      (trans_a, trans_b, M, n1 - n0, K, alpha, A, lda, b, ldb, beta, C + n0, ldc, dots, sh.nr);
    }
  }
}

}  // namespace ss
#endif  // HWY_ONCE
