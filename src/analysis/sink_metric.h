// The attention-sink metric of Gu et al. (ICLR 2025, "When Attention Sink
// Emerges"), from captured attention rows; independent of how they were
// captured, so inference analysis and training logs share it.
//
// With k counted from 1, alpha_k^{l,h} is the mean over the queries that see
// key position k of the weight they put on it, and Sink_k^eps is 100 x the
// fraction of (sample, layer, head) with alpha_k^{l,h} > eps. Key positions
// are cache positions (sinks, then the window in text order); with a dense
// cache they are text positions. Each figure has a uniform-attention
// baseline: the same statistic for weights 1/kept on every kept key. A
// model's local (sliding-window) and global layers can also be measured
// apart: past its window a local layer cannot see the first tokens at all.
#pragma once
#include <cstddef>
#include <vector>

namespace ss {

// The attention rows of one sample: for every layer, head and query (in
// stream order), the weights over the keys it saw, in cache order.
struct AttentionRows {
  AttentionRows() = default;
  AttentionRows(int n_layers, int n_heads, int n_queries, int width);

  int n_layers = 0, n_heads = 0, n_queries = 0;
  int width = 0;               // room for the most keys a query sees
  std::vector<int> kept;       // [n_layers][n_queries]: keys seen by each query
  std::vector<float> weights;  // [n_layers][n_heads][n_queries][width]; zero past kept

  int& kept_at(int l, int i) { return kept[size_t(l) * n_queries + i]; }
  int kept_at(int l, int i) const { return kept[size_t(l) * n_queries + i]; }
  float* row(int l, int h, int i) {
    return weights.data() + ((size_t(l) * n_heads + h) * n_queries + i) * width;
  }
  const float* row(int l, int h, int i) const {
    return weights.data() + ((size_t(l) * n_heads + h) * n_queries + i) * width;
  }
};

struct SinkMetricOptions {
  double epsilon = 0.3;  // threshold on alpha_k, in (0, 1)
  int max_k = 10;        // report k = 1..max_k
  int mass_k = 4;        // attention mass on the first mass_k positions
  bool maps = false;     // keep the mean attention map of every (layer, head)
};

// Which layers a figure covers.
enum class LayerSet { All, Local, Global };

// Accumulates the metric over samples.
class SinkMetric {
 public:
  // local: which layers are local (sliding-window); empty: none.
  SinkMetric(int n_layers, int n_heads, const SinkMetricOptions& o, std::vector<bool> local = {});

  // Adds one sample. Some query must see key position max_k; with maps on,
  // every sample must have the first one's shape.
  void add(const AttentionRows& rows);

  const SinkMetricOptions& options() const { return o_; }
  int n_layers() const { return L_; }
  int n_heads() const { return H_; }
  int samples() const { return n_; }
  bool local(int l) const { return !local_.empty() && local_[l]; }
  bool has_local() const;  // some layer is local and some is not
  // k counts from 1. Means over samples (and, for the uniform baselines and
  // Sink_k, over the layers of the set):
  double alpha(int l, int h, int k) const;
  double alpha_mean(int k, LayerSet set = LayerSet::All) const;  // over the set's heads
  double alpha_uniform(int k, LayerSet set = LayerSet::All) const;
  // Fraction of samples with alpha_k^{l,h} > eps.
  double above(int l, int h, int k) const;
  double sink(int k, LayerSet set = LayerSet::All) const;  // Sink_k^eps, percent
  double sink_uniform(int k, LayerSet set = LayerSet::All) const;
  // Mean over heads, samples and queries of the weight on the first mass_k
  // key positions of layer l, and the same for uniform weights.
  double mass(int l) const;
  double mass_uniform(int l) const;
  // Mean map of (l, h), [queries][width] (requires options.maps); weights
  // past a query's kept keys are NaN.
  int map_rows() const { return Q_; }
  int map_cols() const { return W_; }
  std::vector<double> map(int l, int h) const;
  // The mean over heads of layer l's maps.
  std::vector<double> layer_map(int l) const;

 private:
  bool in(int l, LayerSet set) const {
    return set == LayerSet::All || local(l) == (set == LayerSet::Local);
  }
  // The mean over the layers of set of f(l).
  template <class F>
  double over(LayerSet set, F f) const;

  SinkMetricOptions o_;
  std::vector<bool> local_;
  int L_, H_, n_ = 0, Q_ = 0, W_ = 0;
  std::vector<double> alpha_, above_, alpha_u_, above_u_;  // [L][H][K], [L][K]
  std::vector<double> mass_, mass_u_;                      // [L]
  std::vector<int> kept_;                                  // of the first sample, [L][Q]
  std::vector<double> map_;                                // [L][H][Q][W] sums
};

}  // namespace ss
