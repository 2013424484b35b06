#include "cache/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace ss {

KvCache::KvCache(int n_layers, int n_kv_heads, int head_dim, int sinks, int ring, bool evict)
    : sinks_(sinks),
      ring_(ring),
      evict_(evict),
      layer_stride_(size_t(n_kv_heads) * (sinks + ring) * head_dim),
      k_(layer_stride_ * n_layers),
      v_(layer_stride_ * n_layers) {}

int KvCache::slot(int64_t t) const {
  if (t < sinks_) return int(t);
  return sinks_ + int((t - sinks_) % ring_);
}

void KvCache::reserve(int count) const {
  check(evict_ || n_seen_ + count <= capacity(), "dense cache is full: ", n_seen_ + count,
        " tokens do not fit in ", capacity(),
        " (raise --ctx, or use a streaming policy: sinks or window)");
}

KvStep KvCache::step(int64_t t) const {
  KvStep s;
  const int ns = int(std::min<int64_t>(sinks_, t + 1));
  if (ns > 0) s.segments[s.n_segments++] = {0, ns, true};
  if (t >= sinks_) {
    const int64_t first = std::max<int64_t>(sinks_, t + 1 - ring_);  // oldest kept text pos
    const int nw = int(t + 1 - first);
    const int a = slot(first);
    const int run = std::min(nw, sinks_ + ring_ - a);  // up to the ring's end
    s.segments[s.n_segments++] = {a, run, false};
    if (run < nw) s.segments[s.n_segments++] = {sinks_, nw - run, false};
    s.kept = ns + nw;
  } else {
    s.kept = ns;
  }
  s.window_pos = t;
  s.sink_pos = s.kept - 1;
  return s;
}

}  // namespace ss
