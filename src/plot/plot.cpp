#include "plot/plot.h"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <numbers>

#include "core/error.h"

// fontconfig, which cairo's text goes through, keeps its caches until FcFini.
// Declared weak: it resolves through libcairo's own dependency, so nothing
// more is linked.
extern "C" __attribute__((weak)) void FcFini();

namespace ss::plot {
namespace {

// Frees cairo's and fontconfig's caches at exit, so that leak checkers (CI's
// ASan) see a clean process.
void release_font_caches() {
  cairo_debug_reset_static_data();
  if (FcFini) FcFini();
}

constexpr const char* kFont = "DejaVu Sans";
constexpr double kLeft = 74, kRight = 18, kTop = 34, kBottom = 54;  // panel margins

struct Rgb {
  double r, g, b;
};
// matplotlib's tab10 cycle.
constexpr std::array<Rgb, 10> kPalette = {{{0.122, 0.467, 0.706},
                                           {1.000, 0.498, 0.055},
                                           {0.173, 0.627, 0.173},
                                           {0.839, 0.153, 0.157},
                                           {0.580, 0.404, 0.741},
                                           {0.549, 0.337, 0.294},
                                           {0.890, 0.467, 0.761},
                                           {0.498, 0.498, 0.498},
                                           {0.737, 0.741, 0.133},
                                           {0.090, 0.745, 0.812}}};
// viridis at 0, 0.1, ..., 1.
constexpr std::array<Rgb, 11> kViridis = {{{0.267, 0.005, 0.329},
                                           {0.283, 0.141, 0.458},
                                           {0.254, 0.265, 0.530},
                                           {0.207, 0.372, 0.553},
                                           {0.164, 0.471, 0.558},
                                           {0.128, 0.567, 0.551},
                                           {0.135, 0.659, 0.518},
                                           {0.267, 0.749, 0.441},
                                           {0.478, 0.821, 0.318},
                                           {0.741, 0.873, 0.150},
                                           {0.993, 0.906, 0.144}}};

Rgb viridis(double t) {
  t = std::clamp(t, 0.0, 1.0) * 10;
  const int i = std::min(int(t), 9);
  const double f = t - i;
  const Rgb &a = kViridis[i], &b = kViridis[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using ContextPtr = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

bool ends_with(const std::string& path, const std::string& e) {
  return path.size() >= e.size() &&
         std::equal(e.rbegin(), e.rend(), path.rbegin(), [](char a, char b) {
           return a == std::tolower(static_cast<unsigned char>(b));
         });
}

bool is_svg(const std::string& path) {
  check_image_path(path);
  return ends_with(path, ".svg");
}

// A surface of the figure's size for path, drawn on by draw, then written.
template <typename Draw>
void render(const std::string& path, double width, double height, Draw draw) {
  const bool svg = is_svg(path);
  static const bool at_exit = std::atexit(release_font_caches) == 0;
  (void)at_exit;
  SurfacePtr s(svg ? cairo_svg_surface_create(path.c_str(), width, height)
                   : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, int(std::ceil(width)),
                                                int(std::ceil(height))),
               cairo_surface_destroy);
  auto ok = [&](cairo_status_t st) {
    check(st == CAIRO_STATUS_SUCCESS, "cannot write ", path, ": ", cairo_status_to_string(st));
  };
  ok(cairo_surface_status(s.get()));
  {
    ContextPtr cr(cairo_create(s.get()), cairo_destroy);
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    draw(cr.get());
    ok(cairo_status(cr.get()));
  }
  if (svg) {
    cairo_surface_finish(s.get());
    ok(cairo_surface_status(s.get()));
  } else {
    ok(cairo_surface_write_to_png(s.get(), path.c_str()));
  }
}

// Text anchored at (x, y): ax 0/0.5/1 = left/centre/right, ay 0/0.5/1 =
// top/middle/baseline. Rotated by angle (radians) about the anchor.
void text(cairo_t* cr, double x, double y, const std::string& s, double size, double ax = 0,
          double ay = 1, bool bold = false, double angle = 0) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -ax * e.x_advance, (1 - ay) * fe.ascent);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

double text_width(cairo_t* cr, const std::string& s, double size) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", std::abs(v) < 1e-12 ? 0.0 : v);
  return b;
}

// A value axis: linear or log10, with its ticks.
struct Axis {
  double lo = 0, hi = 1;  // in axis units (log10 when log)
  bool log = false;
  bool decades = false;       // ticks are powers of ten, labelled as such
  std::vector<double> ticks;  // data values

  double unit(double v) const { return log ? std::log10(v) : v; }
  double frac(double v) const { return (unit(v) - lo) / (hi - lo); }
};

// Ticks at 1, 2 or 5 times a power of ten (a step of at least min_step),
// about n of them over [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int n, double min_step = 0) {
  const double raw = (hi - lo) / n, mag = std::pow(10, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double step = std::max((f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag, min_step);
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

// An axis over data in [mn, mx], padded by fractions of its span below and above.
Axis make_axis(double mn, double mx, bool log, double pad_lo, double pad_hi) {
  Axis a;
  a.log = log;
  if (!(mn <= mx)) {  // no data
    mn = log ? 0.1 : 0;
    mx = log ? 10 : 1;
  }
  if (log) mn = std::log10(mn), mx = std::log10(mx);
  if (mx - mn < 1e-12) {
    const double d = std::max(std::abs(mn) * 0.1, log ? 0.5 : 1.0);
    mn -= d, mx += d;
  }
  a.lo = mn - pad_lo * (mx - mn);
  a.hi = mx + pad_hi * (mx - mn);
  return a;
}

// About n ticks: nice linear steps (whole numbers when integer); on a log
// axis powers of ten over two decades or more, else 1, 2 and 5 per decade,
// or linear steps where those are too few.
void set_ticks(Axis& a, int n, bool integer) {
  a.decades = false;
  if (!a.log) {
    a.ticks = nice_ticks(a.lo, a.hi, n, integer ? 1 : 0);
    return;
  }
  a.ticks.clear();
  if (a.hi - a.lo >= 2) {
    const int every = int(std::ceil((a.hi - a.lo) / 8));
    for (int e = int(std::ceil(a.lo - 1e-9)); e <= int(std::floor(a.hi + 1e-9)); ++e)
      if (e % every == 0) a.ticks.push_back(std::pow(10, e));
    a.decades = true;
    return;
  }
  for (int e = int(std::floor(a.lo)); e <= int(std::ceil(a.hi)); ++e)
    for (double m : {1.0, 2.0, 5.0}) {
      const double u = e + std::log10(m);
      if (u >= a.lo - 1e-9 && u <= a.hi + 1e-9) a.ticks.push_back(m * std::pow(10, e));
    }
  if (a.ticks.size() < 3) a.ticks = nice_ticks(std::pow(10, a.lo), std::pow(10, a.hi), n);
}

// A tick label, anchored like text(): plain, or 10 with a superscript
// exponent for powers of ten.
void tick_label(cairo_t* cr, double x, double y, double v, bool power, double size, double ax,
                double ay) {
  if (!power) {
    text(cr, x, y, fmt(v), size, ax, ay);
    return;
  }
  const std::string exp = std::to_string(int(std::round(std::log10(v))));
  const double wb = text_width(cr, "10", size), we = text_width(cr, exp, size * 0.72);
  const double x0 = x - ax * (wb + we);
  text(cr, x0, y, "10", size, 0, ay);
  text(cr, x0 + wb, y - size * 0.42, exp, size * 0.72, 0, ay);
}

struct Rect {
  double x0, y0, x1, y1;
  double w() const { return x1 - x0; }
  double h() const { return y1 - y0; }
};

void frame(cairo_t* cr, const Rect& r) {
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, r.x0, r.y0, r.w(), r.h());
  cairo_stroke(cr);
}

// Panel title and axis labels around plot area a of panel p.
void labels(cairo_t* cr, const Rect& p, const Rect& a, const std::string& title,
            const std::string& xl, const std::string& yl) {
  text(cr, (a.x0 + a.x1) / 2, p.y0 + 8, title, 14, 0.5, 0, true);
  text(cr, (a.x0 + a.x1) / 2, a.y1 + 30, xl, 12.5, 0.5, 0);
  text(cr, p.x0 + 8, (a.y0 + a.y1) / 2, yl, 12.5, 0.5, 0, false, -std::numbers::pi / 2);
}

// Ticks with labels and light grid lines; x along the bottom, y along the left.
void x_ticks(cairo_t* cr, const Rect& a, const Axis& ax, bool grid) {
  for (double v : ax.ticks) {
    const double x = a.x0 + ax.frac(v) * a.w();
    if (grid) {
      cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
      cairo_move_to(cr, x, a.y0);
      cairo_line_to(cr, x, a.y1);
      cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, x, a.y1);
    cairo_line_to(cr, x, a.y1 + 5);
    cairo_stroke(cr);
    tick_label(cr, x, a.y1 + 8, v, ax.decades, 11, 0.5, 0);
  }
}

void y_ticks(cairo_t* cr, const Rect& a, const Axis& ax, bool grid, bool down) {
  for (double v : ax.ticks) {
    const double f = ax.frac(v), y = down ? a.y0 + f * a.h() : a.y1 - f * a.h();
    if (grid) {
      cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
      cairo_move_to(cr, a.x0, y);
      cairo_line_to(cr, a.x1, y);
      cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, a.x0 - 5, y);
    cairo_line_to(cr, a.x0, y);
    cairo_stroke(cr);
    tick_label(cr, a.x0 - 8, y, v, ax.decades, 11, 1, 0.5);
  }
}

// Series colours: tab10 (a series' own index, or its place), or a viridis
// ramp for more than ten series (e.g. layers); dashed reference lines in grey.
Rgb series_colour(const std::vector<Series>& all, size_t k) {
  if (all[k].dashed) return {0.35, 0.35, 0.35};
  if (all[k].colour >= 0) return kPalette[size_t(all[k].colour) % kPalette.size()];
  size_t n = 0, i = 0;
  for (size_t j = 0; j < all.size(); ++j) {
    if (all[j].dashed) continue;
    i += j < k;
    ++n;
  }
  if (n <= kPalette.size()) return kPalette[i];
  return viridis(0.9 * double(i) / double(n - 1));
}

void draw_chart(cairo_t* cr, const Chart& c, const Rect& p) {
  const Rect a{p.x0 + kLeft, p.y0 + kTop, p.x1 - kRight, p.y1 - kBottom};
  auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!c.log_y || y > 0);
  };
  double x_mn = INFINITY, x_mx = -INFINITY, y_mn = INFINITY, y_mx = -INFINITY;
  bool integer_x = true;
  for (const Series& s : c.series)
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
      if (usable(s.x[i], s.y[i])) {
        x_mn = std::min(x_mn, s.x[i]), x_mx = std::max(x_mx, s.x[i]);
        y_mn = std::min(y_mn, s.y[i]), y_mx = std::max(y_mx, s.y[i]);
        integer_x = integer_x && s.x[i] == std::round(s.x[i]);
      }
  const bool zero = c.y_from_zero && !c.log_y;
  if (zero) y_mn = std::min(y_mn, 0.0), y_mx = std::max(y_mx, 0.0);
  if (zero && y_mn == y_mx) y_mx = 1;  // all zero: [0, 1], not centred on 0
  Axis ax = make_axis(x_mn, x_mx, false, 0.02, 0.02);
  Axis ay = make_axis(y_mn, y_mx, c.log_y, zero && y_mn == 0 ? 0 : 0.05, 0.05);
  set_ticks(ax, 6, integer_x);
  auto px = [&](double x) { return a.x0 + ax.frac(x) * a.w(); };
  auto py = [&](double y) { return a.y1 - ay.frac(y) * a.h(); };

  // The legend: in columns when long, in the corner of the plot area that
  // covers the fewest points, or above the data (raising the y axis) when
  // every corner covers some.
  std::vector<size_t> listed;
  double lw = 0;
  for (size_t k = 0; k < c.series.size(); ++k)
    if (!c.series[k].label.empty()) {
      listed.push_back(k);
      lw = std::max(lw, text_width(cr, c.series[k].label, 11.5));
    }
  const double row = 18;
  const size_t per_col = std::max<size_t>(1, size_t(0.5 * a.h() / row));
  const size_t ncol = (listed.size() + per_col - 1) / per_col;
  const size_t nrow = ncol ? (listed.size() + ncol - 1) / ncol : 0;
  const double bw = double(ncol) * (lw + 44), bh = row * double(nrow) + 8;
  auto corner = [&](int k) {
    const double x0 = k % 2 ? a.x0 + 8 : a.x1 - 8 - bw, y0 = k < 2 ? a.y0 + 8 : a.y1 - 8 - bh;
    return Rect{x0, y0, x0 + bw, y0 + bh};
  };
  Rect box = corner(0);
  if (!listed.empty()) {
    size_t fewest = std::numeric_limits<size_t>::max();
    for (int k = 0; k < 4; ++k) {
      const Rect r = corner(k);
      size_t covered = 0;
      for (const Series& s : c.series)
        for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
          if (usable(s.x[i], s.y[i])) {
            const double x = px(s.x[i]), y = py(s.y[i]);
            covered += x >= r.x0 && x <= r.x1 && y >= r.y0 && y <= r.y1;
          }
      if (covered < fewest) fewest = covered, box = r;
    }
    if (fewest > 0 && bh + 24 < 0.6 * a.h()) {
      ay.hi = ay.lo + (ay.hi - ay.lo) / (1 - (bh + 16) / a.h());
      box = corner(0);
    }
  }
  set_ticks(ay, 5, false);

  cairo_set_line_width(cr, 1);
  x_ticks(cr, a, ax, true);
  y_ticks(cr, a, ay, true, false);
  labels(cr, p, a, c.title, c.x_label, c.y_label);
  cairo_save(cr);
  cairo_rectangle(cr, a.x0, a.y0, a.w(), a.h());
  cairo_clip(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  const double dash[] = {6, 4};
  for (size_t k = 0; k < c.series.size(); ++k) {
    const Series& s = c.series[k];
    const Rgb col = series_colour(c.series, k);
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    cairo_set_line_width(cr, 1.6);
    cairo_set_dash(cr, dash, s.dashed ? 2 : 0, 0);
    bool pen = false;
    const size_t n = std::min(s.x.size(), s.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!usable(s.x[i], s.y[i])) {
        pen = false;
        continue;
      }
      if (pen)
        cairo_line_to(cr, px(s.x[i]), py(s.y[i]));
      else
        cairo_move_to(cr, px(s.x[i]), py(s.y[i]));
      pen = true;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    if (s.markers)
      for (size_t i = 0; i < n; ++i)
        if (usable(s.x[i], s.y[i])) {
          cairo_arc(cr, px(s.x[i]), py(s.y[i]), 3, 0, 2 * std::numbers::pi);
          cairo_fill(cr);
        }
  }
  cairo_restore(cr);
  frame(cr, a);
  if (listed.empty()) return;

  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, box.x0, box.y0, box.w(), box.h());
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
  cairo_set_line_width(cr, 0.8);
  cairo_stroke(cr);
  const double key_dash[] = {5, 3};
  for (size_t j = 0; j < listed.size(); ++j) {
    const Series& s = c.series[listed[j]];
    const double x = box.x0 + double(j / nrow) * (lw + 44), y = box.y0 + 4 + row * (j % nrow + 0.5);
    const Rgb col = series_colour(c.series, listed[j]);
    cairo_set_source_rgb(cr, col.r, col.g, col.b);
    cairo_set_line_width(cr, 1.8);
    cairo_set_dash(cr, key_dash, s.dashed ? 2 : 0, 0);
    cairo_move_to(cr, x + 8, y);
    cairo_line_to(cr, x + 32, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    if (s.markers) {
      cairo_arc(cr, x + 20, y, 3, 0, 2 * std::numbers::pi);
      cairo_fill(cr);
    }
    text(cr, x + 38, y, s.label, 11.5, 0, 0.5);
  }
}

// The shared colour scale: log10 bounds over every finite positive value,
// at most five decades deep.
std::pair<double, double> colour_range(const std::vector<Heatmap>& maps) {
  double mn = INFINITY, mx = -INFINITY;
  for (const Heatmap& m : maps)
    for (double v : m.values)
      if (std::isfinite(v) && v > 0) mn = std::min(mn, v), mx = std::max(mx, v);
  if (!(mn <= mx)) return {-1, 0};
  double hi = std::ceil(std::log10(mx) - 1e-9), lo = std::floor(std::log10(mn) + 1e-9);
  lo = std::max(lo, hi - 5);
  if (lo >= hi) lo = hi - 1;
  return {lo, hi};
}

void draw_heatmap(cairo_t* cr, const Heatmap& m, const Rect& p, double lo, double hi) {
  const double side = std::min(p.w() - kLeft - kRight, p.h() - kTop - kBottom);
  const double x0 = p.x0 + kLeft + (p.w() - kLeft - kRight - side) / 2;
  const Rect a{x0, p.y0 + kTop, x0 + side, p.y0 + kTop + side};
  SurfacePtr img(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, m.cols, m.rows),
                 cairo_surface_destroy);
  cairo_surface_flush(img.get());
  unsigned char* px = cairo_image_surface_get_data(img.get());
  const int stride = cairo_image_surface_get_stride(img.get());
  for (int i = 0; i < m.rows; ++i)
    for (int j = 0; j < m.cols; ++j) {
      const double v = m.values[size_t(i) * m.cols + j];
      uint32_t argb = 0xffffffff;
      if (!std::isnan(v)) {
        const Rgb c = viridis(v > 0 ? (std::log10(v) - lo) / (hi - lo) : 0);
        argb = 0xff000000u | uint32_t(std::lround(c.r * 255)) << 16 |
               uint32_t(std::lround(c.g * 255)) << 8 | uint32_t(std::lround(c.b * 255));
      }
      reinterpret_cast<uint32_t*>(px + size_t(i) * stride)[j] = argb;
    }
  cairo_surface_mark_dirty(img.get());
  cairo_save(cr);
  cairo_translate(cr, a.x0, a.y0);
  cairo_scale(cr, a.w() / m.cols, a.h() / m.rows);
  cairo_set_source_surface(cr, img.get(), 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_paint(cr);
  cairo_restore(cr);
  frame(cr, a);
  // Cell centres: index v sits at (v + 0.5) / n of the side.
  Axis ax, ay;
  ax.lo = -0.5, ax.hi = m.cols - 0.5, ax.ticks = nice_ticks(0, m.cols - 1, 4);
  ay.lo = -0.5, ay.hi = m.rows - 0.5, ay.ticks = nice_ticks(0, m.rows - 1, 4);
  cairo_set_line_width(cr, 1);
  x_ticks(cr, a, ax, false);
  y_ticks(cr, a, ay, false, true);
  labels(cr, p, a, m.title, m.x_label, m.y_label);
}

void colour_bar(cairo_t* cr, const Rect& r, double lo, double hi, const std::string& label) {
  cairo_pattern_t* g = cairo_pattern_create_linear(0, r.y1, 0, r.y0);
  for (size_t i = 0; i < kViridis.size(); ++i)
    cairo_pattern_add_color_stop_rgb(g, i / 10.0, kViridis[i].r, kViridis[i].g, kViridis[i].b);
  cairo_rectangle(cr, r.x0, r.y0, r.w(), r.h());
  cairo_set_source(cr, g);
  cairo_fill(cr);
  cairo_pattern_destroy(g);
  frame(cr, r);
  Axis ax;
  ax.log = true, ax.lo = lo, ax.hi = hi;
  set_ticks(ax, 5, false);
  for (double v : ax.ticks) {
    const double y = r.y1 - ax.frac(v) * r.h();
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, r.x1, y);
    cairo_line_to(cr, r.x1 + 5, y);
    cairo_stroke(cr);
    tick_label(cr, r.x1 + 8, y, v, ax.decades, 11, 0, 0.5);
  }
  text(cr, r.x1 + 62, (r.y0 + r.y1) / 2, label, 12.5, 0.5, 0, false, -std::numbers::pi / 2);
}

// Panel i's rectangle in a grid of the given columns below the title band.
Rect panel(const Figure& f, size_t i, double top) {
  const double x = double(i % f.columns) * f.panel_width;
  const double y = top + double(i / f.columns) * f.panel_height;
  return {x, y, x + f.panel_width, y + f.panel_height};
}

void check_figure(const Figure& f, size_t n, const std::string& path) {
  check(n > 0, path, ": nothing to plot");
  check(f.columns >= 1 && f.panel_width >= 160 && f.panel_height >= 120, path,
        ": figure panels too small");
}

}  // namespace

void check_image_path(const std::string& path) {
  check(ends_with(path, ".png") || ends_with(path, ".svg"), path,
        ": unknown image format (use a .png or .svg file name)");
}

void save_charts(const std::string& path, const std::vector<Chart>& charts, const Figure& f) {
  check_figure(f, charts.size(), path);
  const double top = f.title.empty() ? 0 : kTitleHeight;
  const size_t cols = std::min<size_t>(f.columns, charts.size());
  const size_t rows = (charts.size() + f.columns - 1) / f.columns;
  render(path, double(cols) * f.panel_width, top + double(rows) * f.panel_height, [&](cairo_t* cr) {
    if (!f.title.empty()) text(cr, cols * f.panel_width / 2.0, 12, f.title, 16, 0.5, 0, true);
    for (size_t i = 0; i < charts.size(); ++i) draw_chart(cr, charts[i], panel(f, i, top));
  });
}

void save_heatmaps(const std::string& path, const std::vector<Heatmap>& maps, const Figure& f,
                   const std::string& colour_label) {
  check_figure(f, maps.size(), path);
  for (const Heatmap& m : maps)
    check(m.rows > 0 && m.cols > 0 && m.values.size() == size_t(m.rows) * m.cols, path,
          ": heatmap '", m.title, "' has ", m.values.size(), " values for ", m.rows, "x", m.cols);
  const std::pair<double, double> range = colour_range(maps);
  const double lo = range.first, hi = range.second;
  const double top = f.title.empty() ? 0 : kTitleHeight;
  const size_t cols = std::min<size_t>(f.columns, maps.size());
  const size_t rows = (maps.size() + f.columns - 1) / f.columns;
  const double grid_w = double(cols) * f.panel_width, grid_h = double(rows) * f.panel_height;
  render(path, grid_w + kColourBarWidth, top + grid_h, [&](cairo_t* cr) {
    if (!f.title.empty()) text(cr, (grid_w + kColourBarWidth) / 2, 12, f.title, 16, 0.5, 0, true);
    for (size_t i = 0; i < maps.size(); ++i) draw_heatmap(cr, maps[i], panel(f, i, top), lo, hi);
    const double bar_h = std::min(grid_h - kTop - kBottom, 360.0);
    const double y0 = top + kTop + (grid_h - kTop - kBottom - bar_h) / 2;
    colour_bar(cr, {grid_w + 10, y0, grid_w + 28, y0 + bar_h}, lo, hi, colour_label);
  });
}

}  // namespace ss::plot
