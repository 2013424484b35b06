// sinkstream ppl: streaming perplexity of a text under a cache policy.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/stream.h"

namespace ss::cli {
namespace {

struct PplOptions {
  ModelOptions m;
  PolicyOptions p;
  std::string text_file, ids_file, csv, json;
  int64_t max_tokens = 0;
  bool no_bos = false;
  bool progress = true;
};

void run(const PplOptions& o) {
  check(o.text_file.empty() != o.ids_file.empty(), "give exactly one of --text or --ids");
  o.m.apply_threads();
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  std::vector<int> ids;
  if (!o.text_file.empty()) {
    const std::string text = read_file(o.text_file);
    check(!text.empty(), o.text_file, ": empty input text");
    auto tok = o.m.load_tokenizer(c);
    check_utf8(text, o.text_file);
    ids = tok->encode(text, !o.no_bos);
  } else {
    ids = parse_ids(read_file(o.ids_file), o.ids_file, c.vocab_size);
    if (!o.no_bos && (ids.empty() || ids[0] != c.bos_id)) ids.insert(ids.begin(), c.bos_id);
  }
  if (o.max_tokens > 0 && int64_t(ids.size()) > o.max_tokens) ids.resize(o.max_tokens);
  check(ids.size() >= 2, "need at least 2 tokens to score, got ", ids.size());

  auto be = make_cpu_backend();
  Stream stream(model, *be, o.p.make(c, int64_t(ids.size())));
  std::unique_ptr<std::ofstream> csv;
  if (!o.csv.empty()) {
    csv = std::make_unique<std::ofstream>(o.csv);
    check(bool(*csv), "cannot write ", o.csv);
    *csv << "index,token,nll\n";
  }
  const int chunk = 256, V = c.vocab_size;
  std::vector<float> logits(size_t(chunk) * V);
  std::vector<double> nll(chunk);
  const int64_t n_pred = int64_t(ids.size()) - 1;
  double total = 0;
  Progress bar(n_pred, "tok", o.progress);
  for (int64_t i = 0; i < n_pred; i += chunk) {
    const int T = int(std::min<int64_t>(chunk, n_pred - i));
    stream.feed(ids.data() + i, T, logits.data(), true);
#pragma omp parallel for schedule(static)
    for (int j = 0; j < T; ++j)
      nll[size_t(j)] = token_nll(logits.data() + size_t(j) * V, V, ids[i + j + 1]);
    for (int j = 0; j < T; ++j) {  // summed in order: the same total on any thread count
      total += nll[size_t(j)];
      if (csv) *csv << i + j + 1 << ',' << ids[i + j + 1] << ',' << nll[size_t(j)] << '\n';
    }
    bar.update(i + T);
  }
  bar.finish();
  const double secs = bar.elapsed();
  nlohmann::json j = {
      {"model", o.m.model},
      {"policy", stream.policy().name()},
      {"sinks", stream.policy().sinks},
      {"window", stream.policy().window},
      {"tokens", n_pred},
      {"nll", total / n_pred},
      {"ppl", std::exp(total / n_pred)},
      {"seconds", secs},
      {"tokens_per_s", n_pred / std::max(secs, 1e-9)},
      {"cache_bytes", stream.cache().bytes()},
      {"cache_bytes_local_layers", local_cache_bytes(stream.model().config(), stream.cache())},
      {"peak_rss_bytes", peak_rss_bytes()}};
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    check(bool(f), "cannot write ", o.json);
    f << j.dump(2) << '\n';
  }
  if (csv) {
    csv->flush();
    check(bool(*csv), "cannot write ", o.csv);
  }
  std::printf("%s\n", j.dump(2).c_str());
}

}  // namespace

void add_ppl(CLI::App& app) {
  auto o = std::make_shared<PplOptions>();
  CLI::App* cmd = app.add_subcommand("ppl", "Streaming perplexity of a text or token-id file");
  o->m.add(cmd);
  o->p.add(cmd);
  cmd->add_option("--text", o->text_file, "UTF-8 text file to score");
  cmd->add_option("--ids", o->ids_file, "File of whitespace-separated token ids to score");
  cmd->add_option("-n,--max-tokens", o->max_tokens, "Score at most this many tokens; 0: all")
      ->check(at_least(0));
  cmd->add_option("--csv", o->csv, "Write per-token NLL to this CSV file");
  cmd->add_option("--json", o->json, "Write the summary JSON to this file too");
  cmd->add_flag("--no-bos", o->no_bos, "Do not put BOS first");
  cmd->add_flag("!--no-progress", o->progress, "Hide the progress bar");
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
