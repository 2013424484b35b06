// A KV cache whose layers may differ: each layer has a fixed-capacity ring
// (KvRing) of S sink slots that never move, then R slots that wrap. Token t
// (text position) lives in slot t if t < S, otherwise in slot
// S + (t - S) mod R; evicting a token is overwriting its slot, O(1). A
// streaming policy with window W (past tokens) uses R = W + 1: the current
// token's keys are written first (over the token that just left the window),
// then it attends the sinks, the W tokens before it and itself. Dense uses
// R = its capacity and never wraps. A model's local (sliding-window) layers
// get a ring of their own window under every policy (Gemma 3: 512 slots,
// while the global layers hold the policy's cache).
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

// One layer's slot geometry: S sinks and a ring of R slots (W + 1 for a
// window of W past tokens). evict=false makes the ring a plain buffer that
// errors when full (dense).
struct KvRing {
  int sinks = 0, ring = 0;
  bool evict = true;
  int capacity() const { return sinks + ring; }
  // The slot token t is written to (evicting whatever lived there).
  int slot(int64_t t) const;
  // The slots token t attends, in cache order, once it has been written.
  KvStep step(int64_t t) const;
  bool operator==(const KvRing&) const = default;
};

class KvCache {
 public:
  // Every layer the same ring.
  KvCache(int n_layers, int n_kv_heads, int head_dim, int sinks, int ring, bool evict);
  // One ring per layer; primary is the policy's (see kinds()), used by no
  // layer when every layer is local.
  KvCache(int n_kv_heads, int head_dim, const KvRing& primary, const std::vector<KvRing>& layers);

  int n_layers() const { return int(kind_.size()); }
  // The distinct rings (kinds) and the one of each layer. Kind 0 is the
  // primary ring, which capacity(), slot() and step() describe.
  const std::vector<KvRing>& kinds() const { return kinds_; }
  int kind(int layer) const { return kind_[layer]; }
  const KvRing& ring_of(int layer) const { return kinds_[kind_[layer]]; }

  int capacity() const { return kinds_[0].capacity(); }
  int capacity(int layer) const { return ring_of(layer).capacity(); }
  int max_capacity() const;
  int sinks() const { return kinds_[0].sinks; }
  int ring() const { return kinds_[0].ring; }
  int slot(int64_t t) const { return kinds_[0].slot(t); }
  KvStep step(int64_t t) const { return kinds_[0].step(t); }
  int64_t n_seen() const { return n_seen_; }

  // Per-layer storage, [n_kv_heads][capacity(layer)][head_dim].
  float* k(int layer) { return k_.data() + offset_[layer]; }
  float* v(int layer) { return v_.data() + offset_[layer]; }
  const float* k(int layer) const { return k_.data() + offset_[layer]; }
  const float* v(int layer) const { return v_.data() + offset_[layer]; }
  // Marks tokens up to n_seen()+count as written. Throws when a dense ring
  // would overflow; call before writing.
  void reserve(int count) const;
  void advance(int count) { n_seen_ += count; }
  void clear() { n_seen_ = 0; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }
  size_t layer_bytes(int layer) const { return 2 * per_slot_ * capacity(layer) * sizeof(float); }

 private:
  std::vector<KvRing> kinds_;
  std::vector<int> kind_;
  std::vector<size_t> offset_;
  size_t per_slot_;  // floats per slot of one layer: n_kv_heads * head_dim
  int64_t n_seen_ = 0;
  std::vector<float> k_, v_;
};

}  // namespace ss
