#include "cli/common.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/options.h"
#include "core/error.h"

namespace ss::cli {

namespace {

// The model a command runs without -m: $SINKSTREAM_MODEL, else the bundled
// stories260K, which the build tree keeps in share/sinkstream/stories260K/
// beside the binary and an install in PREFIX/share/... for PREFIX/bin/.
std::string default_model() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("SINKSTREAM_MODEL"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const fs::path bin = fs::read_symlink("/proc/self/exe", ec).parent_path();
  check(!ec, "no model: pass -m MODEL or set SINKSTREAM_MODEL (/proc/self/exe: ", ec.message(),
        ")");
  std::string looked;
  for (const fs::path& prefix : {bin, bin.parent_path()}) {
    const fs::path p = prefix / "share/sinkstream/stories260K/stories260K.bin";
    if (fs::is_regular_file(p, ec)) return p.string();
    looked += (looked.empty() ? "" : " or ") + p.string();
  }
  fail("no model: pass -m MODEL or set SINKSTREAM_MODEL (the bundled stories260K is not at ",
       looked, ")");
}

}  // namespace

void ModelOptions::add(CLI::App* app, bool with_threads) {
  CLI::Option* m = app->add_option(
      "-m,--model", model,
      "Model: a llama2.c .bin file or a Hugging Face directory (config.json + safetensors); "
      "default: $SINKSTREAM_MODEL, else the bundled stories260K");
  // Looked up once parsing is done, so that a run given a model never needs the default.
  app->parse_complete_callback([this, m] {
    if (m->count() == 0 && model.empty()) model = default_model();
  });
  app->add_option("--tokenizer", tokenizer,
                  "Tokenizer file (tokenizer.model or llama2.c tokenizer.bin); default: the one "
                  "beside the model");
  if (with_threads) add_threads(app, threads, "Threads (default: all cores)");
}

void ModelOptions::apply_threads() const {
  const int n = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

std::unique_ptr<Tokenizer> ModelOptions::load_tokenizer(const ModelConfig& c) const {
  auto tok = tokenizer.empty() ? find_tokenizer(model) : ss::load_tokenizer(tokenizer);
  check(tok->vocab_size() <= c.vocab_size, "tokenizer has ", tok->vocab_size(),
        " tokens but the model only ", c.vocab_size);
  return tok;
}

void PolicyOptions::add(CLI::App* app) {
  app->add_option("--policy", policy, "KV cache policy: dense, window, sinks or recompute")
      ->capture_default_str();
  sinks_opt_ = app->add_option("--sinks", sinks, "Sink tokens S kept at the start (policy sinks)")
                   ->capture_default_str()
                   ->check(at_least(0));
  window_opt_ =
      app->add_option(
             "--window", window,
             "Window W: past tokens each token attends besides the sinks and itself, as "
             "StreamingLLM's recent_size (sinks: S + W + 1 attended; window: W + 1; "
             "recompute re-encodes W + 1; default: S + W + 1 fill the training context, or "
             "the whole stream if it is shorter)")
          ->check(at_least(0));
  ctx_opt_ =
      app->add_option("--ctx", ctx,
                      "Capacity of a dense cache (policy dense; default: what the run needs)")
          ->check(at_least(1));
}

CachePolicy PolicyOptions::make(const ModelConfig& c, int64_t needed, int max_tokens) const {
  // The name as cache/policy.cpp parses it (a one-line error listing the policies).
  const PolicyKind kind = CachePolicy::make(policy, 0, 1).kind;
  check(!given(sinks_opt_) || kind == PolicyKind::Sinks,
        "--sinks applies to --policy sinks only, not ", policy);
  check(!given(window_opt_) || kind != PolicyKind::Dense,
        "--window does not apply to --policy dense (its capacity is --ctx)");
  check(!given(ctx_opt_) || kind == PolicyKind::Dense, "--ctx applies to --policy dense only, not ",
        policy, " (which holds S + W + 1 tokens)");
  const int s = kind == PolicyKind::Sinks ? sinks : 0;
  // By default S sinks + W past + the current token fill the training context,
  // or the whole stream when it is known to be shorter (a larger ring would
  // evict nothing more, only hold memory: Gemma 3's context is 32768).
  int64_t fill = std::min(c.max_seq_len, max_tokens);
  if (needed > 0) fill = std::min(fill, needed + lead_tokens(c));
  int w = window >= 0 ? window : int(std::max<int64_t>(0, fill - s - 1));
  if (kind == PolicyKind::Dense) {
    check(ctx > 0 || needed > 0, "policy dense needs --ctx N (the stream has no known length)");
    check(needed <= CachePolicy::kMaxTokens || ctx > 0, "policy dense: ", needed,
          " tokens is over the limit of ", CachePolicy::kMaxTokens);
    w = ctx > 0 ? ctx : int(needed) + lead_tokens(c);
  }
  return CachePolicy::make(policy, sinks, w);
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec), "cannot read ", path,
        ": it is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  check(bool(f), "cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream os;
  os << f.rdbuf();
  check(!f.bad(), "cannot read ", path);
  return os.str();
}

std::vector<int> parse_ids(const std::string& text, const std::string& what, int vocab_size) {
  std::vector<int> ids;
  const char* p = text.c_str();
  while (true) {
    while (*p && std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (!*p) break;
    char* end;
    errno = 0;
    long v = std::strtol(p, &end, 10);
    check(end != p && errno == 0 && (!*end || std::isspace(static_cast<unsigned char>(*end))), what,
          ": not a token id at byte ", p - text.c_str());
    check(v >= 0 && v < vocab_size, what, ": token id ", v, " is outside the vocabulary (",
          vocab_size, ")");
    ids.push_back(int(v));
    p = end;
  }
  return ids;
}

}  // namespace ss::cli
