// sinkstream plot: per-token NLL along the stream from `sinkstream ppl --csv`
// files, one line per policy (StreamingLLM, Figure 3).
#include "plot/plot.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/common.h"
#include "core/error.h"

namespace ss::cli {
namespace {

struct PlotOptions {
  std::vector<std::string> csvs, labels;
  std::string out, title = "Per-token NLL along the stream";
  int smooth = 50;
  bool log_y = false;
  int width = 900, height = 480;
};

// index,token,nll rows as written by `sinkstream ppl --csv`, as (index, nll).
std::pair<std::vector<double>, std::vector<double>> read_csv(const std::string& path) {
  std::istringstream in(read_file(path));
  std::string line;
  check(std::getline(in, line) && line.rfind("index,token,nll", 0) == 0, path,
        ": not a ppl CSV (want the header index,token,nll)");
  std::vector<double> x, y;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    std::istringstream row(line);
    double index, nll;
    long token;
    char c1 = 0, c2 = 0;
    check(row >> index >> c1 >> token >> c2 >> nll && c1 == ',' && c2 == ',' &&
              (row >> std::ws).eof(),
          path, ":", n, ": expected index,token,nll");
    x.push_back(index);
    y.push_back(nll);
  }
  check(!x.empty(), path, ": no rows");
  return {x, y};
}

void run(const PlotOptions& o) {
  plot::check_image_path(o.out);
  check(o.labels.empty() || o.labels.size() == o.csvs.size(), "got ", o.labels.size(),
        " labels for ", o.csvs.size(), " CSV files");
  check(o.smooth >= 1, "--smooth must be >= 1, got ", o.smooth);
  plot::Chart chart{
      .x_label = "token index in the stream",
      .y_label = o.smooth == 1 ? "per-token NLL (nats)"
                               : "NLL, mean of the last " + std::to_string(o.smooth) + " tokens",
      .log_y = o.log_y};
  for (size_t i = 0; i < o.csvs.size(); ++i) {
    auto [x, y] = read_csv(o.csvs[i]);
    // Trailing running mean over the last `smooth` tokens.
    std::vector<double> m(y.size());
    double sum = 0;
    for (size_t j = 0; j < y.size(); ++j) {
      sum += y[j] - (j >= size_t(o.smooth) ? y[j - o.smooth] : 0.0);
      m[j] = sum / double(std::min(j + 1, size_t(o.smooth)));
    }
    const std::string label =
        o.labels.empty() ? std::filesystem::path(o.csvs[i]).stem().string() : o.labels[i];
    chart.series.push_back({.label = label, .x = std::move(x), .y = std::move(m)});
  }
  plot::save_charts(o.out, {chart}, {o.title, 1, o.width, o.height});
}

}  // namespace

void add_plot(CLI::App& app) {
  auto o = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plot",
      "Plot per-token NLL along the stream from `sinkstream ppl --csv` files, one line each");
  cmd->add_option("csv", o->csvs, "CSV files (index,token,nll), one per policy")->required();
  cmd->add_option("-o,--output", o->out, "Image to write (.png or .svg)")->required();
  cmd->add_option("-l,--label", o->labels,
                  "Legend label of the next CSV, repeated in order (default: file names)")
      ->allow_extra_args(false);
  cmd->add_option("--smooth", o->smooth, "Average the NLL over the last N tokens (1: raw)")
      ->capture_default_str();
  cmd->add_option("--title", o->title, "Figure title")->capture_default_str();
  cmd->add_flag("--log-y", o->log_y, "Logarithmic NLL axis");
  cmd->add_option("--width", o->width, "Image width")
      ->capture_default_str()
      ->check(CLI::Range(300, 8000));
  cmd->add_option("--height", o->height, "Image height")
      ->capture_default_str()
      ->check(CLI::Range(200, 8000));
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
