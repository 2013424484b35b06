// Enum values by name: the one lookup for config files and command-line
// options over a list of names in enum order (model/config.h's kNormNames,
// kActivationNames, kPositionNames).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ss {

// The index of value in names; otherwise a one-line ss::Error
// "WHAT: unknown 'VALUE' (supported: A, B, ...)", listing first `others`
// (values the caller handles itself, comma-separated) and then the names.
template <size_t N>
int name_index(std::string_view value, const char* const (&names)[N], const std::string& what,
               const std::string& others = "") {
  std::string all = others;
  for (size_t i = 0; i < N; ++i) {
    if (value == names[i]) return int(i);
    all += (all.empty() ? "" : ", ") + std::string(names[i]);
  }
  fail(what, ": unknown '", value, "' (supported: ", all, ")");
}

}  // namespace ss
