// sinkstream plot: curves from the files other commands write.
//   - `sinkstream ppl --csv` files: per-token NLL along the stream, one line
//     per policy (StreamingLLM, Figure 3).
//   - `sinkstream train` logs (log.jsonl): training and validation loss,
//     Sink_k and the first token's attention against uniform over the steps
//     (Gu et al., the emergence curves).
#include "plot/plot.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"

namespace ss::cli {
namespace {

struct PlotOptions {
  std::vector<std::string> files, labels;
  std::string out, title;
  int smooth = 0;  // 0: 50 for NLL CSVs, 1 for training logs
  bool log_y = false;
  int width = 900, height = 480;
};

bool is_log(const std::string& path) { return std::filesystem::path(path).extension() == ".jsonl"; }

// Trailing running mean over the last n values.
std::vector<double> running_mean(const std::vector<double>& y, int n) {
  std::vector<double> m(y.size());
  double sum = 0;
  for (size_t j = 0; j < y.size(); ++j) {
    sum += y[j] - (j >= size_t(n) ? y[j - n] : 0.0);
    m[j] = sum / double(std::min(j + 1, size_t(n)));
  }
  return m;
}

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

// The curves of one `sinkstream train` log: step lines carry "loss",
// evaluation lines "val_loss" (when there is a held-out split), "sink"
// (Sink_1..k in percent) and "alpha1" with "alpha1_uniform" (the first
// token's mean attention, and what uniform attention would give it).
struct TrainLog {
  plot::Series loss, val;
  std::vector<plot::Series> sink;  // [k-1]
  plot::Series alpha;              // alpha1 / alpha1_uniform
  double eps = 0;
};

TrainLog read_log(const std::string& path) {
  std::string text = read_file(path);
  text.erase(text.find_last_of('\n') + 1);  // a last line without '\n' is still being written
  std::istringstream in(text);
  TrainLog log;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    const auto number = [&](const char* key) {
      const auto it = j.find(key);
      check(it != j.end() && it->is_number(), path, ":", n, ": \"", key, "\" is not a number");
      return it->get<double>();
    };
    check(j.is_object(), path, ":", n, ": not a JSON object (want a `sinkstream train` log)");
    const double step = number("step");
    if (j.contains("loss")) log.loss.x.push_back(step), log.loss.y.push_back(number("loss"));
    if (j.contains("val_loss")) log.val.x.push_back(step), log.val.y.push_back(number("val_loss"));
    if (j.contains("alpha1")) {
      const double uniform = number("alpha1_uniform");
      check(uniform > 0, path, ":", n, ": \"alpha1_uniform\" must be positive");
      log.alpha.x.push_back(step);
      log.alpha.y.push_back(number("alpha1") / uniform);
    }
    if (!j.contains("sink")) continue;
    const auto& s = j["sink"];
    check(s.is_array() && !s.empty() && (log.sink.empty() || s.size() == log.sink.size()), path,
          ":", n, ": \"sink\" must be a list of Sink_1..k, the same k on every line");
    log.sink.resize(s.size());
    for (size_t k = 0; k < s.size(); ++k) {
      check(s[k].is_number(), path, ":", n, ": \"sink\" holds a non-number");
      log.sink[k].x.push_back(step);
      log.sink[k].y.push_back(s[k].get<double>());
    }
    if (j.contains("sink_eps")) log.eps = number("sink_eps");
  }
  check(!log.loss.x.empty(), path, ": no training steps logged");
  return log;
}

std::string label_of(const PlotOptions& o, size_t i) {
  if (!o.labels.empty()) return o.labels[i];
  const std::filesystem::path p(o.files[i]);
  // runs/softmax/log.jsonl reads better as "softmax" than as "log".
  return is_log(o.files[i]) && p.has_parent_path() ? p.parent_path().filename().string()
                                                   : p.stem().string();
}

void plot_nll(const PlotOptions& o) {
  const int smooth = o.smooth == 0 ? 50 : o.smooth;
  plot::Chart chart{.x_label = "token index in the stream",
                    .y_label = smooth == 1
                                   ? "per-token NLL (nats)"
                                   : "NLL, mean of the last " + std::to_string(smooth) + " tokens",
                    .log_y = o.log_y};
  for (size_t i = 0; i < o.files.size(); ++i) {
    auto [x, y] = read_csv(o.files[i]);
    chart.series.push_back(
        {.label = label_of(o, i), .x = std::move(x), .y = running_mean(y, smooth)});
  }
  plot::save_charts(
      o.out, {chart},
      {o.title.empty() ? "Per-token NLL along the stream" : o.title, 1, o.width, o.height});
}

// Up to three panels: loss (training lines, validation dots), Sink_k, and
// alpha_1 over uniform, with 10x (a sink) dashed. With one run every logged
// k gets a line; with several, Sink_1 of each run.
void plot_training(const PlotOptions& o) {
  const int smooth = o.smooth == 0 ? 1 : o.smooth;
  plot::Chart loss{
      .title = "Loss",
      .x_label = "step",
      .y_label = smooth == 1 ? "cross-entropy (nats)"
                             : "cross-entropy, mean of " + std::to_string(smooth) + " logged steps",
      .log_y = o.log_y};
  plot::Chart sink{.x_label = "step", .y_label = "% of (sample, layer, head)", .y_from_zero = true};
  plot::Chart alpha{.title = "First token's attention",
                    .x_label = "step",
                    .y_label = "α_1 / uniform",
                    .y_from_zero = true};
  double eps = 0;
  const bool one = o.files.size() == 1;
  for (size_t i = 0; i < o.files.size(); ++i) {
    TrainLog log = read_log(o.files[i]);
    const std::string label = label_of(o, i);
    log.loss.label = one ? "training" : label;
    if (!one) log.loss.colour = log.val.colour = int(i);  // a run's lines share a colour
    log.loss.y = running_mean(log.loss.y, smooth);
    loss.series.push_back(std::move(log.loss));
    if (!log.val.x.empty()) {
      log.val.label = one ? "validation" : label + " (validation)";
      log.val.markers = true;
      loss.series.push_back(std::move(log.val));
    }
    for (size_t k = 0; k < (one ? log.sink.size() : std::min<size_t>(1, log.sink.size())); ++k) {
      log.sink[k].label = one ? "Sink_" + std::to_string(k + 1) : label;
      log.sink[k].markers = true;
      sink.series.push_back(std::move(log.sink[k]));
    }
    if (log.eps > 0) eps = log.eps;
    if (!log.alpha.x.empty()) {
      log.alpha.label = one ? "α_1" : label;
      log.alpha.markers = true;
      alpha.series.push_back(std::move(log.alpha));
    }
  }
  std::vector<plot::Chart> charts{loss};
  if (!sink.series.empty()) {
    std::ostringstream t;
    t << (one ? "Sink_k" : "Sink_1") << ", eps = " << (eps > 0 ? eps : 0.3);
    sink.title = t.str();
    charts.push_back(std::move(sink));
  }
  if (!alpha.series.empty()) {
    double last_step = 0;
    for (const plot::Series& s : alpha.series) last_step = std::max(last_step, s.x.back());
    alpha.series.push_back(
        {.label = "10× uniform (a sink)", .x = {0, last_step}, .y = {10, 10}, .dashed = true});
    charts.push_back(std::move(alpha));
  }
  const int columns = int(charts.size());
  plot::save_charts(o.out, charts,
                    {o.title.empty() ? "Training" : o.title, columns, o.width / columns, o.height});
}

void run(const PlotOptions& o) {
  plot::check_image_path(o.out);
  check(o.labels.empty() || o.labels.size() == o.files.size(), "got ", o.labels.size(),
        " labels for ", o.files.size(), " files");
  const size_t logs = size_t(std::count_if(o.files.begin(), o.files.end(), is_log));
  check(logs == 0 || logs == o.files.size(),
        "cannot mix training logs (.jsonl) and NLL CSVs in one figure");
  logs ? plot_training(o) : plot_nll(o);
}

}  // namespace

void add_plot(CLI::App& app) {
  auto o = std::make_shared<PlotOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plot",
      "Plot per-token NLL along the stream from `sinkstream ppl --csv` files, or loss, Sink_k "
      "and alpha_1 curves from `sinkstream train` logs (log.jsonl); one line per file");
  cmd->add_option("file", o->files, "ppl CSV files (index,token,nll) or training logs (.jsonl)")
      ->required();
  cmd->add_option("-o,--output", o->out, "Image to write (.png or .svg)")->required();
  cmd->add_option("-l,--label", o->labels,
                  "Legend label of the next file, repeated in order (default: file names; for "
                  "logs, their directories)")
      ->allow_extra_args(false);
  cmd->add_option("--smooth", o->smooth,
                  "Average over the last N points (default: 50 tokens for NLL, 1 for logs)")
      ->check(at_least(1));
  cmd->add_option("--title", o->title, "Figure title");
  cmd->add_flag("--log-y", o->log_y, "Logarithmic NLL/loss axis");
  cmd->add_option("--width", o->width, "Image width")
      ->capture_default_str()
      ->check(int_range(300, 8000));
  cmd->add_option("--height", o->height, "Image height")
      ->capture_default_str()
      ->check(int_range(200, 8000));
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
