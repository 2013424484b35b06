// First-token ablation (StreamingLLM, Table 1): does a sink cache work because
// of what the first tokens say, or because they are first?
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "cache/policy.h"
#include "model/model.h"

namespace ss {

// Per-token NLL of ids[i+1] given ids[0..i] streamed through a fresh cache
// under policy, for i + 1 >= first.
std::vector<double> stream_nll(std::shared_ptr<const Model> model, Backend& be,
                               const CachePolicy& policy, const std::vector<int>& ids, int first);

struct AblationRun {
  std::string setting;  // e.g. "original first tokens"
  CachePolicy policy;
  std::vector<double> nll;  // of ids[sinks..]
  double ppl() const;
};

// Three runs over ids, all scored on the same targets ids[sinks..]: a
// sinks+window cache with the original first tokens as sinks; the same with
// the first `sinks` tokens replaced by `filler`; a window-only cache of the
// same size.
std::vector<AblationRun> first_token_ablation(std::shared_ptr<const Model> model, Backend& be,
                                              const std::vector<int>& ids, int sinks, int window,
                                              int filler, const std::string& filler_name);

}  // namespace ss
