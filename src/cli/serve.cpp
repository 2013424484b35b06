// sinkstream serve: the OpenAI-compatible HTTP server over sink-cache sessions.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "cli/options.h"
#include "core/error.h"
#include "serve/server.h"

namespace ss::cli {
namespace {

struct ServeOptions {
  ModelOptions m;
  PolicyOptions p;
  serve::ServerConfig s;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string chat_template = "auto";
  std::string model_name;  // empty: the model's file or directory name
};

void run(ServeOptions& o) {
  check(o.p.policy == "sinks" || o.p.policy == "window",
        "serve: --policy must be sinks or window (a session's memory must stay constant), got '",
        o.p.policy, "'");
  check(o.s.default_max_tokens <= o.s.max_tokens_limit, "--max-tokens (", o.s.default_max_tokens,
        ") is over --max-tokens-limit (", o.s.max_tokens_limit, ")");
  o.m.apply_threads();
  o.s.request_threads = std::max(1, o.m.threads);
  auto model = Model::load(o.m.model);
  const ModelConfig& c = model->config();
  std::shared_ptr<const Tokenizer> tok = o.m.load_tokenizer(c);
  o.s.policy = o.p.make(c, 0, o.s.max_cache_tokens);
  const ChatTemplate tmpl = ChatTemplate::for_model(o.m.model, o.chat_template);
  check(o.s.policy.capacity() <= o.s.max_cache_tokens, "cache S+W+1 = ", o.s.policy.capacity(),
        " is over --max-cache ", o.s.max_cache_tokens);
  o.s.model_id = !o.model_name.empty()
                     ? o.model_name
                     : std::filesystem::path(o.m.model).filename().replace_extension().string();

  // SIGINT/SIGTERM go to one waiting thread (blocked everywhere else) that stops the server.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  serve::Server server(model, tok, tmpl, o.s);
  const int port = server.bind(o.host, o.port);
  std::fprintf(stderr,
               "sinkstream: serving %s at http://%s:%d/ (%s per session, chat template %s, up to "
               "%d sessions); Ctrl-C stops\n",
               o.s.model_id.c_str(), o.host.c_str(), port, o.s.policy.describe().c_str(),
               tmpl.name().c_str(), o.s.max_sessions);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "sinkstream: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
  });
  server.run();
  waiter.join();
  std::fprintf(stderr, "sinkstream: stopped\n");
}

}  // namespace

void add_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve an OpenAI-compatible HTTP API and a web page");
  o->m.add(cmd);
  cmd->get_option("--threads")
      ->description(
          "Kernel threads per request (default 1: concurrency comes from sessions; more only "
          "pays on an idle machine serving one user)");
  cmd->add_option("MODEL", o->m.model, "Model (same as --model)");
  o->p.add(cmd);
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "Port; 0: any free one")
      ->capture_default_str()
      ->check(int_range(0, 65535));
  cmd->add_option("--model-name", o->model_name, "Model id in the API (default: the file name)");
  cmd->add_option(
         "--chat-template", o->chat_template,
         "auto (the model's chat_template, else plain), plain, llama2, zephyr, chatml or gemma")
      ->capture_default_str();
  cmd->add_option("--max-sessions", o->s.max_sessions,
                  "Sessions kept; beyond, the least recently used idle one is evicted")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--max-cache", o->s.max_cache_tokens, "Largest S+W a request may ask for")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--max-body", o->s.max_body_bytes, "Largest request body in bytes")
      ->capture_default_str()
      ->check(at_least(1024));
  cmd->add_option("-n,--max-tokens", o->s.default_max_tokens,
                  "Tokens per reply when a request does not say")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--max-tokens-limit", o->s.max_tokens_limit, "Most tokens a request may ask for")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--http-threads", o->s.http_threads, "Connections served at once")
      ->capture_default_str()
      ->check(at_least(2));
  cmd->add_option("--timeout", o->s.request_timeout_s,
                  "Seconds a reply may run before it is cut (finish_reason length)")
      ->capture_default_str()
      ->check(positive());
  cmd->add_option("--read-timeout", o->s.read_timeout_s, "Seconds to receive a request")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->callback([o] { run(*o); });
}

}  // namespace ss::cli
