// Cache policies: which tokens' keys and values stay, and where each lives.
//
// The window W counts past tokens, as StreamingLLM's reference evaluation
// (StartRecentKVCache trims to start_size + recent_size after each step):
// every token attends the S sinks, the W most recent past tokens and itself,
// so a step sees at most S + W + 1 tokens.
#pragma once
#include <cstdint>
#include <string>

namespace ss {

enum class PolicyKind {
  Dense,      // every token, positions = text positions; full is an error
  Window,     // the last W past tokens + the current one
  Sinks,      // the first S tokens + the last W past tokens + the current one (StreamingLLM)
  Recompute,  // re-encode the last W past tokens + the current one from scratch at every step
};

struct CachePolicy {
  PolicyKind kind = PolicyKind::Sinks;
  int sinks = 4;     // S (Sinks only)
  int window = 252;  // W past tokens; for Dense, the capacity (current token included)

  // Largest capacity() accepted: bounds memory and catches typos.
  static constexpr int kMaxTokens = 1 << 22;

  // From CLI words: "dense" | "window" | "sinks" | "recompute". One-line
  // ss::Error on an unknown name or impossible sizes.
  static CachePolicy make(const std::string& name, int sinks, int window);
  // The most tokens one step attends, which is the cache's slot count:
  // S + W + 1 (window, sinks, recompute) or W (dense).
  int capacity() const { return kind == PolicyKind::Dense ? window : sinks + window + 1; }
  std::string name() const;
  std::string describe() const;  // e.g. "sinks(4+124)": S + W past
};

}  // namespace ss
