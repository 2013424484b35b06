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

class Backend {
 public:
  virtual ~Backend() = default;
  // y[t][o] = sum_i W[o][i] x[t][i] for t < T; W is [out][in] in any DType.
  virtual void matmul(const Tensor& w, const float* x, float* y, int T) = 0;
  // y = x / rms(x) * g, row by row over T rows of length dim.
  virtual void rmsnorm(const float* x, const float* g, float* y, int T, int dim, float eps) = 0;
  // Rotates n_heads heads of `x` in place by the angles of one position.
  virtual void rope(float* x, int n_heads, int head_dim, RopeLayout layout,
                    const RopeAngles& a) = 0;
  // out[h] = softmax(q[h]·K / sqrt(d)) V for every query head h, grouped over
  // KV heads. q_win rotates for window slots, q_sink for sink slots. When
  // probs is non-null it receives [n_heads][kept] attention weights in cache
  // order (the capture hook; nothing is written otherwise).
  virtual void attention(const float* q_win, const float* q_sink, const KvView& kv, int n_heads,
                         int n_kv_heads, int head_dim, float* out, float* probs) = 0;
  // g = silu(g) * u over n elements (SwiGLU).
  virtual void swiglu(float* g, const float* u, int64_t n) = 0;
};

std::unique_ptr<Backend> make_cpu_backend();

// Fills angles for position pos: theta_i = pos * base^(-2i/d), in double.
void rope_angles(int64_t pos, int head_dim, double base, RopeAngles& a);

}  // namespace ss
