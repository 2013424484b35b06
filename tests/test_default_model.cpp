// Where the CLI finds its model without -m: $SINKSTREAM_MODEL, else the
// bundled stories260K in share/sinkstream/stories260K/ beside the binary (the
// build tree) or one level up (an install), never a path compiled in from the
// source tree. Each run sets or clears the variable itself.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "testutil.h"

namespace fs = std::filesystem;

namespace {

const std::string kNoEnv = "env -u SINKSTREAM_MODEL ";

// The model `info --json` describes.
std::string model_of(const sstest::CliResult& r) {
  EXPECT_EQ(r.status, 0) << r.err;
  return r.status == 0 ? nlohmann::json::parse(r.out).at("model").get<std::string>() : "";
}

std::string greedy_200() {
  return sstest::slurp(sstest::asset("stories260K/greedy_200_expected.txt"));
}

TEST(DefaultModel, BuildTreeKeepsACopyBesideTheBinary) {
  const fs::path bundled = fs::path(CLI_BIN).parent_path() / "share/sinkstream/stories260K";
  EXPECT_EQ(model_of(sstest::run_command(kNoEnv + CLI_BIN " info --json")),
            (fs::canonical(bundled) / "stories260K.bin").string());
  EXPECT_EQ(sstest::slurp((bundled / "stories260K.bin").string()),
            sstest::slurp(sstest::kStoriesBin));
  EXPECT_TRUE(fs::is_regular_file(bundled / "tok512.bin"));
}

TEST(DefaultModel, InstalledBinaryRunsTheModelInstalledWithIt) {
  const std::string prefix = sstest::temp_dir() + "/prefix";
  auto r = sstest::run_command(std::string(CMAKE_COMMAND) + " --install " + BUILD_DIR +
                               " --prefix " + prefix);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string bin = prefix + "/bin/sinkstream";
  EXPECT_EQ(model_of(sstest::run_command(kNoEnv + bin + " info --json")),
            fs::canonical(prefix).string() + "/share/sinkstream/stories260K/stories260K.bin");
  for (const char* f : {"LICENSE", "MODEL_CARD.md", "tok512.bin"})
    EXPECT_TRUE(fs::is_regular_file(prefix + "/share/sinkstream/stories260K/" + f)) << f;
  r = sstest::run_command(kNoEnv + bin + " generate --temperature 0 -n 200 -p ''");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, greedy_200());
}

TEST(DefaultModel, WithoutOneTheErrorSaysHowToGiveOne) {
  const std::string dir = sstest::temp_dir();
  fs::copy_file(CLI_BIN, dir + "/sinkstream");
  const std::string bin = dir + "/sinkstream";
  for (const char* cmd : {" generate -n 5", " info", " ppl --text x.txt", " serve"}) {
    auto r = sstest::run_command(kNoEnv + bin + cmd);
    EXPECT_EQ(r.status, 2) << cmd;
    EXPECT_EQ(r.out, "") << cmd;
    EXPECT_EQ(r.err,
              "sinkstream: error: no model: pass -m MODEL or set SINKSTREAM_MODEL (the "
              "bundled stories260K is not at " +
                  fs::canonical(dir).string() +
                  "/share/sinkstream/stories260K/stories260K.bin or " +
                  fs::canonical(dir).parent_path().string() +
                  "/share/sinkstream/stories260K/stories260K.bin)\n")
        << cmd;
  }
  // Given a model, the same binary needs no default.
  auto r = sstest::run_command(kNoEnv + bin + " generate --temperature 0 -n 200 -p '' -m " +
                               sstest::kStoriesBin);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, greedy_200());
  EXPECT_EQ(model_of(sstest::run_command(kNoEnv + bin + " info --json " + sstest::kStoriesBin)),
            sstest::kStoriesBin);
  // --help shows where the default comes from, without looking for it.
  r = sstest::run_command(kNoEnv + bin + " generate --help");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("default: $SINKSTREAM_MODEL, else the bundled stories260K"),
            std::string::npos)
      << r.out;
}

TEST(DefaultModel, EnvironmentVariableNamesIt) {
  const std::string dir = sstest::temp_dir();
  fs::copy_file(CLI_BIN, dir + "/sinkstream");
  const std::string bin = dir + "/sinkstream";
  const std::string env = "env SINKSTREAM_MODEL=" + sstest::kStoriesBin + " ";
  EXPECT_EQ(model_of(sstest::run_command(env + bin + " info --json")), sstest::kStoriesBin);
  auto r = sstest::run_command(env + bin + " generate --temperature 0 -n 200 -p ''");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, greedy_200());
  // It also wins over the bundled copy, and -m over it.
  const std::string missing = "env SINKSTREAM_MODEL=/nonexistent/m.bin ";
  r = sstest::run_command(missing + CLI_BIN " info");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("/nonexistent/m.bin"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_EQ(
      model_of(sstest::run_command(missing + CLI_BIN " info --json -m " + sstest::kStoriesBin)),
      sstest::kStoriesBin);
}

}  // namespace
