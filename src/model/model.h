// The one model definition: a decoder whose family quirks and training knobs
// are ModelConfig switches (pre/post norm, RMSNorm/LayerNorm, RoPE/ALiBi/
// learned/no positions, partial rotary, GQA/MQA, biases, gated or plain FFN,
// parallel residual, clip_qkv, attention ops, sink logits, kv-bias slot,
// output gate, prefix-LM and sliding masks). Decode (T=1), prefill (T>1) and
// training are the same code; the backend picks GEMV or GEMM by T, and
// backward mirrors forward. Tensors use the canonical names of
// io/checkpoint.h.
#pragma once
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "io/checkpoint.h"
#include "model/params.h"
#include "ops/backend.h"

namespace ss {

// Called once per (layer, token) with the attention weights of every query
// head, [n_heads][step.kept] in cache order. Off (empty) in normal runs; the
// forward pass then computes no weights for it.
using AttentionHook =
    std::function<void(int layer, int64_t t, const KvStep& step, const float* probs)>;

// What a layer leaves behind for the T tokens of one forward call: its output
// hidden states [T][dim], its queries [T][n_heads * head_dim] and keys
// [T][kv_dim] as the window keys see them (RoPE at the token's text
// position), and its values [T][kv_dim].
struct LayerActivations {
  const float *x, *q, *k, *v;
};
// Called once per (layer, forward call) after the layer's block, for tokens
// at text positions t0..t0+T-1. Off (empty) in normal runs.
using ActivationHook = std::function<void(int layer, int64_t t0, int T, const LayerActivations&)>;

// What the backward pass needs from one forward call over whole samples
// (each from position 0 into an empty dense cache of its own, which keeps
// its keys and values), plus its gradient scratch, for up to `rows` tokens
// in all. Per layer: the inputs of the two norms and of the two blocks, the
// rotated queries, the attention output before and after the gate (o_in
// only with a gate), and the FFN's pre-activations and activations. Forward
// writes these straight here, not into the workspace.
struct Tape {
  Tape(const ModelConfig& c, int rows);
  int rows;
  struct Layer {
    std::vector<float> n1_in, a_in, q, att, g, o_in, n2_in, f_in, gate, up, h;
  };
  std::vector<Layer> layers;
  std::vector<float> xf_in, xf;  // the final norm's input and output
  // Gradient scratch; dK and dV in one sample's cache layout.
  std::vector<float> dx, dy, dt, datt, dq, dk, dv, dK, dV, dg, dh, du;
  std::vector<AttentionGradRow> grad_rows;
};

// Where each parameter's gradient lives: every trainable tensor is f32 in
// one buffer, and its gradient at the same offset in another.
struct GradBuffer {
  const float* params;
  float* grads;
  size_t n;
  float* of(const void* param) const;  // one-line ss::Error if outside params
};

// One sequence of a forward call: T tokens at text positions
// cache->n_seen()... of its own cache. A call stacks the tokens of all its
// sequences into one [rows][dim] batch, so every weight is one GEMM.
struct Sequence {
  KvCache* cache;
  const int* tokens;
  int T;
};

// What the rows of one forward call see in the layers that share a ring
// of the cache, a mask (local or global) and a RoPE base: each token's slots
// and the angles of its one or two query rotations, row by row.
struct LayerView {
  int kind = 0;  // KvCache::kind
  bool local = false;
  double theta = 0;
  std::vector<KvStep> steps;
  std::vector<RopeAngles> win, sink;
};

// Activation buffers for up to max_tokens rows (tokens of all sequences)
// per forward call.
struct Workspace {
  Workspace(const ModelConfig& c, int max_tokens);
  int max_tokens;
  std::vector<float> x, xb, xb2, q, q_sink, k, v, att, g, gate, up, probs;
  std::vector<LayerView> views;  // of the last forward call (grown, never shrunk)
  std::vector<int> view_of;      // per layer, an index into views
  std::vector<AttentionRow> rows;
  AttentionHook hook;
  ActivationHook probe;
  Tape* tape = nullptr;  // set: forward records what backward needs
};

class Model {
 public:
  explicit Model(Checkpoint ckpt);
  static std::shared_ptr<const Model> load(const std::string& path);

  const ModelConfig& config() const { return ckpt_.config; }
  const Checkpoint& checkpoint() const { return ckpt_; }
  int64_t n_params() const;

  // Runs each sequence's tokens through the model, writing their keys and
  // values into its cache, and advances it. Writes logits ([rows][vocab],
  // sequences in order) for every token when all_logits, else for each
  // sequence's last token; none when logits is null. The attention hook and
  // the activation probe take one sequence.
  void forward(Backend& be, Workspace& ws, std::span<const Sequence> seqs, float* logits,
               bool all_logits) const;
  // One sequence: tokens[0..T) at text positions cache.n_seen()...
  void forward(Backend& be, Workspace& ws, KvCache& cache, const int* tokens, int T, float* logits,
               bool all_logits) const {
    const Sequence s{&cache, tokens, T};
    forward(be, ws, {&s, 1}, logits, all_logits);
  }

  // Accumulates into g the parameter gradients of the forward call just made
  // over seqs with ws.tape set (whole samples from position 0, each into an
  // empty dense cache, all logits), given dlogits [rows][vocab]. The tape
  // holds the scratch.
  void backward(Backend& be, Workspace& ws, std::span<const Sequence> seqs, const float* dlogits,
                const GradBuffer& g) const;

 private:
  // A norm's gain and optional bias, widened to f32.
  struct Norm {
    const float *g = nullptr, *b = nullptr;
  };
  // A linear layer's weight and optional bias (f32).
  struct Linear {
    const Tensor* w = nullptr;
    const float* b = nullptr;
  };
  struct Layer {
    Norm attn_norm, ffn_norm;          // ffn_norm.g null: parallel blocks share attn_norm
    Norm q_norm, k_norm;               // per head, before RoPE (qk_norm)
    Norm attn_out_norm, ffn_out_norm;  // on the blocks' outputs (sandwich_norm)
    Linear q, k, v, o, g;              // g.w: the attention output gate
    Linear gate, up, down;             // gate.w null: ungated FFN
    const float* sinks = nullptr;      // per-head sink logits (gpt-oss)
    const float *kv_bias_k = nullptr, *kv_bias_v = nullptr;  // the learned kv slot
  };
  // Points the part s names at t (model/params.h: the schema).
  void bind(const ParamSpec& s, const Tensor& t);
  const float* widen(const Tensor& t);  // a small tensor as f32 (trainable in place when f32)
  void apply_norm(Backend& be, const Norm& n, const float* x, float* y, int T) const;
  void apply_linear(Backend& be, const Linear& l, const float* x, float* y, int T) const;
  AttentionParams attention_params(const Layer& L) const;
  // The slots token t attends: its layers' ring's, narrowed by the model's
  // mask (a prefix-LM prefix, or a local layer's window).
  KvStep masked_step(const KvRing& ring, bool local, int64_t t) const;
  // Fills ws.views and ws.view_of for the rows of seqs.
  void plan_views(Workspace& ws, std::span<const Sequence> seqs) const;

  Checkpoint ckpt_;
  std::vector<Layer> layers_;
  const Tensor* embed_ = nullptr;
  const Tensor* positions_ = nullptr;  // learned absolute positions
  Norm embed_norm_, final_norm_;
  const Tensor* lm_head_ = nullptr;
  std::vector<float> alibi_;             // per-head slopes
  std::list<std::vector<float>> owned_;  // small tensors widened to f32
};

}  // namespace ss
