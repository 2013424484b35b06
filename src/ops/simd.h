// The float kernels of the ops (ops/kernels.h has their maths for any scalar
// type; these are the f32 forms), compiled per Highway target in
// ops/simd.cpp and chosen at run time, like the weight types' kernels
// (core/dtype.h: simd_target() names the chosen target).
#pragma once
#include <cstdint>

#include "model/config.h"

namespace ss {
template <class S>
struct KvViewT;
template <class S>
struct AttentionParamsT;

// One AdamW step's constants (simd::adamw, Backend::adamw): the gradient's
// clip factor, the learning rate, the moments' decay rates, eps, the bias
// corrections c1 = 1 - beta1^t and c2 = 1 - beta2^t, and the range's
// weight decay (already times lr).
struct AdamWStep {
  float clip;
  double lr, beta1, beta2, eps, c1, c2;
  float wd;
};
}  // namespace ss

namespace ss::simd {

// sum_i a[i] b[i] and y += a x over n floats (attention's head dims).
float dot(const float* a, const float* b, int n);
void axpy(float a, const float* x, float* y, int n);
// attention_head (ops/kernels.h) on floats: head h of one query, its scores,
// op and weighted sum compiled for the target with dot/axpy inlined.
void attention_head(const float* q_win, const float* q_sink, const KvViewT<float>& kv,
                    const AttentionParamsT<float>& ap, int h, float* s, float* out, float* probs);
// attn_op_forward (ops/kernels.h) on floats: one query's n scores to the
// op's weights in place, exp vectorised.
void attn_op(AttnOp op, bool logn, float* s, int n, const float* extra, int n_extra);
// attn_op_backward (ops/kernels.h) on floats: the softmax ops vectorised.
void attn_op_backward(AttnOp op, bool logn, const float* s, const float* p, const float* dp,
                      float* ds, int n, const float* extra, int n_extra, float* dextra);
// sum_i x[i]^2 over n floats, in double (the trainer's gradient norm).
double sum_squares(const float* x, int64_t n);
// token_nll (ops/kernels.h) of the n logits x for training: exp vectorised
// in float, the sum in double across blocks (ppl keeps token_nll's double
// exp). With grad, x becomes its gradient times scale: scale * (softmax(x) -
// onehot(target)).
double cross_entropy(float* x, int n, int target, float scale, bool grad);
// norm_forward (ops/kernels.h) over T rows of dim floats; the statistics in
// double, as there.
void norm(NormKind kind, const float* x, const float* g, const float* b, float* y, int T, int dim,
          float eps);
// rope_rotate (ops/kernels.h) on floats.
void rope(float* x, int n_heads, int hd, int rot, RopeLayout layout, const float* cos,
          const float* sin, bool inverse);
// activation_forward (ops/kernels.h) on floats: exp, tanh and erf by
// polynomials, within a few ulp of libm.
void activation(Activation act, const float* g, const float* u, float* h, int64_t n);
// activation_backward (ops/kernels.h) on floats: dg and du (when u is
// non-null) from dh, the activation and its derivative from one exp, erf or
// tanh per element.
void activation_backward(Activation act, const float* g, const float* u, const float* dh, float* dg,
                         float* du, int64_t n);
// norm_backward (ops/kernels.h) over T rows of dim floats: dx written, dg
// and db (may be null) accumulated; the statistics and row sums in double,
// as there.
void norm_backward(NormKind kind, const float* x, const float* g, const float* dy, float* dx,
                   float* dg, float* db, int T, int dim, float eps);

// One AdamW step over n floats, as Trainer::train_step had it in scalar
// code: g = grad clip, m = beta1 m + (1-beta1) g, v = beta2 v + (1-beta2)
// g^2, p -= lr (m/c1) / (sqrt(v/c2) + eps) + wd p; in float, within a few
// ulp of that update computed in double.
void adamw(float* p, const float* grad, float* m, float* v, int64_t n, const AdamWStep& s);

}  // namespace ss::simd
