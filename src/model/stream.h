// A model plus one cache policy: feed it tokens forever, get logits back.
// generate, ppl, analysis and the server all drive the model through this.
#pragma once
#include <deque>
#include <memory>

#include "cache/policy.h"
#include "model/model.h"

namespace ss {

// The cache a policy gives a model: for the global layers, S sink slots and
// a ring of W + 1 (the W past tokens and the current one), or for dense and
// recompute's scratch cache capacity() slots that never wrap; for each local
// layer a ring of exactly its window, under every policy, so its attention is
// the model's own. Kind 0 is the global layers' ring (the local one when
// every layer is local).
KvCache make_cache(const ModelConfig& c, const CachePolicy& p);
// The bytes of the local layers' rings in a cache made for c (0: none).
size_t local_cache_bytes(const ModelConfig& c, const KvCache& cache);

class Stream {
 public:
  // Tokens per forward call (the workspace's rows). A prompt runs in chunks of
  // this many: 512, as llama.cpp's default ubatch, widens each quantised
  // weight tile once per 512 rows and gives sgemm rows enough to split across
  // threads (1.2-1.4x the prefill rate of chunks of 64, bench/README.md).
  static constexpr int kDefaultChunk = 512;
  Stream(std::shared_ptr<const Model> model, Backend& be, const CachePolicy& policy,
         int max_chunk = kDefaultChunk);

  // Feeds T tokens; writes logits for all of them ([T][vocab]) when
  // all_logits, else for the last. Any T: long inputs are split into chunks
  // and evict as they go.
  void feed(const int* tokens, int T, float* logits, bool all_logits);
  int64_t n_seen() const { return n_seen_; }
  const CachePolicy& policy() const { return policy_; }
  const KvCache& cache() const { return cache_; }
  const Model& model() const { return *model_; }
  Workspace& workspace() { return ws_; }
  void reset();

 private:
  std::shared_ptr<const Model> model_;
  Backend& be_;
  CachePolicy policy_;
  KvCache cache_;
  Workspace ws_;
  std::deque<int> history_;  // recompute: the last W past tokens and the current one
  int64_t n_seen_ = 0;
};

}  // namespace ss
