// sinkstream generate: stream tokens from a model through a cache policy.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/common.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/sampler.h"
#include "model/stream.h"

namespace ss::cli {
namespace {

struct GenerateOptions {
  ModelOptions m;
  PolicyOptions p;
  SamplerConfig s;
  std::string prompt;
  bool prompt_given = false;
  int64_t max_tokens = 256;
  bool no_bos = false;
  bool ignore_eos = false;
};

void run(const GenerateOptions& o) {
  o.m.apply_threads();
  o.s.validate();
  check(o.max_tokens >= -1, "--max-tokens must be -1 (endless) or >= 0, got ", o.max_tokens);
  std::string prompt = o.prompt;
  if (!o.prompt_given && !isatty(STDIN_FILENO))
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  auto tok = o.m.load_tokenizer(c);
  std::vector<int> ids = tok->encode(prompt, !o.no_bos);
  check(!ids.empty(),
        "empty prompt and no BOS token (--no-bos, or the tokenizer has none): nothing to condition "
        "on");
  const int64_t needed = o.max_tokens < 0 ? 0 : int64_t(ids.size()) + o.max_tokens;
  auto be = make_cpu_backend();
  Stream stream(model, *be, o.p.make(c, needed));
  Sampler sampler(o.s);
  std::vector<float> logits(c.vocab_size);

  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  stream.feed(ids.data(), int(ids.size()), logits.data(), false);
  const auto t1 = std::chrono::steady_clock::now();
  int prev = ids.back();
  int64_t n = 0;
  for (; o.max_tokens < 0 || n < o.max_tokens; ++n) {
    const int next = sampler.sample(logits.data(), c.vocab_size);
    if (!o.ignore_eos && (next == tok->eos_id() || next == tok->bos_id())) break;
    const std::string piece = tok->decode(prev, next);
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    stream.feed(&next, 1, logits.data(), false);
    prev = next;
  }
  std::fputs("\n", stdout);
  std::fflush(stdout);
  const auto t2 = std::chrono::steady_clock::now();
  const double pre = std::chrono::duration<double>(t1 - t0).count();
  const double dec = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr,
               "[%s] prompt %zu tok (%.1f tok/s), generated %lld tok (%.1f tok/s), cache %.1f "
               "KiB, peak RSS %.1f MiB\n",
               stream.policy().describe().c_str(), ids.size(), ids.size() / std::max(pre, 1e-9),
               (long long)n, n / std::max(dec, 1e-9), stream.cache().bytes() / 1024.0,
               peak_rss_bytes() / 1048576.0);
}

}  // namespace

void add_generate(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text, streaming tokens to stdout");
  o->m.add(cmd);
  o->p.add(cmd);
  cmd->add_option("-p,--prompt", o->prompt, "Prompt text (default: read stdin when piped)")
      ->each([o](const std::string&) { o->prompt_given = true; });
  cmd->add_option("-n,--max-tokens", o->max_tokens, "Tokens to generate; -1: endless")
      ->capture_default_str();
  cmd->add_option("--temperature,--temp", o->s.temperature, "Sampling temperature; 0: greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", o->s.top_k, "Keep the k most likely tokens; 0: off")
      ->capture_default_str();
  cmd->add_option("--top-p", o->s.top_p, "Nucleus sampling mass; 1: off")->capture_default_str();
  cmd->add_option("-s,--seed", o->s.seed, "Random seed")->capture_default_str();
  cmd->add_flag("--no-bos", o->no_bos, "Do not start with the BOS token");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep going past EOS/BOS");
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
