// Helpers shared by the test files.
#pragma once
#include <string>

namespace sstest {

inline std::string asset(const std::string& rel) { return std::string(SHARED_ASSETS) + "/" + rel; }
inline std::string repo(const std::string& rel) { return std::string(SOURCE_DIR) + "/" + rel; }
inline const std::string kStoriesBin =
    std::string(SOURCE_DIR) + "/models/stories260K/stories260K.bin";
inline const std::string kStoriesHf = std::string(SOURCE_DIR) + "/models/stories260K/hf";

struct CliResult {
  int status;       // exit status
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the sinkstream CLI with the given argument string (shell syntax).
CliResult run_cli(const std::string& args, const std::string& stdin_text = "");

// A fresh temporary directory, removed at process exit.
std::string temp_dir();

}  // namespace sstest
