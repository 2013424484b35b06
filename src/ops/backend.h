// The kernels the model needs, behind one small interface. The model code
// calls only these; a CUDA backend implements the same methods over device
// buffers. CpuBackend (ops/cpu_backend.cpp) is the AVX2/FMA + OpenBLAS one.
#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "model/config.h"

namespace ss {

// Precomputed cos/sin of one position for every frequency of a head.
struct RopeAngles {
  int64_t pos = -1;
  float cos[256], sin[256];  // head_dim/2 entries used
};

// One contiguous run of cache slots that shares a query rotation.
struct KvSegment {
  int first_slot;
  int count;
  bool sink;  // uses the sink-rotated query
};

// What one attention call reads: the layer's keys/values, laid out
// [n_kv_heads][capacity][head_dim], and the kept slots in cache order.
struct KvView {
  const float* k;
  const float* v;
  int capacity;
  const KvSegment* segments;
  int n_segments;
  int kept;  // total slots over all segments
};

// The shape and extras of one attention call.
struct AttentionParams {
  int n_heads, n_kv_heads, head_dim;
  // ALiBi: score += -alibi_scale * slope[h] * (n-1-j) for the j-th kept slot
  // in cache order; nullptr: none.
  const float* alibi_slopes = nullptr;
  float alibi_scale = 1;
  // Learned per-head sink logits (gpt-oss): an extra term exp(s_h) in each
  // softmax denominator that no value is attached to; nullptr: none.
  const float* sink_logits = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // y[t][o] = sum_i W[o][i] x[t][i] for t < T; W is [out][in] in any DType.
  virtual void matmul(const Tensor& w, const float* x, float* y, int T) = 0;
  // y[t] += b over T rows of length n.
  virtual void add_bias(float* y, const float* b, int T, int n) = 0;
  // RMSNorm (b unused) or LayerNorm (b may be null), row by row over T rows.
  virtual void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T,
                    int dim, float eps) = 0;
  // Rotates the first rot_dim dims of n_heads heads of x in place by the
  // angles of one position.
  virtual void rope(float* x, int n_heads, int head_dim, int rot_dim, RopeLayout layout,
                    const RopeAngles& a) = 0;
  // out[h] = softmax(q[h]·K / sqrt(d) + bias) V for every query head h,
  // grouped over KV heads. q_win rotates for window slots, q_sink for sink
  // slots. When probs is non-null it receives [n_heads][kept] attention
  // weights in cache order (the capture hook; nothing is written otherwise).
  virtual void attention(const float* q_win, const float* q_sink, const KvView& kv,
                         const AttentionParams& p, float* out, float* probs) = 0;
  // g = act(g) * u (gated FFN), or g = act(g) when u is null, over n elements.
  virtual void activation(Activation act, float* g, const float* u, int64_t n) = 0;
};

std::unique_ptr<Backend> make_cpu_backend();

// Fills angles for position pos: theta_i = pos * base^(-2i/r) for the r
// rotary dims, computed in double (a float angle at position 4M is off by a
// tenth of a radian).
void rope_angles(int64_t pos, int rot_dim, double base, RopeAngles& a);

// ALiBi slopes for n heads: 2^(-max*(h+1)/n) for a power of two n, else the
// slopes of the next lower power of two followed by every other slope of the
// next higher one (Press et al.; MPT's alibi_bias_max generalises max=8).
void alibi_slopes(int n_heads, float bias_max, float* out);

}  // namespace ss
