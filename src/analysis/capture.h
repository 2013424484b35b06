// Attention capture and activation probes: what the Workspace hooks see,
// gathered per sample. A sample is a token sequence run through a fresh
// Stream; nothing here costs anything when no capture is attached.
#pragma once
#include <memory>
#include <vector>

#include "analysis/sink_metric.h"
#include "cache/policy.h"
#include "model/model.h"

namespace ss {

// Per-layer activation statistics (Gu et al. section 7; Sun et al. 2024,
// "Massive activations"), accumulated over samples by position.
class ActivationProbes {
 public:
  ActivationProbes(const ModelConfig& c, int n_positions);

  int n_layers() const { return L_; }
  int n_positions() const { return P_; }
  int samples() const { return n_; }
  // Means over samples at position i of layer l: L2 norms of the layer's
  // output hidden state, key and value (all heads together).
  double hidden_norm(int l, int i) const { return mean(h_, l, i); }
  double key_norm(int l, int i) const { return mean(k_, l, i); }
  double value_norm(int l, int i) const { return mean(v_, l, i); }
  // Cosine similarity between the key of position 0 and the query at
  // position i, averaged over query heads (each against its KV head).
  double key0_query_cos(int l, int i) const { return mean(cos_, l, i); }

  // A hidden-state dimension with its largest |h| over samples and positions.
  struct TopDim {
    int dim;
    double max_abs;
    int position;  // where the largest |h| was seen
  };
  // The n dimensions of layer l with the largest max |h|, largest first.
  std::vector<TopDim> top_dims(int l, int n) const;
  // Median over dimensions of each dimension's max |h| in layer l: the scale a
  // massive activation stands out from.
  double median_max_abs(int l) const;

  // Receives one forward call's activations (an ActivationHook for a stream
  // that starts the sample at position 0).
  void observe(int layer, int64_t t0, int T, const LayerActivations& a);
  // Ends a sample.
  void finish_sample() { ++n_; }

 private:
  double mean(const std::vector<double>& s, int l, int i) const {
    return s[size_t(l) * P_ + i] / n_;
  }
  int L_, P_, H_, Hkv_, hd_, dim_, n_ = 0;
  std::vector<double> h_, k_, v_, cos_;  // [L][P] sums
  std::vector<float> key0_;              // [L][kv_dim]: the current sample's first key
  std::vector<float> max_abs_;           // [L][dim]
  std::vector<int> argmax_;              // [L][dim]
};

// Runs ids through a fresh Stream of the model under policy, chunk tokens
// per forward call (ids.size(): one batched prefill; 1: the decode path),
// and returns the attention rows of every token. Probes, when given, see the
// same run. Policy recompute has no capture (one-line ss::Error).
AttentionRows capture_attention(std::shared_ptr<const Model> model, Backend& be,
                                const CachePolicy& policy, const std::vector<int>& ids, int chunk,
                                ActivationProbes* probes = nullptr);

}  // namespace ss
