#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "testutil.h"

namespace sstest {

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const std::string& path, std::string_view data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string temp_dir() {
  static std::string root = [] {
    char tmpl[] = "/tmp/sinkstream-test-XXXXXX";
    std::string d = mkdtemp(tmpl);
    static struct Cleanup {
      std::string d;
      ~Cleanup() { std::filesystem::remove_all(d); }
    } cleanup{d};
    return d;
  }();
  static int n = 0;
  std::string d = root + "/" + std::to_string(n++);
  std::filesystem::create_directories(d);
  return d;
}

CliResult run_cli(const std::string& args, const std::string& stdin_text) {
  return run_command(std::string(CLI_BIN) + " " + args, stdin_text);
}

CliResult run_command(const std::string& command, const std::string& stdin_text) {
  std::string d = temp_dir();
  std::ofstream(d + "/in") << stdin_text;
  std::string cmd = command + " <" + d + "/in >" + d + "/out 2>" + d + "/err";
  int rc = std::system(cmd.c_str());
  CliResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  r.out = slurp(d + "/out");
  r.err = slurp(d + "/err");
  return r;
}

}  // namespace sstest
