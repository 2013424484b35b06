// A fixed-capacity KV cache: S sink slots that never move, then a ring of R
// slots. Token t (text position) lives in slot t if t < S, otherwise in slot
// S + (t - S) mod R; evicting a token is overwriting its slot, O(1). A
// streaming policy with window W (past tokens) uses R = W + 1: the current
// token's keys are written first (over the token that just left the window),
// then it attends the sinks, the W tokens before it and itself. Dense uses
// R = its capacity and never wraps.
//
// Positions (StreamingLLM): at every step the kept tokens get positions
// 0..n-1 in slot order (sinks, then the ring in text order) and the query
// sits at n-1. Ring keys are stored rotated at their text position and the
// query is rotated at its text position for them: ring tokens are
// contiguous in the text, so every query-key distance equals the cache
// distance. Sink keys are stored rotated at 0..S-1 and see a second query
// rotated at n-1. Exact, with no re-rotation of the cache.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "ops/backend.h"

namespace ss {

// Which slots token t sees, and the positions of its two query rotations.
struct KvStep {
  std::array<KvSegment, 3> segments;  // sinks, then the ring in text order
  int n_segments = 0;
  int kept = 0;            // n
  int64_t window_pos = 0;  // query position for window keys (text position t)
  int64_t sink_pos = 0;    // query position for sink keys (n - 1)
};

class KvCache {
 public:
  // ring: slots after the sinks (W + 1 for a window of W past tokens).
  // evict=false makes the ring a plain buffer that errors when full (dense).
  KvCache(int n_layers, int n_kv_heads, int head_dim, int sinks, int ring, bool evict);

  int capacity() const { return sinks_ + ring_; }
  int64_t n_seen() const { return n_seen_; }
  int sinks() const { return sinks_; }
  int ring() const { return ring_; }

  // The slot token t is written to (evicting whatever lived there).
  int slot(int64_t t) const;
  // The slots token t attends, in cache order, once it has been written.
  KvStep step(int64_t t) const;
  // Per-layer storage, [n_kv_heads][capacity][head_dim].
  float* k(int layer) { return k_.data() + size_t(layer) * layer_stride_; }
  float* v(int layer) { return v_.data() + size_t(layer) * layer_stride_; }
  const float* k(int layer) const { return k_.data() + size_t(layer) * layer_stride_; }
  const float* v(int layer) const { return v_.data() + size_t(layer) * layer_stride_; }
  // Marks tokens up to n_seen()+count as written. Throws when a dense cache
  // would overflow; call before writing.
  void reserve(int count) const;
  void advance(int count) { n_seen_ += count; }
  void clear() { n_seen_ = 0; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  int sinks_, ring_;
  bool evict_;
  int64_t n_seen_ = 0;
  size_t layer_stride_;
  std::vector<float> k_, v_;
};

}  // namespace ss
