// sinkstream generate: stream tokens from a model through a cache policy.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/progress.h"
#include "model/sampler.h"
#include "model/stream.h"
#include "serve/chat_template.h"

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
  bool chat = false;
  std::string system;
  bool system_given = false;
  std::string chat_template = "auto";
};

// Length of the longest suffix of text that starts one of stops.
size_t held_back(const std::string& text, const std::vector<std::string>& stops) {
  size_t keep = 0;
  for (const std::string& s : stops) {
    for (size_t n = std::min(s.size() - 1, text.size()); n > keep; --n) {
      if (text.compare(text.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

void run(const GenerateOptions& o) {
  o.m.apply_threads();
  o.s.validate();
  check(o.max_tokens == -1 || o.max_tokens >= 1, "--max-tokens must be -1 (endless) or >= 1, got ",
        o.max_tokens);
  std::string prompt = o.prompt;
  if (!o.prompt_given && !isatty(STDIN_FILENO))
    prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  auto tok = o.m.load_tokenizer(c);
  check(o.chat || (!o.system_given && o.chat_template == "auto"),
        "--system and --chat-template need --chat");
  std::vector<int> ids;
  std::vector<std::string> stops;
  if (o.chat) {
    // The prompt is the user's message; the reply follows the template's
    // generation prompt.
    const ChatTemplate tmpl = ChatTemplate::for_model(o.m.model, o.chat_template);
    std::vector<ChatMessage> msgs;
    if (o.system_given) msgs.push_back({"system", o.system});
    msgs.push_back({"user", prompt});
    check_utf8(prompt, "the prompt");
    check_utf8(o.system, "--system");
    ids = tmpl.render(msgs, !o.no_bos, *tok);
    stops = tmpl.stops();
  } else {
    ids = tok->encode(prompt, !o.no_bos);
  }
  check(!ids.empty(),
        "empty prompt and no BOS token (--no-bos, or the tokenizer has none): nothing to condition "
        "on");
  const int64_t needed = o.max_tokens < 0 ? 0 : int64_t(ids.size()) + o.max_tokens;
  auto be = make_cpu_backend();
  Stream stream(model, *be, o.p.make(c, needed));
  Sampler sampler(o.s);
  std::vector<float> logits(c.vocab_size);

  if (!o.chat) std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  stream.feed(ids.data(), int(ids.size()), logits.data(), false);
  const auto t1 = std::chrono::steady_clock::now();
  int prev = ids.back();
  int64_t n = 0;
  std::string pending;  // generated text not written yet
  for (; o.max_tokens < 0 || n < o.max_tokens; ++n) {
    const int next = sampler.sample(logits.data(), c.vocab_size);
    if (!o.ignore_eos && (next == tok->eos_id() || next == tok->bos_id() || tok->is_eog(next)))
      break;
    pending += tok->decode(prev, next);
    if (!stops.empty()) {
      // Text up to a stop string; the tail that may begin one waits.
      size_t stop = std::string::npos;
      for (const std::string& s : stops) stop = std::min(stop, pending.find(s));
      if (stop != std::string::npos) {
        pending.resize(stop);
        std::fwrite(pending.data(), 1, pending.size(), stdout);
        pending.clear();
        ++n;
        break;
      }
    }
    const size_t keep = held_back(pending, stops);
    std::fwrite(pending.data(), 1, pending.size() - keep, stdout);
    pending.erase(0, pending.size() - keep);
    std::fflush(stdout);
    stream.feed(&next, 1, logits.data(), false);
    prev = next;
  }
  std::fwrite(pending.data(), 1, pending.size(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
  const auto t2 = std::chrono::steady_clock::now();
  const double pre = std::chrono::duration<double>(t1 - t0).count();
  const double dec = std::chrono::duration<double>(t2 - t1).count();
  const size_t local = local_cache_bytes(stream.model().config(), stream.cache());
  const std::string local_kib =
      local ? " (local layers " + std::to_string(local / 1024) + " KiB)" : std::string();
  std::fprintf(stderr,
               "[%s] prompt %zu tok (%.1f tok/s), generated %lld tok (%.1f tok/s), cache %.1f "
               "KiB%s, peak RSS %.1f MiB\n",
               stream.policy().describe().c_str(), ids.size(), ids.size() / std::max(pre, 1e-9),
               (long long)n, n / std::max(dec, 1e-9), stream.cache().bytes() / 1024.0,
               local_kib.c_str(), peak_rss_bytes() / 1048576.0);
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
  cmd->add_option("-s,--seed", o->s.seed, "Random seed")->capture_default_str()->check(at_least(0));
  cmd->add_flag("--no-bos", o->no_bos, "Do not start with the BOS token");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep going past EOS/BOS and end-of-turn tokens");
  cmd->add_flag("--chat", o->chat,
                "Chat mode: the prompt is a user message in the model's chat template; only the "
                "reply is printed");
  cmd->add_option("--system", o->system, "Chat mode: a system message before the prompt")
      ->each([o](const std::string&) { o->system_given = true; });
  cmd->add_option("--chat-template", o->chat_template,
                  "Chat mode: auto (the model's template, else plain), plain, llama2, zephyr, "
                  "chatml or gemma")
      ->capture_default_str();
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
