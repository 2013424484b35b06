#include "model/stream.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace ss {
namespace {

// The policy as the model allows it: learned absolute positions cannot be
// renumbered by place in the cache.
CachePolicy fit_policy(const ModelConfig& c, CachePolicy p) {
  const bool renumbers = p.kind == PolicyKind::Window || p.kind == PolicyKind::Sinks;
  check(c.position != PositionKind::Learned || !renumbers, "policy ", p.name(), ": ", c.family,
        " uses learned absolute positions, which StreamingLLM cannot reassign by place in the "
        "cache; use --policy dense or recompute");
  return p;
}

}  // namespace

KvCache make_cache(const ModelConfig& c, const CachePolicy& p) {
  const bool evict = p.kind == PolicyKind::Window || p.kind == PolicyKind::Sinks;
  const KvRing global{p.sinks, p.capacity() - p.sinks, evict};
  const KvRing local{0, c.sliding_window, true};
  std::vector<KvRing> layers;
  bool any_global = false;
  for (int l = 0; l < c.n_layers; ++l) {
    layers.push_back(c.local_layer(l) ? local : global);
    any_global = any_global || !c.local_layer(l);
  }
  return KvCache(c.n_kv_heads, c.head_dim, any_global ? global : local, layers);
}

size_t local_cache_bytes(const ModelConfig& c, const KvCache& cache) {
  size_t n = 0;
  for (int l = 0; l < c.n_layers; ++l)
    if (c.local_layer(l)) n += cache.layer_bytes(l);
  return n;
}

Stream::Stream(std::shared_ptr<const Model> model, Backend& be, const CachePolicy& policy,
               int max_chunk)
    : model_(std::move(model)),
      be_(be),
      policy_(fit_policy(model_->config(), policy)),
      cache_(make_cache(model_->config(), policy_)),
      ws_(model_->config(),
          policy_.kind == PolicyKind::Recompute
              ? policy_.capacity()
              : std::max(model_->config().prefix_lm, std::min(max_chunk, policy_.capacity()))) {}

void Stream::reset() {
  cache_.clear();
  history_.clear();
  n_seen_ = 0;
}

void Stream::feed(const int* tokens, int T, float* logits, bool all_logits) {
  const int V = model_->config().vocab_size;
  // A model trained with a sink token sees it first in every stream, and
  // (recompute) first in every re-encoded window.
  const int sink = model_->config().sink_token_id;
  if (policy_.kind == PolicyKind::Recompute) {
    // Every token re-encodes the last W past tokens and itself from scratch at
    // positions 0..n-1 (n <= W + 1). A sink token counts as one of the W.
    const int lead = sink >= 0 && policy_.window > 0 ? 1 : 0;
    std::vector<int> ctx;
    for (int i = 0; i < T; ++i) {
      history_.push_back(tokens[i]);
      if (int(history_.size()) + lead > policy_.capacity()) history_.pop_front();
      ctx.assign(lead, sink);
      ctx.insert(ctx.end(), history_.begin(), history_.end());
      cache_.clear();
      const bool want = all_logits || i == T - 1;
      model_->forward(be_, ws_, cache_, ctx.data(), int(ctx.size()),
                      want ? logits + (all_logits ? size_t(i) * V : 0) : nullptr, false);
    }
    n_seen_ += T;
    return;
  }
  if (n_seen_ == 0 && sink >= 0 && T > 0)
    model_->forward(be_, ws_, cache_, &sink, 1, nullptr, false);
  for (int done = 0; done < T;) {
    const int n = std::min(T - done, ws_.max_tokens);
    const bool last = done + n == T;
    if (all_logits || last)
      model_->forward(be_, ws_, cache_, tokens + done, n,
                      logits + (all_logits ? size_t(done) * V : 0), all_logits);
    else
      model_->forward(be_, ws_, cache_, tokens + done, n, nullptr, false);
    done += n;
  }
  n_seen_ += T;
}

}  // namespace ss
