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
  check(p.capacity() > 0, "cache size S+W is 0: nothing could be attended");
  check(int64_t(p.sinks) + window <= kMaxTokens, "cache size S+W = ", int64_t(p.sinks) + window,
        " is over the limit of ", kMaxTokens, " tokens");
  check(p.kind != PolicyKind::Sinks || window > 0,
        "policy sinks needs --window >= 1 (the current token lives in the window)");
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
