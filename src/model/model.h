// The one model definition: Llama-family decoder blocks (RMSNorm, RoPE,
// GQA attention over a KvCache, SwiGLU). Decode (T=1) and prefill (T>1) are
// the same code; the backend picks GEMV or GEMM by T.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cache/kv_cache.h"
#include "io/checkpoint.h"
#include "ops/backend.h"

namespace ss {

// Called once per (layer, token) with the attention weights of every query
// head, [n_heads][step.kept] in cache order. Off (empty) in normal runs; the
// forward pass then computes no weights for it.
using AttentionHook =
    std::function<void(int layer, int64_t t, const KvStep& step, const float* probs)>;

// Activation buffers for up to max_tokens tokens per forward call.
struct Workspace {
  Workspace(const ModelConfig& c, int max_tokens);
  int max_tokens;
  std::vector<float> x, xb, q, q_sink, k, v, att, gate, up, probs;
  std::vector<KvStep> steps;
  std::vector<RopeAngles> win, sink;
  AttentionHook hook;
};

class Model {
 public:
  explicit Model(Checkpoint ckpt);
  static std::shared_ptr<const Model> load(const std::string& path);

  const ModelConfig& config() const { return ckpt_.config; }
  const Checkpoint& checkpoint() const { return ckpt_; }
  int64_t n_params() const;

  // Runs tokens[0..T) at text positions cache.n_seen()... through the model,
  // writing their keys and values into the cache, and advances it. Writes the
  // logits of every token ([T][vocab]) when all_logits, else of the last;
  // none when logits is null.
  void forward(Backend& be, Workspace& ws, KvCache& cache, const int* tokens, int T, float* logits,
               bool all_logits) const;

 private:
  struct Layer {
    const float *attn_norm, *ffn_norm;
    const Tensor *wq, *wk, *wv, *wo, *gate, *up, *down;
  };
  Checkpoint ckpt_;
  std::vector<Layer> layers_;
  const Tensor* embed_;
  const Tensor* lm_head_;
  const float* final_norm_;
  std::vector<std::vector<float>> norms_;  // norm weights widened to f32
};

}  // namespace ss
