// An OpenAI-compatible HTTP server over sink-cache sessions (cpp-httplib).
//
//   POST /v1/completions, /v1/chat/completions   (stream: true -> server-sent events)
//   GET  /v1/models, /health, /metrics (Prometheus), / (the web page)
//   GET  /v1/sessions, /v1/sessions/{id}; DELETE /v1/sessions/{id}
//
// A request names its session with "session_id" (or the X-Session-Id header);
// the session keeps its sink + window cache between requests, so a round
// costs work in proportion to its new tokens. Without one, a request runs on
// a throwaway session. Errors are 4xx/5xx with OpenAI's {"error": {...}} body.
#pragma once
#include <memory>
#include <string>

#include "cache/policy.h"
#include "model/model.h"
#include "serve/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ss::serve {

struct ServerConfig {
  std::string model_id = "sinkstream";  // the name /v1/models lists
  CachePolicy policy;                   // sessions' default (sinks or window)
  int max_cache_tokens = 8192;          // largest S+W a request may ask for
  int max_sessions = 64;                // then idle ones are evicted, LRU
  size_t max_body_bytes = 1 << 20;
  int default_max_tokens = 128;
  int max_tokens_limit = 4096;
  int http_threads = 32;  // connections served at once
  // OpenMP threads for one request's kernels. 1: concurrency comes from
  // sessions; more only pays on an idle machine with few users.
  int request_threads = 1;
  int read_timeout_s = 30;  // receiving a request
  int write_timeout_s = 30;
  double request_timeout_s = 600;  // a reply running longer ends ("length")
};

class Server {
 public:
  Server(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tok,
         ChatTemplate tmpl, ServerConfig cfg);
  ~Server();

  // Binds host:port (0: any free port) and returns the port; ss::Error when
  // it cannot.
  int bind(const std::string& host, int port);
  // Serves until stop(); call after bind(), e.g. on a thread of its own.
  void run();
  // Ends running replies, stops accepting and makes run() return. Any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ss::serve
