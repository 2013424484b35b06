// sinkstream: attention-sink streaming for language models.
#include <cstdio>

#include "cli/common.h"
#include "cli/failure.h"

int main(int argc, char** argv) {
  CLI::App app{"sinkstream: stream language models with attention sinks (StreamingLLM)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sinkstream 0.1");
  ss::cli::add_generate(app);
  ss::cli::add_ppl(app);
  ss::cli::add_info(app);
  ss::cli::add_convert(app);
  ss::cli::add_serve(app);
  ss::cli::add_sinks(app);
  ss::cli::add_plot(app);
  ss::cli::add_ablate(app);
  ss::cli::add_train(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "sinkstream: error: %s (see --help)\n", e.what());
    return 2;
  } catch (...) {
    std::fflush(stdout);
    return ss::cli::report_failure(std::current_exception(), stderr);
  }
  return 0;
}
