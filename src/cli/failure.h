// What the CLI prints and returns when a command throws: one line on stderr
// always. Exit status 2 for the user's errors (ss::Error: bad files, options,
// input; and running out of memory), 1 for internal errors, any other
// exception: a bug in sinkstream, not the user's fault, so scripts can tell
// "fix your input" from "report this".
#pragma once
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "core/error.h"

namespace ss::cli {

inline int report_failure(std::exception_ptr e, std::FILE* err) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& x) {
    std::fprintf(err, "sinkstream: error: %s\n", x.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(err, "sinkstream: error: out of memory\n");
    return 2;
  } catch (const std::exception& x) {
    std::fprintf(err, "sinkstream: internal error: %s\n", one_line(x.what()).c_str());
    return 1;
  } catch (...) {
    std::fprintf(err, "sinkstream: internal error: an exception that is not a std::exception\n");
    return 1;
  }
}

}  // namespace ss::cli
