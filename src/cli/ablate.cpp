// sinkstream ablate: StreamingLLM's first-token ablation (Table 1). The same
// targets are scored with the original first tokens as sinks, with them
// replaced by a filler token, and with a window-only cache of the same size.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/ablation.h"
#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"

namespace ss::cli {
namespace {

struct AblateOptions {
  ModelOptions m;
  std::string text_file;
  int64_t max_tokens = 4000;
  int sinks = 4;
  int window = -1;  // not given: half the training context minus the sinks
  std::string filler = "\n";
  int filler_id = -1;  // not given: the token of --filler
  bool filler_given = false;
  bool no_bos = false;
  std::string json, csv_dir;
};

// The one token that encodes text, after the dummy-prefix space a
// SentencePiece-style tokenizer puts first.
int single_token(const Tokenizer& tok, const std::string& text) {
  std::vector<int> ids = tok.encode(text, false);
  if (ids.size() > 1 && text[0] != ' ' && tok.decode(-1, ids[0]) == " ") ids.erase(ids.begin());
  check(ids.size() == 1, "--filler is ", ids.size(), " tokens; give one token or --filler-id");
  return ids[0];
}

void run(const AblateOptions& o) {
  check(!o.text_file.empty(), "--text FILE is required");
  check(!o.filler_given || o.filler_id < 0, "give --filler or --filler-id, not both");
  check(!o.filler.empty() || o.filler_id >= 0, "--filler must not be empty");
  o.m.apply_threads();
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  auto tok = o.m.load_tokenizer(c);
  const std::string text = read_file(o.text_file);
  check_utf8(text, o.text_file);
  std::vector<int> ids = tok->encode(text, !o.no_bos);
  if (int64_t(ids.size()) > o.max_tokens) ids.resize(o.max_tokens);
  // By default S sinks + W past + the current token fill half the training context.
  const int window = o.window >= 0 ? o.window : std::max(0, c.max_seq_len / 2 - o.sinks - 1);
  const int filler = o.filler_id >= 0 ? o.filler_id : single_token(*tok, o.filler);
  const std::string name =
      o.filler_id >= 0 ? "id " + std::to_string(filler) : nlohmann::json(o.filler).dump();
  auto be = make_cpu_backend();
  const auto runs = first_token_ablation(model, *be, ids, o.sinks, window, filler, name);

  std::printf(
      "first-token ablation (StreamingLLM Table 1): %s, %zu tokens%s, scored on tokens %d..%zu\n",
      o.m.model.c_str(), ids.size(), o.no_bos ? "" : " (BOS first)", o.sinks + 1, ids.size());
  std::printf("%-28s %-18s %10s\n", "setting", "cache", "ppl");
  nlohmann::json j = {{"model", o.m.model},   {"text", o.text_file},
                      {"tokens", ids.size()}, {"bos", !o.no_bos},
                      {"filler_id", filler},  {"runs", nlohmann::json::array()}};
  if (!o.csv_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.csv_dir, ec);
    check(!ec, "cannot create ", o.csv_dir, ": ", ec.message());
  }
  const char* files[] = {"sinks.csv", "filler.csv", "window.csv"};
  for (size_t r = 0; r < runs.size(); ++r) {
    std::printf("%-28s %-18s %10.4f\n", runs[r].setting.c_str(), runs[r].policy.describe().c_str(),
                runs[r].ppl());
    j["runs"].push_back({{"setting", runs[r].setting},
                         {"policy", runs[r].policy.describe()},
                         {"ppl", runs[r].ppl()}});
    if (o.csv_dir.empty()) continue;
    const std::string path = o.csv_dir + "/" + files[r];
    std::ofstream f(path);
    f << "index,token,nll\n";
    for (size_t i = 0; i < runs[r].nll.size(); ++i) {
      const size_t at = o.sinks + i;
      f << at << ',' << ids[at] << ',' << runs[r].nll[i] << '\n';
    }
    f.flush();
    check(bool(f), "cannot write ", path);
  }
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    f << j.dump(2) << '\n';
    f.flush();
    check(bool(f), "cannot write ", o.json);
  }
}

}  // namespace

void add_ablate(CLI::App& app) {
  auto o = std::make_shared<AblateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "ablate",
      "First-token ablation (StreamingLLM Table 1): perplexity with the original first tokens as "
      "sinks, with them replaced by a filler token, and with a window-only cache");
  o->m.add(cmd);
  cmd->add_option("model", o->m.model, "Model path (same as -m)");
  cmd->add_option("--text", o->text_file, "UTF-8 text file to stream");
  cmd->add_option("-n,--max-tokens", o->max_tokens, "Stream this many tokens of the text")
      ->capture_default_str()
      ->check(at_least(2));
  cmd->add_option("--sinks", o->sinks, "Sink tokens S")->capture_default_str()->check(at_least(1));
  cmd->add_option("--window", o->window,
                  "Window W of past tokens: each token attends S + W + 1 (default: S + W + 1 "
                  "fill half the training context); window-only uses a window of S + W")
      ->check(at_least(0));
  cmd->add_option("--filler", o->filler,
                  "Text of the one token that replaces the first S (default: a newline)")
      ->each([o](const std::string&) { o->filler_given = true; });
  cmd->add_option("--filler-id", o->filler_id, "Token id that replaces the first S")
      ->check(at_least(0));
  cmd->add_flag("--no-bos", o->no_bos, "Do not put BOS first");
  cmd->add_option("--json", o->json, "Write the results as JSON");
  cmd->add_option("--csv-dir", o->csv_dir,
                  "Write per-token NLL of each run (sinks.csv, filler.csv, window.csv) for `plot`");
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
