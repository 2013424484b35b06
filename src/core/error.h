// One error type for everything a user can get wrong: bad files, bad options,
// bad input. The CLI prints what() on one line and exits with status 2.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ss {

// Control characters (a newline in a key name read from a corrupt file, say)
// are written as \xNN, so that every message stays on one line.
inline std::string one_line(std::string s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
      continue;
    }
    out += "\\x";
    out += hex[u >> 4];
    out += hex[u & 15];
  }
  return out;
}

struct Error : std::runtime_error {
  explicit Error(const std::string& what) : std::runtime_error(one_line(what)) {}
};

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}

template <typename... Args>
void check(bool ok, const Args&... args) {
  if (!ok) fail(args...);
}

// A JSON library exception's message without its "[json.exception.xxx.101] " tag.
inline std::string json_message(const std::exception& e) {
  const std::string m = e.what();
  const size_t tag = m.find("] ");
  return tag == std::string::npos ? m : m.substr(tag + 2);
}

}  // namespace ss
