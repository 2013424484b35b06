#include "cache/policy.h"

#include "core/error.h"

namespace ss {

CachePolicy CachePolicy::make(const std::string& name, int sinks, int window) {
  CachePolicy p;
  if (name == "dense")
    p.kind = PolicyKind::Dense;
  else if (name == "window")
    p.kind = PolicyKind::Window;
  else if (name == "sinks")
    p.kind = PolicyKind::Sinks;
  else if (name == "recompute")
    p.kind = PolicyKind::Recompute;
  else
    fail("unknown cache policy '", name, "' (expected dense, window, sinks or recompute)");
  check(sinks >= 0, "--sinks must be >= 0, got ", sinks);
  check(window >= 0, "--window must be >= 0, got ", window);
  p.sinks = p.kind == PolicyKind::Sinks ? sinks : 0;
  p.window = window;
  check(p.kind != PolicyKind::Dense || window > 0,
        "dense cache of 0 tokens: nothing could be attended (raise --ctx)");
  const int64_t cap = p.kind == PolicyKind::Dense ? window : int64_t(p.sinks) + window + 1;
  check(cap <= kMaxTokens, "cache size ", p.kind == PolicyKind::Dense ? "" : "S+W+1 = ", cap,
        " is over the limit of ", kMaxTokens, " tokens");
  return p;
}

std::string CachePolicy::name() const {
  switch (kind) {
    case PolicyKind::Dense:
      return "dense";
    case PolicyKind::Window:
      return "window";
    case PolicyKind::Sinks:
      return "sinks";
    case PolicyKind::Recompute:
      return "recompute";
  }
  return "?";
}

std::string CachePolicy::describe() const {
  switch (kind) {
    case PolicyKind::Dense:
      return "dense(" + std::to_string(window) + ")";
    case PolicyKind::Sinks:
      return "sinks(" + std::to_string(sinks) + "+" + std::to_string(window) + ")";
    default:
      return name() + "(" + std::to_string(window) + ")";
  }
}

}  // namespace ss
