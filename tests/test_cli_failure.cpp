// How the CLI ends when a command throws (cli/failure.h, main.cpp's last
// catch): one line on stderr whatever was thrown; status 2 for the user's
// errors, 1 for internal ones (a bug: not the user's fault).
#include <cstdio>
#include <new>
#include <stdexcept>

#include "cli/failure.h"
#include "gtest/gtest.h"

namespace {

// The status and the stderr text for what f throws.
template <typename F>
std::pair<int, std::string> failure(F f) {
  std::FILE* err = std::tmpfile();
  int status = -1;
  try {
    f();
  } catch (...) {
    status = ss::cli::report_failure(std::current_exception(), err);
  }
  std::string text(4096, '\0');
  std::rewind(err);
  text.resize(std::fread(text.data(), 1, text.size(), err));
  std::fclose(err);
  return {status, text};
}

TEST(CliFailure, UserErrorsAreStatus2) {
  EXPECT_EQ(
      failure([] { ss::fail("model.gguf: truncated at byte ", 12); }),
      std::make_pair(2, std::string("sinkstream: error: model.gguf: truncated at byte 12\n")));
  EXPECT_EQ(failure([] { throw std::bad_alloc(); }),
            std::make_pair(2, std::string("sinkstream: error: out of memory\n")));
}

TEST(CliFailure, InternalErrorsAreOneLineWithStatus1) {
  EXPECT_EQ(failure([] { throw std::logic_error("vector::_M_range_check: __n (which is 9)"); }),
            std::make_pair(1, std::string("sinkstream: internal error: vector::_M_range_check: "
                                          "__n (which is 9)\n")));
  EXPECT_EQ(failure([] { throw std::runtime_error("two\nlines"); }),
            std::make_pair(1, std::string("sinkstream: internal error: two\\x0alines\n")));
  EXPECT_EQ(failure([] { throw 42; }),
            std::make_pair(1, std::string("sinkstream: internal error: an exception that is not "
                                          "a std::exception\n")));
}

}  // namespace
