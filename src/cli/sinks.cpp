// sinkstream sinks: measure, locate and picture attention sinks (Gu et al.
// 2025's Sink_k metric, StreamingLLM's attention maps, activation probes).
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "analysis/capture.h"
#include "analysis/sink_metric.h"
#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"
#include "plot/plot.h"

namespace ss::cli {
namespace {

struct SinksOptions {
  ModelOptions m;
  PolicyOptions p;
  std::string text_file;
  int tokens = 64;
  int samples = 100;
  uint64_t seed = 0;
  SinkMetricOptions metric;
  bool no_bos = false;
  std::string json, csv, map, head_map, mass_plot;
  bool probes = false;
  std::string probe_json, probe_plot;
  int top_dims = 5;
  bool progress = true;
};

// Samples of T tokens (BOS first unless no_bos) at seeded offsets in the text.
std::vector<std::vector<int>> draw_samples(const SinksOptions& o, const std::vector<int>& text,
                                           int bos) {
  const int64_t len = o.tokens - (o.no_bos ? 0 : 1);
  check(len <= int64_t(text.size()), "-T ", o.tokens, " is larger than the text (", text.size(),
        " tokens", o.no_bos ? "" : " plus BOS", ")");
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> out;
  for (int s = 0; s < o.samples; ++s) {
    const int64_t at = int64_t(rng() % uint64_t(text.size() - len + 1));
    std::vector<int> ids;
    if (!o.no_bos) ids.push_back(bos);
    ids.insert(ids.end(), text.begin() + at, text.begin() + at + len);
    out.push_back(std::move(ids));
  }
  return out;
}

nlohmann::json metric_json(const SinkMetric& sm) {
  const int K = sm.options().max_k;
  nlohmann::json j;
  for (int k = 1; k <= K; ++k) {
    j["k"].push_back(k);
    j["sink"].push_back(sm.sink(k));
    j["sink_uniform"].push_back(sm.sink_uniform(k));
    j["alpha_uniform"].push_back(sm.alpha_uniform(k));
    if (sm.has_local()) {
      j["sink_local"].push_back(sm.sink(k, LayerSet::Local));
      j["sink_global"].push_back(sm.sink(k, LayerSet::Global));
      j["sink_uniform_local"].push_back(sm.sink_uniform(k, LayerSet::Local));
      j["sink_uniform_global"].push_back(sm.sink_uniform(k, LayerSet::Global));
    }
  }
  for (int l = 0; l < sm.n_layers(); ++l) {
    nlohmann::json a, f;
    for (int h = 0; h < sm.n_heads(); ++h) {
      nlohmann::json ah, fh;
      for (int k = 1; k <= K; ++k) {
        ah.push_back(sm.alpha(l, h, k));
        fh.push_back(sm.above(l, h, k));
      }
      a.push_back(ah);
      f.push_back(fh);
    }
    j["alpha"].push_back(a);
    j["above_epsilon"].push_back(f);
    j["mass"].push_back(sm.mass(l));
    j["mass_uniform"].push_back(sm.mass_uniform(l));
    j["local"].push_back(sm.local(l));
  }
  return j;
}

nlohmann::json probes_json(const ActivationProbes& p, int top) {
  nlohmann::json j;
  for (int l = 0; l < p.n_layers(); ++l) {
    nlohmann::json layer;
    for (int i = 0; i < p.n_positions(); ++i) {
      layer["hidden_norm"].push_back(p.hidden_norm(l, i));
      layer["key_norm"].push_back(p.key_norm(l, i));
      layer["value_norm"].push_back(p.value_norm(l, i));
      layer["key0_query_cos"].push_back(p.key0_query_cos(l, i));
    }
    for (const auto& d : p.top_dims(l, top))
      layer["top_dims"].push_back(
          {{"dim", d.dim}, {"max_abs", d.max_abs}, {"position", d.position}});
    layer["median_max_abs"] = p.median_max_abs(l);
    j["layers"].push_back(layer);
  }
  return j;
}

void print_metric(const SinkMetric& sm) {
  std::printf("%4s %10s %10s %10s %10s\n", "k", "Sink_k %", "uniform %", "alpha_k", "uniform");
  for (int k = 1; k <= sm.options().max_k; ++k) {
    double a = 0;
    for (int l = 0; l < sm.n_layers(); ++l)
      for (int h = 0; h < sm.n_heads(); ++h) a += sm.alpha(l, h, k);
    std::printf("%4d %10.2f %10.2f %10.4f %10.4f\n", k, sm.sink(k), sm.sink_uniform(k),
                a / (sm.n_layers() * sm.n_heads()), sm.alpha_uniform(k));
  }
  if (sm.has_local()) {
    std::printf("\nlocal (sliding-window) and global layers apart\n");
    std::printf("%4s %10s %10s %10s %10s\n", "k", "local %", "uniform %", "global %", "uniform %");
    for (int k = 1; k <= sm.options().max_k; ++k)
      std::printf("%4d %10.2f %10.2f %10.2f %10.2f\n", k, sm.sink(k, LayerSet::Local),
                  sm.sink_uniform(k, LayerSet::Local), sm.sink(k, LayerSet::Global),
                  sm.sink_uniform(k, LayerSet::Global));
  }
  std::printf("\nattention mass on the first %d positions (mean over heads, samples, queries)\n",
              sm.options().mass_k);
  std::printf("%5s %10s %10s %s\n", "layer", "mass", "uniform", sm.has_local() ? " kind" : "");
  for (int l = 0; l < sm.n_layers(); ++l)
    std::printf("%5d %10.4f %10.4f %s\n", l, sm.mass(l), sm.mass_uniform(l),
                sm.has_local() ? (sm.local(l) ? " local" : " global") : "");
}

void print_probes(const ActivationProbes& p, int top) {
  auto rest = [&](auto f, int l) {
    double s = 0;
    for (int i = 1; i < p.n_positions(); ++i) s += f(l, i);
    return s / (p.n_positions() - 1);
  };
  auto h = [&](int l, int i) { return p.hidden_norm(l, i); };
  auto k = [&](int l, int i) { return p.key_norm(l, i); };
  auto v = [&](int l, int i) { return p.value_norm(l, i); };
  auto c = [&](int l, int i) { return p.key0_query_cos(l, i); };
  std::printf("\nactivation probes: L2 norms at position 0 / mean over later positions\n");
  std::printf("%5s %17s %17s %17s %9s  top |h| dims (max @ position; median dim max)\n", "layer",
              "hidden", "key", "value", "cos(k0,q)");
  for (int l = 0; l < p.n_layers(); ++l) {
    std::printf("%5d %8.2f/%-8.2f %8.2f/%-8.2f %8.2f/%-8.2f %9.3f ", l, h(l, 0), rest(h, l),
                k(l, 0), rest(k, l), v(l, 0), rest(v, l), rest(c, l));
    for (const auto& d : p.top_dims(l, top))
      std::printf(" d%d:%.2f@%d", d.dim, d.max_abs, d.position);
    std::printf("  (%.2f)\n", p.median_max_abs(l));
  }
}

void write_csv(const SinkMetric& sm, const std::string& path) {
  std::ofstream f(path);
  check(bool(f), "cannot write ", path);
  f << "layer,head,k,alpha,alpha_uniform,above_epsilon\n";
  for (int l = 0; l < sm.n_layers(); ++l)
    for (int h = 0; h < sm.n_heads(); ++h)
      for (int k = 1; k <= sm.options().max_k; ++k)
        f << l << ',' << h << ',' << k << ',' << sm.alpha(l, h, k) << ',' << sm.alpha_uniform(k)
          << ',' << sm.above(l, h, k) << '\n';
  f.flush();
  check(bool(f), "cannot write ", path);
}

void write_json(const nlohmann::json& j, const std::string& path) {
  std::ofstream f(path);
  check(bool(f), "cannot write ", path);
  f << j.dump(2) << '\n';
  f.flush();
  check(bool(f), "cannot write ", path);
}

// "Layer 3", and " (local)" for a sliding-window layer of a model with both kinds.
std::string layer_title(const SinkMetric& sm, int l) {
  return "Layer " + std::to_string(l) + (sm.has_local() && sm.local(l) ? " (local)" : "");
}

plot::Heatmap heatmap(const SinkMetric& sm, std::vector<double> values, std::string title) {
  return {std::move(title), "key position", "query position",
          sm.map_rows(),    sm.map_cols(),  std::move(values)};
}

void plot_maps(const SinksOptions& o, const SinkMetric& sm, const std::string& what) {
  const int L = sm.n_layers(), H = sm.n_heads();
  if (!o.map.empty()) {
    std::vector<plot::Heatmap> maps;
    for (int l = 0; l < L; ++l) maps.push_back(heatmap(sm, sm.layer_map(l), layer_title(sm, l)));
    plot::save_heatmaps(o.map, maps,
                        {"Average attention map per layer: " + what, std::min(L, 5), 330, 350},
                        "attention weight");
  }
  if (!o.head_map.empty()) {
    std::vector<plot::Heatmap> maps;
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h)
        maps.push_back(
            heatmap(sm, sm.map(l, h), layer_title(sm, l) + " head " + std::to_string(h)));
    plot::save_heatmaps(o.head_map, maps, {"Average attention map per head: " + what, H, 260, 290},
                        "attention weight");
  }
}

void plot_mass(const SinksOptions& o, const SinkMetric& sm, const std::string& what) {
  const int L = sm.n_layers(), K = sm.options().max_k;
  plot::Series model{.label = sm.has_local() ? "global layers" : "model", .markers = true};
  plot::Series local{.label = "local (sliding-window) layers", .markers = true};
  plot::Series uniform{.label = "uniform attention", .dashed = true};
  for (int l = 0; l < L; ++l) {
    plot::Series& s = sm.has_local() && sm.local(l) ? local : model;
    s.x.push_back(l), s.y.push_back(sm.mass(l));
    uniform.x.push_back(l), uniform.y.push_back(sm.mass_uniform(l));
  }
  const std::string first = std::to_string(sm.options().mass_k);
  const plot::Chart mass{.title = "Attention mass on the first " + first + " positions",
                         .x_label = "layer",
                         .y_label = "mass on positions 1.." + first,
                         .series = sm.has_local() ? std::vector<plot::Series>{model, local, uniform}
                                                  : std::vector<plot::Series>{model, uniform},
                         .y_from_zero = true};
  plot::Chart alpha{.title = "Mean attention on key position k (alpha_k)",
                    .x_label = "key position k",
                    .y_label = "alpha_k (mean over heads, samples)",
                    .log_y = true};
  for (int l = 0; l < L; ++l) {
    plot::Series s{.label = layer_title(sm, l), .markers = true};
    for (int k = 1; k <= K; ++k) {
      double a = 0;
      for (int h = 0; h < sm.n_heads(); ++h) a += sm.alpha(l, h, k);
      s.x.push_back(k), s.y.push_back(a / sm.n_heads());
    }
    alpha.series.push_back(std::move(s));
  }
  plot::Series u{.label = "uniform attention", .dashed = true};
  for (int k = 1; k <= K; ++k) u.x.push_back(k), u.y.push_back(sm.alpha_uniform(k));
  alpha.series.push_back(std::move(u));
  plot::save_charts(o.mass_plot, {mass, alpha}, {what, 2, 560, 400});
}

void plot_probes(const std::string& path, const ActivationProbes& p, const std::string& what) {
  auto chart = [&](const std::string& title, const std::string& y, bool log, auto f) {
    plot::Chart c{.title = title, .x_label = "position", .y_label = y, .log_y = log};
    for (int l = 0; l < p.n_layers(); ++l) {
      plot::Series s{.label = "layer " + std::to_string(l)};
      for (int i = 0; i < p.n_positions(); ++i) s.x.push_back(i), s.y.push_back(f(l, i));
      c.series.push_back(std::move(s));
    }
    return c;
  };
  plot::save_charts(
      path,
      {chart("Hidden state norm (layer output)", "||h||", true,
             [&](int l, int i) { return p.hidden_norm(l, i); }),
       chart("Key norm", "||k||", true, [&](int l, int i) { return p.key_norm(l, i); }),
       chart("Value norm", "||v||", true, [&](int l, int i) { return p.value_norm(l, i); }),
       chart("Cosine of the first key and the queries", "cos(k_0, q_i)", false,
             [&](int l, int i) { return p.key0_query_cos(l, i); })},
      {"Activation probes: " + what, 2, 560, 400});
}

void run(const SinksOptions& o) {
  check(!o.text_file.empty(), "--text FILE is required");
  check(o.metric.epsilon > 0 && o.metric.epsilon < 1, "--epsilon must be in (0, 1), got ",
        o.metric.epsilon);
  check(o.metric.max_k >= 1 && o.metric.max_k <= o.tokens, "--max-k must be in 1..T (", o.tokens,
        "), got ", o.metric.max_k);
  check(o.metric.mass_k <= o.tokens, "--mass-k must be in 1..T (", o.tokens, "), got ",
        o.metric.mass_k);
  for (const std::string* f : {&o.map, &o.head_map, &o.mass_plot, &o.probe_plot})
    if (!f->empty()) plot::check_image_path(*f);
  o.m.apply_threads();
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  const CachePolicy policy = o.p.make(c, o.tokens);
  check(o.metric.max_k <= policy.capacity(), "--max-k ", o.metric.max_k,
        " is larger than the cache (", policy.capacity(), ")");
  const std::string text = read_file(o.text_file);
  check_utf8(text, o.text_file);
  auto tok = o.m.load_tokenizer(c);
  const auto samples = draw_samples(o, tok->encode(text, false), c.bos_id);

  SinkMetricOptions mo = o.metric;
  mo.maps = !o.map.empty() || !o.head_map.empty();
  SinkMetric sm(c.n_layers, c.n_heads, mo, c.local_layers());
  const bool probing = o.probes || !o.probe_json.empty() || !o.probe_plot.empty();
  std::unique_ptr<ActivationProbes> probes;
  if (probing) probes = std::make_unique<ActivationProbes>(c, o.tokens + lead_tokens(c));
  auto be = make_cpu_backend();
  Progress bar(o.samples, "samples", o.progress);
  for (size_t s = 0; s < samples.size(); ++s) {
    sm.add(capture_attention(model, *be, policy, samples[s], o.tokens, probes.get()));
    bar.update(int64_t(s) + 1);
  }
  bar.finish();

  const std::string what = std::to_string(o.samples) + " samples x " + std::to_string(o.tokens) +
                           " tokens" + (o.no_bos ? "" : " (BOS first)") + ", " + policy.describe();
  std::printf("attention sinks (Gu et al. 2025): %s, %s, epsilon %g, seed %llu\n",
              o.m.model.c_str(), what.c_str(), o.metric.epsilon, (unsigned long long)o.seed);
  print_metric(sm);
  if (probes) print_probes(*probes, o.top_dims);

  if (!o.json.empty()) {
    nlohmann::json j = metric_json(sm);
    j.update({{"model", o.m.model},
              {"text", o.text_file},
              {"policy", policy.describe()},
              {"samples", o.samples},
              {"tokens", o.tokens},
              {"bos", !o.no_bos},
              {"epsilon", o.metric.epsilon},
              {"seed", o.seed},
              {"mass_k", o.metric.mass_k}});
    if (probes) j["probes"] = probes_json(*probes, o.top_dims);
    write_json(j, o.json);
  }
  if (!o.csv.empty()) write_csv(sm, o.csv);
  plot_maps(o, sm, what);
  if (!o.mass_plot.empty()) plot_mass(o, sm, what);
  if (probes && !o.probe_json.empty()) write_json(probes_json(*probes, o.top_dims), o.probe_json);
  if (probes && !o.probe_plot.empty()) plot_probes(o.probe_plot, *probes, what);
}

}  // namespace

void add_sinks(CLI::App& app) {
  auto o = std::make_shared<SinksOptions>();
  o->p.policy = "dense";
  CLI::App* cmd = app.add_subcommand(
      "sinks",
      "Measure attention sinks: Gu et al.'s Sink_k metric over samples of a text, attention "
      "maps, attention mass on the first positions and activation probes");
  o->m.add(cmd);
  cmd->add_option("model", o->m.model, "Model path (same as -m)");
  o->p.add(cmd);
  cmd->add_option("--text", o->text_file, "UTF-8 text file the samples are drawn from");
  cmd->add_option("-T,--tokens", o->tokens, "Tokens per sample, BOS included")
      ->capture_default_str()
      ->check(at_least(2));
  cmd->add_option("--samples", o->samples, "Number of samples")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--seed", o->seed, "Seed for the sample offsets")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--epsilon", o->metric.epsilon, "Sink threshold on alpha_k, in (0, 1)")
      ->capture_default_str();
  cmd->add_option("--max-k", o->metric.max_k, "Report k = 1..K")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--mass-k", o->metric.mass_k, "Attention mass on the first N positions")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_flag("--no-bos", o->no_bos, "Do not put BOS first in each sample");
  cmd->add_option("--json", o->json, "Write every alpha per (layer, head, k) as JSON");
  cmd->add_option("--csv", o->csv, "Write alpha per (layer, head, k) as CSV");
  cmd->add_option("--map", o->map, "Heatmap of the mean attention map per layer (.png or .svg)");
  cmd->add_option("--head-map", o->head_map, "Heatmap of the mean attention map per head");
  cmd->add_option("--mass-plot", o->mass_plot,
                  "Chart of the mass on the first positions and alpha_k against uniform attention");
  cmd->add_flag("--probes", o->probes,
                "Print activation probes: hidden, key and value norms, cos(first key, queries), "
                "top |h| dimensions");
  cmd->add_option("--probe-json", o->probe_json, "Write the probes per layer and position as JSON");
  cmd->add_option("--probe-plot", o->probe_plot, "Chart of the probes by position (.png or .svg)");
  cmd->add_option("--top-dims", o->top_dims, "Top |h| dimensions listed per layer")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_flag("!--no-progress", o->progress, "Hide the progress bar");
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
