// Cache policies: which tokens' keys and values stay, and where each lives.
#pragma once
#include <cstdint>
#include <string>

namespace ss {

enum class PolicyKind {
  Dense,      // every token, positions = text positions; full is an error
  Window,     // the last W tokens
  Sinks,      // the first S tokens + the last W tokens (StreamingLLM)
  Recompute,  // re-encode the last W tokens from scratch at every step
};

struct CachePolicy {
  PolicyKind kind = PolicyKind::Sinks;
  int sinks = 4;     // S (Sinks only)
  int window = 252;  // W; for Dense, the capacity

  // Largest S+W accepted: bounds memory and catches typos.
  static constexpr int kMaxTokens = 1 << 22;

  // From CLI words: "dense" | "window" | "sinks" | "recompute". One-line
  // ss::Error on an unknown name or impossible sizes.
  static CachePolicy make(const std::string& name, int sinks, int window);
  int capacity() const { return (kind == PolicyKind::Sinks ? sinks : 0) + window; }
  std::string name() const;
  std::string describe() const;  // e.g. "sinks(4+124)"
};

}  // namespace ss
