#include "cache/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace ss {

int KvRing::slot(int64_t t) const {
  if (t < sinks) return int(t);
  return sinks + int((t - sinks) % ring);
}

KvStep KvRing::step(int64_t t) const {
  KvStep s;
  const int ns = int(std::min<int64_t>(sinks, t + 1));
  if (ns > 0) s.segments[s.n_segments++] = {0, ns, true};
  if (t >= sinks) {
    const int64_t first = std::max<int64_t>(sinks, t + 1 - ring);  // oldest kept text pos
    const int nw = int(t + 1 - first);
    const int a = slot(first);
    const int run = std::min(nw, sinks + ring - a);  // up to the ring's end
    s.segments[s.n_segments++] = {a, run, false};
    if (run < nw) s.segments[s.n_segments++] = {sinks, nw - run, false};
    s.kept = ns + nw;
  } else {
    s.kept = ns;
  }
  s.window_pos = t;
  s.sink_pos = s.kept - 1;
  return s;
}

KvCache::KvCache(int n_layers, int n_kv_heads, int head_dim, int sinks, int ring, bool evict)
    : KvCache(n_kv_heads, head_dim, {sinks, ring, evict},
              std::vector<KvRing>(n_layers, KvRing{sinks, ring, evict})) {}

KvCache::KvCache(int n_kv_heads, int head_dim, const KvRing& primary,
                 const std::vector<KvRing>& layers)
    : kinds_{primary}, per_slot_(size_t(n_kv_heads) * head_dim) {
  check(!layers.empty(), "KV cache: no layers");
  size_t at = 0;
  for (const KvRing& r : layers) {
    auto it = std::find(kinds_.begin(), kinds_.end(), r);
    if (it == kinds_.end()) it = kinds_.insert(kinds_.end(), r);
    kind_.push_back(int(it - kinds_.begin()));
    offset_.push_back(at);
    at += per_slot_ * r.capacity();
  }
  k_.resize(at);
  v_.resize(at);
}

int KvCache::max_capacity() const {
  int m = 0;
  for (const KvRing& r : kinds_) m = std::max(m, r.capacity());
  return m;
}

void KvCache::reserve(int count) const {
  for (const KvRing& r : kinds_)
    check(r.evict || n_seen_ + count <= r.capacity(), "dense cache is full: ", n_seen_ + count,
          " tokens do not fit in ", r.capacity(),
          " (raise --ctx, or use a streaming policy: sinks or window)");
}

}  // namespace ss
