// Paper-style figures through cairo: line charts (axes, ticks, labels,
// legend) and heatmaps on a shared logarithmic colour scale. Panels are laid
// out in a grid; the file's extension picks PNG or SVG.
#pragma once
#include <string>
#include <vector>

namespace ss::plot {

// Plain aggregates, meant for designated initializers (hence the {}s).
struct Series {
  std::string label{};  // legend entry; empty: not in the legend
  std::vector<double> x{}, y{};
  bool dashed = false;   // a reference line: dashed, in grey
  bool markers = false;  // a dot at every point
  int colour = -1;       // tab10 index; -1: by place among the solid series
};

struct Chart {
  std::string title{}, x_label{}, y_label{};
  bool log_y = false;  // non-positive values are left out
  std::vector<Series> series{};
  bool y_from_zero = false;  // the y axis includes 0 (linear axes)
};

// A matrix drawn cell by cell, row 0 at the top; NaN cells (e.g. above the
// causal diagonal) stay blank.
struct Heatmap {
  std::string title{}, x_label{}, y_label{};
  int rows = 0, cols = 0;
  std::vector<double> values{};  // [rows][cols]
};

struct Figure {
  std::string title{};
  int columns = 1;                            // panels per row
  int panel_width = 520, panel_height = 380;  // pixels (PNG) or points (SVG)
};

// Throws a one-line ss::Error unless path names a .png or .svg file.
void check_image_path(const std::string& path);

// Room around the panel grid: the figure title's band on top (when there is a
// title) and, right of a heatmap grid, the colour bar's.
inline constexpr int kTitleHeight = 44;
inline constexpr int kColourBarWidth = 110;

// Each writes a figure of panels, in reading order, to path (.png or .svg):
// min(columns, panels) panels wide and ceil(panels / columns) high, plus the
// bands above. One-line ss::Error on another extension, an empty figure, or
// a failed write.
void save_charts(const std::string& path, const std::vector<Chart>& charts, const Figure& fig);
// The maps share one log10 colour scale, shown as a colour bar labelled
// colour_label; values <= 0 take the lowest colour.
void save_heatmaps(const std::string& path, const std::vector<Heatmap>& maps, const Figure& fig,
                   const std::string& colour_label);

}  // namespace ss::plot
