// The kernels the model needs, behind one small interface. The model code
// calls only these; a CUDA backend implements the same methods over device
// buffers. CpuBackend (ops/cpu_backend.cpp) is the Highway (run-time SIMD) + OpenBLAS one;
// the maths of each op is defined once, in ops/kernels.h. The *_backward
// methods are the training pass: f32 weights and activations only.
#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "model/config.h"
#include "ops/kernels.h"

namespace ss {

// Precomputed cos/sin of one position for every frequency of a head.
struct RopeAngles {
  int64_t pos = -1;
  float cos[256], sin[256];  // head_dim/2 entries used
};

// One query row of an attention call: its query rotated for window slots
// (q_win) and for sink slots (q_sink, may equal q_win), the slots it sees,
// and where its output goes.
struct AttentionRow {
  const float* q_win;
  const float* q_sink;
  KvView kv;
  float* out;
};

// One query row of the attention backward pass over a dense cache: the
// query, the slots it saw, the gradient of its output, and where dq goes.
struct AttentionGradRow {
  const float* q;
  KvView kv;
  const float* dout;
  float* dq;
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
  // angles of one position (inverse: back, for the backward pass).
  virtual void rope(float* x, int n_heads, int head_dim, int rot_dim, RopeLayout layout,
                    const RopeAngles& a, bool inverse = false) = 0;
  // For each of n rows, out[h] = op(q[h]·K / sqrt(d) + bias) V for every
  // query head h, grouped over KV heads. When probs is non-null (then n is 1)
  // it receives [n_heads][kept] attention weights in cache order (the
  // capture hook; nothing is written otherwise).
  virtual void attention(const AttentionRow* rows, int n, const AttentionParams& p,
                         float* probs) = 0;
  // h = act(g) * u (gated FFN), or h = act(g) when u is null, over n
  // elements; h may be g.
  virtual void activation(Activation act, const float* g, const float* u, float* h, int64_t n) = 0;

  // dx[T][in] = dy W (written, or added to when accumulate; dx may be null)
  // and dW += dy^T x, for an f32 W [out][in].
  virtual void matmul_backward(const Tensor& w, const float* x, const float* dy, float* dx,
                               float* dw, int T, bool accumulate) = 0;
  // dx (written), dg and db (accumulated; db may be null) of norm.
  virtual void norm_backward(NormKind kind, const float* x, const float* g, const float* dy,
                             float* dx, float* dg, float* db, int T, int dim, float eps) = 0;
  // dg and du (written; du only when u is non-null) of activation.
  virtual void activation_backward(Activation act, const float* g, const float* u, const float* dh,
                                   float* dg, float* du, int64_t n) = 0;
  // The attention gradients of n query rows (see attention_backward in
  // ops/kernels.h): each row's dq (written), and summed over the rows into
  // dk, dv (cache layout of the rows' views) and the sink logits' and
  // kv-bias slot's gradients (each may be null when absent). Deterministic
  // for a given thread count.
  virtual void attention_backward(const AttentionGradRow* rows, int n, const AttentionParams& p,
                                  float* dk, float* dv, float* dsink, float* dkb_k,
                                  float* dkb_v) = 0;
  // One AdamW step over n floats: params p, gradients grad (times s.clip),
  // moments m and v updated in place (simd::adamw has the formula).
  // Elementwise: the same for any thread count.
  virtual void adamw(float* p, const float* grad, float* m, float* v, int64_t n,
                     const AdamWStep& s) = 0;
  // The training loss of T rows of V logits: nll[t] = -log softmax(row
  // t)[targets[t]], or 0 where targets[t] < 0 (no target). With grad, each
  // row becomes its gradient times scale, softmax - onehot (zeros without a
  // target).
  virtual void cross_entropy(float* logits, int T, int V, const int* targets, float scale,
                             bool grad, double* nll) = 0;
  // sum_i x[i]^2 over n floats in double (the gradient norm), the same for
  // any thread count.
  virtual double sum_squares(const float* x, int64_t n) = 0;
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
