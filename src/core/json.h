// Parsing JSON read from files: every exception of the JSON library (bad
// syntax, a number too large for a double, ...) becomes a one-line ss::Error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ss {

inline nlohmann::json parse_json(std::string_view text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(what, ": invalid JSON: ", json_message(e));
  }
}

}  // namespace ss
