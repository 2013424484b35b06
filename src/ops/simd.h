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

}  // namespace ss::simd
