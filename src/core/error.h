// One error type for everything a user can get wrong: bad files, bad options,
// bad input. The CLI prints what() on one line and exits with status 2.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ss {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
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
