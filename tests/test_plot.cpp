// Figures: PNG and SVG files that decode as images of the expected size,
// from the plot module and from the CLI; and the CLI's error paths.
#include <cairo.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "plot/plot.h"
#include "testutil.h"

namespace {

using namespace ss::plot;

using sstest::slurp;
// Width and height of a PNG as cairo decodes it; {-1, -1} if it does not.
std::pair<int, int> png_size(const std::string& path) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  std::pair<int, int> wh{-1, -1};
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS)
    wh = {cairo_image_surface_get_width(s), cairo_image_surface_get_height(s)};
  cairo_surface_destroy(s);
  return wh;
}

// The width and height attributes of an SVG's root element (points).
std::pair<double, double> svg_size(const std::string& path) {
  const std::string s = slurp(path);
  std::smatch m;
  if (!std::regex_search(s, m,
                         std::regex(R"(<svg[^>]*width="([0-9.]+)(pt)?\"[^>]*height="([0-9.]+))")))
    return {-1, -1};
  return {std::stod(m[1]), std::stod(m[3])};
}

Chart sine_chart(const std::string& title) {
  Chart c{.title = title, .x_label = "x", .y_label = "y"};
  for (int k = 0; k < 3; ++k) {
    Series s{.label = "series " + std::to_string(k), .dashed = k == 2, .markers = k == 1};
    for (int i = 0; i <= 50; ++i) s.x.push_back(i), s.y.push_back(std::sin(i / 8.0 + k) + k);
    c.series.push_back(std::move(s));
  }
  return c;
}

Heatmap causal_map(int n, const std::string& title) {
  Heatmap m{title, "key", "query", n, n, std::vector<double>(size_t(n) * n, NAN)};
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) m.values[size_t(i) * n + j] = j == 0 ? 0.5 : 0.5 / i;
  return m;
}

TEST(Plot, ChartPngDecodesWithTheGridSize) {
  const std::string p = sstest::temp_dir() + "/c.png";
  save_charts(p, {sine_chart("a"), sine_chart("b"), sine_chart("c")}, {"Title", 2, 400, 300});
  EXPECT_EQ(png_size(p), std::make_pair(800, 600 + kTitleHeight));
}

TEST(Plot, LogChartAndSvg) {
  Chart c = sine_chart("log");
  c.log_y = true;  // the sine dips below zero: those points are left out
  const std::string p = sstest::temp_dir() + "/c.svg";
  save_charts(p, {c}, {"", 3, 500, 320});
  EXPECT_EQ(slurp(p).rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg_size(p), std::make_pair(500.0, 320.0));
}

TEST(Plot, HeatmapsPngAndSvg) {
  const std::string d = sstest::temp_dir();
  std::vector<Heatmap> maps;
  for (int l = 0; l < 5; ++l) maps.push_back(causal_map(16 + l, "Layer " + std::to_string(l)));
  save_heatmaps(d + "/h.png", maps, {"Maps", 3, 300, 320}, "weight");
  EXPECT_EQ(png_size(d + "/h.png"), std::make_pair(900 + kColourBarWidth, 640 + kTitleHeight));
  save_heatmaps(d + "/h.SVG", maps, {"", 5, 300, 320}, "weight");
  EXPECT_EQ(svg_size(d + "/h.SVG"), std::make_pair(1500.0 + kColourBarWidth, 320.0));
}

TEST(Plot, Errors) {
  const std::string d = sstest::temp_dir();
  EXPECT_THROW(save_charts(d + "/c.jpg", {sine_chart("a")}, {}), ss::Error);
  EXPECT_THROW(save_charts(d + "/c.png", {}, {}), ss::Error);
  EXPECT_THROW(save_charts("/nonexistent/dir/c.png", {sine_chart("a")}, {}), ss::Error);
  EXPECT_THROW(save_charts("/nonexistent/dir/c.svg", {sine_chart("a")}, {}), ss::Error);
  Heatmap bad = causal_map(4, "bad");
  bad.values.pop_back();
  EXPECT_THROW(save_heatmaps(d + "/h.png", {bad}, {}, "w"), ss::Error);
}

// The CLI's figures: sizes follow from the panel grid.
TEST(PlotCli, SinksFiguresDecode) {
  const std::string d = sstest::temp_dir();
  auto r = sstest::run_cli("sinks --no-progress --samples 4 -T 24 --text " +
                           sstest::asset("text/tinystories.txt") + " --map " + d +
                           "/map.png --head-map " + d + "/heads.png --mass-plot " + d +
                           "/mass.svg --probe-plot " + d + "/probes.png");
  ASSERT_EQ(r.status, 0) << r.err;
  // stories260K: 5 layers of 8 heads.
  EXPECT_EQ(png_size(d + "/map.png"),
            std::make_pair(5 * 330 + kColourBarWidth, 350 + kTitleHeight));
  EXPECT_EQ(png_size(d + "/heads.png"),
            std::make_pair(8 * 260 + kColourBarWidth, 5 * 290 + kTitleHeight));
  EXPECT_EQ(svg_size(d + "/mass.svg"), std::make_pair(1120.0, 400.0 + kTitleHeight));
  EXPECT_EQ(png_size(d + "/probes.png"), std::make_pair(1120, 800 + kTitleHeight));
}

TEST(PlotCli, PplCsvsToOneChart) {
  const std::string d = sstest::temp_dir();
  const std::string text = sstest::asset("text/tinystories.txt");
  for (const char* p : {"sinks --sinks 4 --window 60", "window --window 64"}) {
    const std::string name = std::string(p).substr(0, std::string(p).find(' '));
    auto r = sstest::run_cli("ppl --no-progress -n 300 --text " + text + " --policy " + p +
                             " --csv " + d + "/" + name + ".csv");
    ASSERT_EQ(r.status, 0) << r.err;
  }
  auto r = sstest::run_cli("plot " + d + "/sinks.csv " + d + "/window.csv -l 'sinks 4+60' -l " +
                           "'window 64' --smooth 20 -o " + d + "/nll.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(png_size(d + "/nll.png"), std::make_pair(900, 480 + kTitleHeight));
}

// A log as `sinkstream train` writes it: step lines, and evaluation lines
// with validation loss, Sink_1..k and (with alpha) alpha_1 against uniform.
std::string train_log(int k, bool alpha = false) {
  std::ostringstream o;
  for (int step = 1; step <= 40; ++step) {
    o << R"({"grad_norm":1.0,"loss":)" << 5.0 / step << R"(,"lr":0.001,"step":)" << step
      << R"(,"tokens_per_s":1000.0})"
      << "\n";
    if (step % 10 == 0) {
      o << R"({"sink":[)";
      for (int j = 1; j <= k; ++j) o << (j > 1 ? "," : "") << step / j;
      o << R"(],"sink_eps":0.3,"step":)" << step << R"(,"val_loss":)" << 6.0 / step;
      if (alpha) o << R"(,"alpha1":)" << 0.01 * step << R"(,"alpha1_uniform":0.024)";
      o << "}\n";
    }
  }
  return o.str();
}

TEST(PlotCli, TrainingLogsToLossAndSinkPanels) {
  const std::string d = sstest::temp_dir();
  for (const char* run : {"softmax", "sigmoid"}) {
    std::filesystem::create_directories(d + "/" + run);
    std::ofstream(d + "/" + run + "/log.jsonl") << train_log(3);
  }
  // One run: loss and Sink_1..3 side by side, half the width each.
  auto r = sstest::run_cli("plot " + d + "/softmax/log.jsonl -o " + d + "/one.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(png_size(d + "/one.png"), std::make_pair(900, 480 + kTitleHeight));
  r = sstest::run_cli("plot " + d + "/softmax/log.jsonl " + d +
                      "/sigmoid/log.jsonl --log-y --smooth 5 --width 1200 -o " + d + "/two.svg");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(svg_size(d + "/two.svg"), std::make_pair(1200.0, 480.0 + kTitleHeight));
  // A run still writing its log: the unfinished last line is left out.
  std::ofstream(d + "/softmax/log.jsonl", std::ios::app) << R"({"step":41,"lo)";
  r = sstest::run_cli("plot " + d + "/softmax/log.jsonl -o " + d + "/live.png");
  EXPECT_EQ(r.status, 0) << r.err;
  // alpha_1 in the log adds a third panel: the same size, other pixels.
  std::ofstream(d + "/softmax/log.jsonl") << train_log(3, true);
  r = sstest::run_cli("plot " + d + "/softmax/log.jsonl -o " + d + "/alpha.png");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(png_size(d + "/alpha.png"), png_size(d + "/one.png"));
  EXPECT_NE(sstest::slurp(d + "/alpha.png"), sstest::slurp(d + "/one.png"));
}

void expect_error(const std::string& args, const std::string& needle) {
  auto r = sstest::run_cli(args);
  EXPECT_EQ(r.status, 2) << args << "\nstderr: " << r.err;
  ASSERT_FALSE(r.err.empty()) << args;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("sinkstream: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want '" << needle << "' in: " << r.err;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string p = sstest::temp_dir() + "/" + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

TEST(SinkErrors, BadInputIsOneLineAndStatus2) {
  const std::string file = " --text " + sstest::asset("text/tinystories.txt");
  const std::string text = " --no-progress" + file;
  expect_error("sinks --no-progress --text " + write("tiny.txt", "Once upon a time."),
               "larger than the text");
  expect_error("sinks -T 1000000" + text, "larger than the text");
  for (const char* eps : {"0", "1", "1.5", "-0.1"})
    expect_error(std::string("sinks --epsilon ") + eps + text, "--epsilon");
  expect_error("sinks --policy recompute --window 32" + text, "recompute");
  expect_error("sinks --max-k 100 -T 64" + text, "--max-k");
  expect_error("sinks --samples 0" + text, "--samples");
  expect_error("sinks", "--text");
  expect_error("sinks --map out.jpg" + text, "out.jpg");
  expect_error("ablate --filler 'two words'" + file, "--filler");
  expect_error("ablate -n 3" + file, "tokens");
  expect_error("plot -o x.png " + write("bad.csv", "index,token,nll\n1,2,banana\n"), "bad.csv:2");
  expect_error("plot -o x.png " + write("nohead.csv", "1,2,3\n"), "nohead.csv");
  expect_error("plot -o x.png -l a -l b " + write("one.csv", "index,token,nll\n1,2,3\n"), "labels");
  expect_error("plot -o x.gif " + write("ok.csv", "index,token,nll\n1,2,3\n"), "x.gif");
  expect_error("plot -o x.png " + write("ok.csv", "index,token,nll\n1,2,3\n") + " " +
                   write("log.jsonl", train_log(2)),
               "cannot mix");
  expect_error("plot -o x.png " + write("cut.jsonl", train_log(2) + "{\"step\":4\n"),
               "cut.jsonl:45");
  expect_error("plot -o x.png " + write("evals.jsonl", "{\"step\":1,\"sink\":[1]}\n"),
               "no training steps");
  expect_error("plot -o x.png " + write("k.jsonl", train_log(2) + train_log(3)), "same k");
  expect_error("plot -o x.png " + write("u.jsonl", train_log(1) + R"({"step":9,"alpha1":0.1})"
                                                                  "\n"),
               "u.jsonl:45: \"alpha1_uniform\"");
  expect_error("plot -o x.png " + write("u0.jsonl", R"({"step":1,"loss":2,"alpha1":0.1,)"
                                                    R"("alpha1_uniform":0})"
                                                    "\n"),
               "u0.jsonl:1: \"alpha1_uniform\" must be positive");
  expect_error("plot -o x.png " + write("str.jsonl", "{\"step\":\"1\",\"loss\":2}\n"),
               "str.jsonl:1: \"step\"");
}

TEST(SinkErrors, HelpOnEveryNewCommand) {
  for (std::string cmd : {"sinks", "plot", "ablate"}) {
    auto r = sstest::run_cli(cmd + " --help");
    EXPECT_EQ(r.status, 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd;
  }
}

}  // namespace
