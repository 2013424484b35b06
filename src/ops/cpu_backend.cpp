// CPU kernels: GEMV through each weight type's dot product (src/quant/),
// attention, norms, RoPE and activations (ops/simd.h), all dispatched per
// SIMD target at run time; GEMM (ours on AVX-512, else OpenBLAS) for batched
// rows, the gradients and attention tiles; OpenMP across output rows and heads.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ops/backend.h"
#include "ops/gemm.h"

namespace ss {
namespace {

// Row-major C = alpha op(A) op(B) + beta C. Our sgemm (ops/gemm.h) on
// AVX-512, where it runs 1.6-1.9x the OpenBLAS we link (this machine pins
// OpenBLAS to its AVX2 kernels); OpenBLAS elsewhere, where ours is no faster.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  static const bool ours = std::string_view(simd_target()).starts_with("AVX3");
  if (ours) {
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Work below this many multiply-adds runs on one thread: fork/join would cost
// more, and far more when another process holds the other cores.
constexpr int64_t kParallelWork = 1 << 17;

// Runs f(lo, hi) over one contiguous block of [0, n) per thread, on every
// thread when work (multiply-adds or so) is worth a fork.
template <class F>
void blocks(int64_t n, int64_t work, F&& f) {
#pragma omp parallel if (work >= kParallelWork)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    f(n * t / k, n * (t + 1) / k);
  }
}

// Sums from several threads into outputs (some may be null), the same way
// for the same thread count: thread 0 adds into the outputs themselves, the
// others into zeroed copies that reduce() adds in thread order.
class Partials {
 public:
  struct Out {
    float* p;
    size_t n;
  };
  Partials(std::vector<float>& storage, int threads, std::vector<Out> outs)
      : outs_(std::move(outs)), threads_(threads), storage_(storage) {
    for (const Out& o : outs_) per_thread_ += o.p ? o.n : 0;
    storage_.assign(size_t(threads - 1) * per_thread_, 0.0f);
  }
  // Where thread t sums output k.
  float* of(int t, size_t k) const {
    if (t == 0 || !outs_[k].p) return outs_[k].p;
    float* at = storage_.data() + size_t(t - 1) * per_thread_;
    for (size_t j = 0; j < k; ++j) at += outs_[j].p ? outs_[j].n : 0;
    return at;
  }
  void reduce() const {
    for (int t = 1; t < threads_; ++t) {
      const float* from = storage_.data() + size_t(t - 1) * per_thread_;
      for (const Out& o : outs_) {
        if (!o.p) continue;
#pragma omp parallel for schedule(static) if (o.n >= size_t(kParallelWork))
        for (size_t i = 0; i < o.n; ++i) o.p[i] += from[i];
        from += o.n;
      }
    }
  }

 private:
  std::vector<Out> outs_;
  int threads_;
  size_t per_thread_ = 0;
  std::vector<float>& storage_;
};

// ---- causal attention over tiles ------------------------------------------------
//
// Training and prefill into a dense cache give every row one contiguous
// range of slots of one K/V (row i of a sample: [0, i], a sliding window
// [i-w+1, i], a prefix-LM prefix [0, p)). Such calls run per (block of
// query heads sharing a KV head, tile of kTileRows consecutive rows): the
// tile's scores against the slots its rows can see (the lower triangle at
// tile granularity) by one sgemm, each row's op over its own range
// (the per-row code: attn_op_forward's f32 form), zeros outside it, and the
// weighted values by another sgemm; the backward likewise. Memory per tile:
// kHeadBlock * kTileRows rows of scores over the tile's range.
//
// The per-row path remains for what this cannot take (tiled_ranges): a
// call of fewer than kTiledRows rows (decode), probability capture, a row
// whose segments are not adjacent in cache order (a ring that has wrapped,
// sinks with a window evicted behind them), and a sink segment seen with a
// second query rotation (q_sink != q_win).
constexpr int kTiledRows = 16, kTileRows = 32, kHeadBlock = 4;

// Row r's slots [lo, hi) as one range; false when its segments are not
// adjacent or a sink segment needs its own query (own_sink_query).
bool one_range(const KvView& kv, bool own_sink_query, int& lo, int& hi) {
  lo = kv.n_segments > 0 ? kv.segments[0].first_slot : 0;
  hi = lo;
  for (int g = 0; g < kv.n_segments; ++g) {
    const KvSegment& seg = kv.segments[g];
    if (seg.first_slot != hi || (seg.sink && own_sink_query)) return false;
    hi += seg.count;
  }
  return true;
}

// A tile: rows [r0, r1) over one K/V, seeing slots within [lo, hi).
struct Tile {
  int r0, r1, lo, hi;
};

// Cuts n rows with ranges [lo[r], hi[r]) into tiles of consecutive rows that
// share a K/V; kv(r) gives row r's view.
template <class KvOf>
std::vector<Tile> make_tiles(int n, const std::vector<int>& lo, const std::vector<int>& hi,
                             KvOf kv) {
  std::vector<Tile> tiles;
  for (int r = 0; r < n; ++r) {
    const KvView &a = kv(r), *b = tiles.empty() ? nullptr : &kv(tiles.back().r0);
    if (!b || r - tiles.back().r0 == kTileRows || a.k != b->k || a.v != b->v ||
        a.capacity != b->capacity) {
      tiles.push_back({r, r + 1, lo[size_t(r)], hi[size_t(r)]});
      continue;
    }
    Tile& t = tiles.back();
    t.r1 = r + 1, t.lo = std::min(t.lo, lo[size_t(r)]), t.hi = std::max(t.hi, hi[size_t(r)]);
  }
  return tiles;
}

// One tile's work for heads [h0, h1) (one KV head): M = (h1-h0) * rows
// stacked query rows, head-major, over N = hi - lo slots; score rows have
// N + 1 columns, the last free for the kv-bias slot.
struct TileShape {
  int h0, h1, m, M, N, ld;
  TileShape(const Tile& t, int h0_, int h1_)
      : h0(h0_), h1(h1_), m(t.r1 - t.r0), M((h1_ - h0_) * m), N(t.hi - t.lo), ld(N + 1) {}
};

// Head h's scores of one row after the sgemm (scaled q.k over the row's n
// slots, in x), as attn_scores makes them: soft-cap, ALiBi, then the
// kv-bias slot's score at x[n]. Returns the op's length (n or n + 1).
int row_scores(const AttentionParams& ap, int h, const float* q, float* x, int n) {
  const float cap = ap.softcap;
  if (cap > 0)
    for (int j = 0; j < n; ++j) x[j] = attn_softcap(x[j], cap);
  if (ap.alibi_slopes) {
    const float slope = ap.alibi_slopes[h] * ap.alibi_scale;
    for (int j = 0; j < n; ++j) x[j] -= slope * float(n - 1 - j);
  }
  if (!ap.kv_bias_k) return n;
  const int hd = ap.head_dim, kvh = h / (ap.n_heads / ap.n_kv_heads);
  x[n] = attn_softcap(simd::dot(ap.kv_bias_k + kvh * hd, q, hd) * attn_scale(ap), cap);
  return n + 1;
}

// Zeroes a score row of ld columns outside [from, from + n).
void mask_outside(float* x, int ld, int from, int n) {
  std::fill(x, x + from, 0.0f);
  std::fill(x + from + n, x + ld, 0.0f);
}

// Per-thread scratch of a tile.
struct TileScratch {
  std::vector<float> q, dout, s, p, dp, o;
  std::vector<float> kb;   // per stacked row: the kv-bias slot's weight
  std::vector<float> dkb;  // and its score gradient
};

void attend_tile(const AttentionRow* rows, const std::vector<int>& lo, const std::vector<int>& hi,
                 const Tile& t, const AttentionParams& ap, const TileShape& sh, TileScratch& w) {
  const int hd = ap.head_dim, kvh = sh.h0 / (ap.n_heads / ap.n_kv_heads);
  const KvView& kv = rows[t.r0].kv;
  const int64_t at = (int64_t(kvh) * kv.capacity + t.lo) * hd;
  w.q.resize(size_t(sh.M) * hd), w.o.resize(w.q.size());
  w.s.resize(size_t(sh.M) * sh.ld), w.kb.resize(size_t(sh.M));
  for (int h = sh.h0; h < sh.h1; ++h)
    for (int r = 0; r < sh.m; ++r)
      std::memcpy(w.q.data() + (size_t(h - sh.h0) * sh.m + r) * hd, rows[t.r0 + r].q_win + h * hd,
                  sizeof(float) * hd);
  gemm(false, true, sh.M, sh.N, hd, attn_scale(ap), w.q.data(), hd, kv.k + at, hd, 0.0f, w.s.data(),
       sh.ld);
  for (int i = 0; i < sh.M; ++i) {
    const int h = sh.h0 + i / sh.m, r = t.r0 + i % sh.m;
    const int from = lo[size_t(r)] - t.lo, n = hi[size_t(r)] - lo[size_t(r)];
    float* x = w.s.data() + size_t(i) * sh.ld;
    const int len = row_scores(ap, h, w.q.data() + size_t(i) * hd, x + from, n);
    float extra[2];
    simd::attn_op(ap.op, ap.logn_bias, x + from, len, extra, attn_extras(ap, h, extra));
    w.kb[size_t(i)] = len > n ? x[from + n] : 0.0f;
    mask_outside(x, sh.ld, from, n);
  }
  gemm(false, false, sh.M, hd, sh.N, 1.0f, w.s.data(), sh.ld, kv.v + at, hd, 0.0f, w.o.data(), hd);
  for (int i = 0; i < sh.M; ++i) {
    const int h = sh.h0 + i / sh.m, r = t.r0 + i % sh.m;
    float* out = rows[r].out + h * hd;
    std::memcpy(out, w.o.data() + size_t(i) * hd, sizeof(float) * hd);
    if (ap.kv_bias_v) simd::axpy(w.kb[size_t(i)], ap.kv_bias_v + kvh * hd, out, hd);
  }
}

// Sums of the backward pass for one thread: dk, dv, dsink, dkb_k, dkb_v.
struct GradSums {
  float *dk, *dv, *dsink, *dkb_k, *dkb_v;
};

void attend_tile_backward(const AttentionGradRow* rows, const std::vector<int>& lo,
                          const std::vector<int>& hi, const Tile& t, const AttentionParams& ap,
                          const TileShape& sh, TileScratch& w, const GradSums& g) {
  const int hd = ap.head_dim, kvh = sh.h0 / (ap.n_heads / ap.n_kv_heads);
  const float scale = attn_scale(ap);
  const KvView& kv = rows[t.r0].kv;
  const int64_t at = (int64_t(kvh) * kv.capacity + t.lo) * hd;
  const size_t rows_hd = size_t(sh.M) * hd, scores = size_t(sh.M) * sh.ld;
  w.q.resize(rows_hd), w.dout.resize(rows_hd), w.o.resize(rows_hd);
  w.s.resize(scores), w.p.resize(scores), w.dp.resize(scores);
  w.kb.resize(size_t(sh.M)), w.dkb.resize(size_t(sh.M));
  for (int h = sh.h0; h < sh.h1; ++h)
    for (int r = 0; r < sh.m; ++r) {
      const size_t i = size_t(h - sh.h0) * sh.m + r;
      std::memcpy(w.q.data() + i * hd, rows[t.r0 + r].q + h * hd, sizeof(float) * hd);
      std::memcpy(w.dout.data() + i * hd, rows[t.r0 + r].dout + h * hd, sizeof(float) * hd);
    }
  // S = scale Q K^T, P = op(S) row by row; dP = dO V^T.
  gemm(false, true, sh.M, sh.N, hd, scale, w.q.data(), hd, kv.k + at, hd, 0.0f, w.s.data(), sh.ld);
  gemm(false, true, sh.M, sh.N, hd, 1.0f, w.dout.data(), hd, kv.v + at, hd, 0.0f, w.dp.data(),
       sh.ld);
  for (int i = 0; i < sh.M; ++i) {
    const int h = sh.h0 + i / sh.m, r = t.r0 + i % sh.m;
    const int from = lo[size_t(r)] - t.lo, n = hi[size_t(r)] - lo[size_t(r)];
    const size_t row = size_t(i) * sh.ld;
    float *s = w.s.data() + row + from, *p = w.p.data() + row + from,
          *dp = w.dp.data() + row + from;
    const float* q = w.q.data() + size_t(i) * hd;
    const float* go = w.dout.data() + size_t(i) * hd;
    const int len = row_scores(ap, h, q, s, n);
    std::copy(s, s + len, p);
    float extra[2], dextra[2] = {0, 0};
    const int n_extra = attn_extras(ap, h, extra);
    simd::attn_op(ap.op, ap.logn_bias, p, len, extra, n_extra);
    if (len > n) dp[n] = simd::dot(go, ap.kv_bias_v + kvh * hd, hd);
    // dS (into s) from the op's derivative, as attention_backward.
    simd::attn_op_backward(ap.op, ap.logn_bias, s, p, dp, s, len, extra, n_extra, dextra);
    if (g.dsink && ap.sink_logits) g.dsink[h] += dextra[0];
    w.kb[size_t(i)] = len > n ? p[n] : 0.0f;
    w.dkb[size_t(i)] = len > n ? s[n] : 0.0f;
    mask_outside(w.s.data() + row, sh.ld, from, n);
    mask_outside(w.p.data() + row, sh.ld, from, n);
    if (len > n) {
      if (g.dkb_v) simd::axpy(w.kb[size_t(i)], go, g.dkb_v + kvh * hd, hd);
      if (g.dkb_k) simd::axpy(w.dkb[size_t(i)] * scale, q, g.dkb_k + kvh * hd, hd);
    }
  }
  // dQ = scale dS K; dK += scale dS^T Q; dV += P^T dO.
  gemm(false, false, sh.M, hd, sh.N, scale, w.s.data(), sh.ld, kv.k + at, hd, 0.0f, w.o.data(), hd);
  gemm(true, false, sh.N, hd, sh.M, scale, w.s.data(), sh.ld, w.q.data(), hd, 1.0f, g.dk + at, hd);
  gemm(true, false, sh.N, hd, sh.M, 1.0f, w.p.data(), sh.ld, w.dout.data(), hd, 1.0f, g.dv + at,
       hd);
  for (int i = 0; i < sh.M; ++i) {
    const int h = sh.h0 + i / sh.m, r = t.r0 + i % sh.m;
    float* dq = rows[r].dq + h * hd;
    std::memcpy(dq, w.o.data() + size_t(i) * hd, sizeof(float) * hd);
    if (ap.kv_bias_k) simd::axpy(w.dkb[size_t(i)] * scale, ap.kv_bias_k + kvh * hd, dq, hd);
  }
}

// The (head block, tile) work items of a tiled call: every KV head's query
// heads in blocks of up to kHeadBlock, times the tiles.
struct TileItems {
  std::vector<std::pair<int, int>> heads;  // [h0, h1)
  int64_t size(const std::vector<Tile>& tiles) const {
    return int64_t(heads.size()) * int64_t(tiles.size());
  }
  explicit TileItems(const AttentionParams& ap) {
    const int group = ap.n_heads / ap.n_kv_heads;
    for (int kvh = 0; kvh < ap.n_kv_heads; ++kvh)
      for (int b = 0; b < group; b += kHeadBlock)
        heads.emplace_back(kvh * group + b, kvh * group + std::min(group, b + kHeadBlock));
  }
};

class CpuBackend final : public Backend {
 public:
  void matmul(const Tensor& w, const float* x, float* y, int T) override {
    const int64_t out = w.rows(), in = w.cols();
    const DTypeTraits& tr = traits(w.dtype);
    if (T < kGemmRows) {  // GEMV: each weight row is read once for the T rows of x
      const size_t row_bytes = tr.bytes(in);
      const auto* wb = static_cast<const uint8_t*>(w.data);
      if (tr.quantized()) {
        xq_.resize(size_t(T));
        for (int t = 0; t < T; ++t) xq_[size_t(t)].quantize(x + t * in, in);
      }
#pragma omp parallel for schedule(static) if (out * in * T >= kParallelWork)
      for (int64_t r = 0; r < out; ++r)
        for (int t = 0; t < T; ++t)
          y[t * out + r] = tr.dot(wb + size_t(r) * row_bytes, x + t * in,
                                  tr.quantized() ? &xq_[size_t(t)] : nullptr, in);
      return;
    }
    if (w.dtype == DType::F32) {
      gemm(false, true, T, int(out), int(in), 1.0f, x, int(in), static_cast<const float*>(w.data),
           int(in), 0.0f, y, int(out));
      return;
    }
    // Other types: tiles of rows widened into a fixed scratch feed sgemm, so a
    // prompt never needs a whole matrix in f32 (an output head is 100+ MB).
    const int64_t tile = std::max<int64_t>(64, kTileFloats / in);
    tile_.resize(size_t(std::min(tile, out) * in));
    for (int64_t r0 = 0; r0 < out; r0 += tile) {
      const int64_t rows = std::min(tile, out - r0);
#pragma omp parallel for schedule(static) if (rows * in >= kParallelWork)
      for (int64_t r = 0; r < rows; ++r) dequantize_row(w, r0 + r, tile_.data() + r * in);
      gemm(false, true, T, int(rows), int(in), 1.0f, x, int(in), tile_.data(), int(in), 0.0f,
           y + r0, int(out));
    }
  }

  void add_bias(float* y, const float* b, int T, int n) override {
    for (int t = 0; t < T; ++t, y += n)
      for (int i = 0; i < n; ++i) y[i] += b[i];
  }

  void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
            float eps) override {
    blocks(T, int64_t(T) * dim * 4, [&](int64_t lo, int64_t hi) {
      simd::norm(kind, x + lo * dim, g, b, y + lo * dim, int(hi - lo), dim, eps);
    });
  }

  void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const RopeAngles& a,
            bool inverse) override {
    simd::rope(x, n_heads, hd, rot, layout, a.cos, a.sin, inverse);
  }

  void attention(const AttentionRow* rows, int n, const AttentionParams& ap,
                 float* probs) override {
    check(!probs || n == 1, "attention: probabilities are captured one row at a time");
    const int H = ap.n_heads;
    int max_kept = 0;
    int64_t work = 0;
    for (int r = 0; r < n; ++r) {
      max_kept = std::max(max_kept, rows[r].kv.kept);
      work += rows[r].kv.kept;
    }
    if (!probs && tiled_ranges(n, [&](int r, int& lo, int& hi) {
          return one_range(rows[r].kv, rows[r].q_sink != rows[r].q_win, lo, hi);
        })) {
      const std::vector<Tile> tiles =
          make_tiles(n, lo_, hi_, [&](int r) -> const KvView& { return rows[r].kv; });
      const TileItems items(ap);
      const int64_t n_items = items.size(tiles);
      // Each item writes its own heads of its own rows.
#pragma omp parallel for schedule(dynamic, 1) if (work * ap.head_dim * H >= kParallelWork)
      for (int64_t it = 0; it < n_items; ++it) {
        thread_local TileScratch w;
        const Tile& t = tiles[size_t(it % int64_t(tiles.size()))];
        const auto& [h0, h1] = items.heads[size_t(it / int64_t(tiles.size()))];
        attend_tile(rows, lo_, hi_, t, ap, TileShape(t, h0, h1), w);
      }
      return;
    }
    // Rows x heads: every item writes its own head of its own row.
#pragma omp parallel for schedule(dynamic, 4) if (work * ap.head_dim * H >= kParallelWork)
    for (int64_t i = 0; i < int64_t(n) * H; ++i) {
      thread_local std::vector<float> scores;
      scores.resize(size_t(max_kept) + 1);
      const AttentionRow& r = rows[i / H];
      simd::attention_head(r.q_win, r.q_sink, r.kv, ap, int(i % H), scores.data(), r.out, probs);
    }
  }

  void activation(Activation act, const float* g, const float* u, float* h, int64_t n) override {
    blocks(n, n * 16, [&](int64_t lo, int64_t hi) {
      simd::activation(act, g + lo, u ? u + lo : nullptr, h + lo, hi - lo);
    });
  }

  void matmul_backward(const Tensor& w, const float* x, const float* dy, float* dx, float* dw,
                       int T, bool accumulate) override {
    check(w.dtype == DType::F32, "training needs f32 weights, not ", dtype_name(w.dtype));
    const int out = int(w.rows()), in = int(w.cols());
    const float* wf = static_cast<const float*>(w.data);
    if (dx) gemm(false, false, T, in, out, 1.0f, dy, out, wf, in, accumulate ? 1.0f : 0.0f, dx, in);
    gemm(true, false, out, in, T, 1.0f, dy, out, x, in, 1.0f, dw, in);
  }

  void norm_backward(NormKind kind, const float* x, const float* g, const float* dy, float* dx,
                     float* dg, float* db, int T, int dim, float eps) override {
    const int64_t work = int64_t(T) * dim * 8;
    const Partials sums(partial_, work >= kParallelWork ? omp_get_max_threads() : 1,
                        {{dg, size_t(dim)}, {db, size_t(dim)}});
    blocks(T, work, [&](int64_t lo, int64_t hi) {
      const int t = omp_get_thread_num();
      simd::norm_backward(kind, x + lo * dim, g, dy + lo * dim, dx + lo * dim, sums.of(t, 0),
                          sums.of(t, 1), int(hi - lo), dim, eps);
    });
    sums.reduce();
  }

  void activation_backward(Activation act, const float* g, const float* u, const float* dh,
                           float* dg, float* du, int64_t n) override {
    blocks(n, n * 32, [&](int64_t lo, int64_t hi) {
      simd::activation_backward(act, g + lo, u ? u + lo : nullptr, dh + lo, dg + lo,
                                du ? du + lo : nullptr, hi - lo);
    });
  }

  void adamw(float* p, const float* grad, float* m, float* v, int64_t n,
             const AdamWStep& s) override {
    blocks(n, n * 4, [&](int64_t lo, int64_t hi) {
      simd::adamw(p + lo, grad + lo, m + lo, v + lo, hi - lo, s);
    });
  }

  void cross_entropy(float* logits, int T, int V, const int* targets, float scale, bool grad,
                     double* nll) override {
#pragma omp parallel for schedule(static) if (int64_t(T) * V >= (1 << 16))
    for (int t = 0; t < T; ++t) {
      float* row = logits + size_t(t) * V;
      if (targets[t] < 0) {
        if (grad) std::fill_n(row, V, 0.0f);
        nll[t] = 0;
        continue;
      }
      nll[t] = simd::cross_entropy(row, V, targets[t], scale, grad);
    }
  }

  double sum_squares(const float* x, int64_t n) override { return simd::sum_squares(x, n); }

  void attention_backward(const AttentionGradRow* rows, int n, const AttentionParams& ap, float* dk,
                          float* dv, float* dsink, float* dkb_k, float* dkb_v) override {
    if (n == 0) return;
    const int hd = ap.head_dim;
    const size_t kv = size_t(ap.n_kv_heads) * rows[0].kv.capacity * hd;
    int max_kept = 0;
    int64_t work = 0;
    for (int r = 0; r < n; ++r)
      max_kept = std::max(max_kept, rows[r].kv.kept), work += rows[r].kv.kept;
    const int threads = work * hd * ap.n_heads >= kParallelWork ? omp_get_max_threads() : 1;
    const Partials sums(partial_, threads,
                        {{dk, kv},
                         {dv, kv},
                         {dsink, size_t(ap.n_heads)},
                         {dkb_k, size_t(ap.n_kv_heads) * hd},
                         {dkb_v, size_t(ap.n_kv_heads) * hd}});
    if (tiled_ranges(
            n, [&](int r, int& lo, int& hi) { return one_range(rows[r].kv, false, lo, hi); })) {
      const std::vector<Tile> tiles =
          make_tiles(n, lo_, hi_, [&](int r) -> const KvView& { return rows[r].kv; });
      const TileItems items(ap);
      const int64_t n_items = items.size(tiles);
#pragma omp parallel num_threads(threads)
      {
        const int t = omp_get_thread_num();
        const GradSums g{sums.of(t, 0), sums.of(t, 1), sums.of(t, 2), sums.of(t, 3), sums.of(t, 4)};
        thread_local TileScratch w;
        // Round-robin items (a fixed assignment: the sums repeat bit for
        // bit): causal tiles grow, so blocks would be unbalanced.
#pragma omp for schedule(static, 1)
        for (int64_t it = 0; it < n_items; ++it) {
          const Tile& tile = tiles[size_t(it % int64_t(tiles.size()))];
          const auto& [h0, h1] = items.heads[size_t(it / int64_t(tiles.size()))];
          attend_tile_backward(rows, lo_, hi_, tile, ap, TileShape(tile, h0, h1), w, g);
        }
      }
      sums.reduce();
      return;
    }
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      std::vector<float> s(3 * (size_t(max_kept) + 1));
      float* const sc = s.data();
      // Round-robin rows: causal rows grow, so blocks would be unbalanced.
#pragma omp for schedule(static, 1)
      for (int r = 0; r < n; ++r)
        ss::attention_backward(rows[r].q, rows[r].kv, ap, rows[r].dout, rows[r].dq, sums.of(t, 0),
                               sums.of(t, 1), sums.of(t, 2), sums.of(t, 3), sums.of(t, 4), sc,
                               sc + max_kept + 1, sc + 2 * (max_kept + 1));
    }
    sums.reduce();
  }

 private:
  // Below this many rows a matmul runs as GEMV (sgemm's packing costs more).
  static constexpr int kGemmRows = 4;
  // The widened weight tile of a prefill matmul: 4 MiB, about L2 size.
  static constexpr int64_t kTileFloats = int64_t(1) << 20;
  // Fills lo_, hi_ with each row's slot range (range(r, lo, hi) says
  // whether row r has one) and says whether the tiled path takes the call.
  template <class Range>
  bool tiled_ranges(int n, Range range) {
    if (n < kTiledRows) return false;
    lo_.resize(size_t(n)), hi_.resize(size_t(n));
    for (int r = 0; r < n; ++r)
      if (!range(r, lo_[size_t(r)], hi_[size_t(r)])) return false;
    return true;
  }

  std::vector<QuantRow> xq_;
  std::vector<float> tile_, partial_;
  std::vector<int> lo_, hi_;  // the tiled path's row ranges
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

void rope_angles(int64_t pos, int rot_dim, double base, RopeAngles& a) {
  a.pos = pos;
  for (int i = 0; i < rot_dim / 2; ++i) {
    double theta = double(pos) * std::pow(base, -2.0 * i / rot_dim);
    a.cos[i] = float(std::cos(theta));
    a.sin[i] = float(std::sin(theta));
  }
}

void alibi_slopes(int n, float bias_max, float* out) {
  int p2 = 1;
  while (p2 * 2 <= n) p2 *= 2;
  for (int h = 0; h < p2; ++h) out[h] = float(std::pow(2.0, -bias_max * (h + 1) / p2));
  for (int h = p2; h < n; ++h)
    out[h] = float(std::pow(2.0, -bias_max * (2 * (h - p2) + 1) / (2 * p2)));
}

}  // namespace ss
