// Random-weight models in memory, and a deliberately naive reference forward
// pass (double precision, positions rebuilt from scratch at every step).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "cache/policy.h"
#include "io/checkpoint.h"
#include "model/model.h"
#include "model/random_init.h"

namespace sstest {

ss::ModelConfig tiny_config(int n_layers = 2, int n_heads = 4, int n_kv_heads = 2,
                            ss::RopeLayout layout = ss::RopeLayout::RotateHalf);

// Per-token NLL of tokens[i+1] given the stream up to i, where step i keeps
// the first `sinks` tokens, the `window` tokens before i and i itself
// (StreamingLLM's start_size + recent_size, then the new token; window < 0:
// all), numbering the kept tokens 0..n-1 and putting the query at n-1. Keys
// and values of a token are the ones computed at its own step. query_shift
// puts the query at n-1+query_shift instead: a deliberately wrong position,
// for tests that prove the comparison catches one.
std::vector<double> naive_stream_nll(const ss::Checkpoint& ck, const std::vector<int>& tokens,
                                     int sinks, int window, int query_shift = 0);

// The engine's logits for every token (one row of vocab_size each),
// streaming tokens `chunk` at a time through a Stream with policy p.
std::vector<std::vector<float>> engine_logits(std::shared_ptr<const ss::Model> m,
                                              const ss::CachePolicy& p,
                                              const std::vector<int>& tokens, int chunk);

// Per-token NLL of tokens[i+1] from engine_logits.
std::vector<double> engine_nll(std::shared_ptr<const ss::Model> m, const ss::CachePolicy& p,
                               const std::vector<int>& tokens, int chunk);

// -log softmax(logits)[target] in double, for the references' logits (the
// engine's go through ss::token_nll).
double reference_token_nll(const std::vector<double>& logits, int target);

// Logits of the last token with every token kept at its text position.
std::vector<double> naive_logits(const ss::Checkpoint& ck, const std::vector<int>& tokens);

}  // namespace sstest
