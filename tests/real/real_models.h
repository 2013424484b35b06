// The real pretrained models for tests: SmolLM2-135M-Instruct Q4_1 and
// Gemma 3 270M Q4_K_M in models/cache (or $SINKSTREAM_MODELS), fetched by
// scripts/fetch-models.sh. A missing model fails the test with one line.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace sstest {

inline const char* kSmolLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf";
inline const char* kGemma3 = "gemma-3-270m-q4_k_m.gguf";

// The model's path; an empty string (and a test failure) when it is missing.
inline std::string real_model(const std::string& file) {
  const char* env = std::getenv("SINKSTREAM_MODELS");
  const std::string path =
      (env && *env ? std::string(env) : std::string(SOURCE_DIR) + "/models/cache") + "/" + file;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run scripts/fetch-models.sh";
    return "";
  }
  return path;
}

inline nlohmann::json reference(const std::string& name) {
  const std::string path = std::string(SOURCE_DIR) + "/tests/reference/" + name;
  std::ifstream f(path);
  if (!f) {
    ADD_FAILURE() << path << " is missing";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(f);
}

}  // namespace sstest
