// Range checks for numeric options, shared by every subcommand. CLI11 runs
// them while parsing (and on --config values), so a value out of range is a
// one-line error naming the option, with exit status 2:
// "--window: must be >= 0, got -1".
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/names.h"  // name_index, which the commands' name options go through

namespace ss::cli {

// An integer of at least min.
CLI::Validator at_least(int64_t min);
// An integer in [lo, hi].
CLI::Validator int_range(int64_t lo, int64_t hi);
// A finite number greater than 0.
CLI::Validator positive();
// A finite number of at least 0.
CLI::Validator non_negative();

// -t/--threads: 0 (all cores) up to 1024.
CLI::Option* add_threads(CLI::App* app, int& threads, const std::string& help);

// True when the command line (or a --config file) gave the option.
inline bool given(const CLI::Option* o) { return o != nullptr && o->count() > 0; }

}  // namespace ss::cli
