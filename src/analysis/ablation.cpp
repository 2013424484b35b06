#include "analysis/ablation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "model/stream.h"

namespace ss {

std::vector<double> stream_nll(std::shared_ptr<const Model> model, Backend& be,
                               const CachePolicy& policy, const std::vector<int>& ids, int first) {
  const int V = model->config().vocab_size, chunk = 256;
  Stream stream(std::move(model), be, policy);
  std::vector<float> logits(size_t(chunk) * V);
  std::vector<double> nll;
  const int64_t n_pred = int64_t(ids.size()) - 1;
  for (int64_t i = 0; i < n_pred; i += chunk) {
    const int T = int(std::min<int64_t>(chunk, n_pred - i));
    stream.feed(ids.data() + i, T, logits.data(), true);
    for (int j = 0; j < T; ++j) {
      if (i + j + 1 < first) continue;
      nll.push_back(token_nll(logits.data() + size_t(j) * V, V, ids[i + j + 1]));
    }
  }
  return nll;
}

double AblationRun::ppl() const {
  return std::exp(std::accumulate(nll.begin(), nll.end(), 0.0) / double(nll.size()));
}

std::vector<AblationRun> first_token_ablation(std::shared_ptr<const Model> model, Backend& be,
                                              const std::vector<int>& ids, int sinks, int window,
                                              int filler, const std::string& filler_name) {
  check(sinks >= 1, "ablation needs at least one sink token, got ", sinks);
  check(int64_t(ids.size()) > sinks + 1, "ablation needs more than ", sinks + 1, " tokens, got ",
        ids.size());
  check(filler >= 0 && filler < model->config().vocab_size, "filler token ", filler,
        " is outside the vocabulary (", model->config().vocab_size, ")");
  std::vector<int> replaced = ids;
  std::fill_n(replaced.begin(), sinks, filler);
  const CachePolicy with_sinks = CachePolicy::make("sinks", sinks, window);
  const CachePolicy window_only = CachePolicy::make("window", 0, sinks + window);
  std::vector<AblationRun> runs = {
      {"original first tokens", with_sinks, {}},
      {"first " + std::to_string(sinks) + " -> " + filler_name, with_sinks, {}},
      {"window only", window_only, {}},
  };
  runs[0].nll = stream_nll(model, be, with_sinks, ids, sinks);
  runs[1].nll = stream_nll(model, be, with_sinks, replaced, sinks);
  runs[2].nll = stream_nll(model, be, window_only, ids, sinks);
  return runs;
}

}  // namespace ss
