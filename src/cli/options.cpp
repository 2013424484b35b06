#include "cli/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace ss::cli {
namespace {

// The whole of s as an integer (as CLI11 reads it: base 0), or false; values
// past INT64_MAX (an unsigned seed) read as INT64_MAX.
bool parse_int(const std::string& s, int64_t& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  if (s[0] == '-') {
    v = std::strtoll(s.c_str(), &end, 0);
  } else {
    const unsigned long long u = std::strtoull(s.c_str(), &end, 0);
    v = u > uint64_t(INT64_MAX) ? INT64_MAX : int64_t(u);
  }
  return errno == 0 && *end == '\0';
}

// The whole of s as a finite number, or false.
bool parse_number(const std::string& s, double& v) {
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return *end == '\0' && std::isfinite(v);
}

}  // namespace

CLI::Validator at_least(int64_t min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        int64_t v = 0;
        if (!parse_int(s, v)) return "not an integer: '" + s + "'";
        return v >= min ? "" : "must be >= " + std::to_string(min) + ", got " + s;
      },
      "INT>=" + std::to_string(min));
}

CLI::Validator int_range(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        int64_t v = 0;
        if (!parse_int(s, v)) return "not an integer: '" + s + "'";
        return v >= lo && v <= hi
                   ? ""
                   : "must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + s;
      },
      "INT in " + std::to_string(lo) + ".." + std::to_string(hi));
}

CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        if (!parse_number(s, v)) return "not a finite number: '" + s + "'";
        return v > 0 ? "" : "must be > 0, got " + s;
      },
      "NUMBER>0");
}

CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        if (!parse_number(s, v)) return "not a finite number: '" + s + "'";
        return v >= 0 ? "" : "must be >= 0, got " + s;
      },
      "NUMBER>=0");
}

CLI::Option* add_threads(CLI::App* app, int& threads, const std::string& help) {
  return app->add_option("-t,--threads", threads, help)->check(int_range(0, 1024));
}

}  // namespace ss::cli
