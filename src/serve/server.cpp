#include "serve/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/progress.h"
#include "serve/metrics.h"
#include "serve/page.h"
#include "serve/request.h"
#include "serve/session.h"

namespace ss::serve {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kListenBacklog = 1024;  // connections the kernel completes before one is accepted

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_body(int status, const std::string& message, const std::string& param,
                const std::string& code) {
  const char* type = status >= 500 ? "server_error" : "invalid_request_error";
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json() : json(param)},
            {"code", code.empty() ? json() : json(code)}}}};
}

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& param = "", const std::string& code = "") {
  res.status = status;
  res.set_content(dump(error_body(status, message, param, code)), "application/json");
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

// One request's reply, shared between the handler and the SSE provider.
struct Job {
  explicit Job(Claim c) : session(std::move(c)) {}
  Claim session;
  bool chat = false, include_usage = false;
  std::vector<int> prompt;
  GenerateParams gen;
  std::string id, session_id;  // session_id: empty for a throwaway session
  int64_t created = 0;
};

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<const Model> m, std::shared_ptr<const Tokenizer> t, ChatTemplate ct,
       ServerConfig c)
      : model(std::move(m)),
        tok(std::move(t)),
        tmpl(ct),
        cfg(std::move(c)),
        store(cfg.max_sessions),
        created(std::time(nullptr)) {
    routes();
  }

  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tok;
  ChatTemplate tmpl;
  ServerConfig cfg;
  SessionStore store;
  Metrics metrics;
  httplib::Server http;
  socket_t listen_fd = INVALID_SOCKET;  // the socket http binds (its options callback sees it)
  const int64_t created;
  std::atomic<bool> stopping{false};
  std::atomic<int> active{0};
  std::atomic<int64_t> next_id{0};

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  // Wraps a route: errors become OpenAI error bodies; every reply is counted.
  Handler route(const std::string& name, Handler h) {
    return [this, name, h](const httplib::Request& req, httplib::Response& res) {
      try {
        h(req, res);
      } catch (const ApiError& e) {
        send_error(res, e.status, e.what(), e.param, e.code);
      } catch (const std::exception& e) {
        // Requests are checked before they run (an ApiError then), so any
        // other failure, ss::Error included, is the server's own.
        send_error(res, 500, std::string("internal error: ") + e.what());
      } catch (...) {
        send_error(res, 500, "internal error");
      }
      metrics.request(name, res.status < 0 ? 200 : res.status);  // -1: httplib's default
    };
  }

  void routes() {
    http.new_task_queue = [n = cfg.http_threads] { return new httplib::ThreadPool(n); };
    http.set_payload_max_length(cfg.max_body_bytes);
    http.set_read_timeout(cfg.read_timeout_s, 0);
    http.set_write_timeout(cfg.write_timeout_s, 0);
    http.set_keep_alive_timeout(5);
    http.set_keep_alive_max_count(1000);  // API clients send many requests per connection
    // httplib's default adds SO_REUSEPORT, which lets a second server share a busy port.
    http.set_socket_options([this](socket_t sock) {
      listen_fd = sock;
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // httplib's own refusals (no route, body too large, bad request line)
    // arrive here with an empty body.
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request&,
                                                                       httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const std::string msg = res.status == 413 ? "request body is over the limit of " +
                                                      std::to_string(cfg.max_body_bytes) + " bytes"
                              : res.status == 404 ? "no such route"
                                                  : "could not read the request (malformed or "
                                                    "timed out)";
      send_error(res, res.status, msg);
      metrics.request("other", res.status);
      return httplib::Server::HandlerResponse::Handled;
    }));

    http.Get("/", route("page", [](const httplib::Request&, httplib::Response& res) {
               res.set_content(std::string(page_html()), "text/html; charset=utf-8");
             }));
    http.Get("/health", route("health", [](const httplib::Request&, httplib::Response& res) {
               res.set_content(R"({"status":"ok"})", "application/json");
             }));
    http.Get("/v1/models", route("models", [this](const httplib::Request&, httplib::Response& res) {
               res.set_content(dump({{"object", "list"}, {"data", json::array({model_json()})}}),
                               "application/json");
             }));
    http.Get(R"(/v1/models/([^/]+))",
             route("models", [this](const httplib::Request& req, httplib::Response& res) {
               check_model(req.matches[1]);
               res.set_content(dump(model_json()), "application/json");
             }));
    http.Get("/metrics", route("metrics", [this](const httplib::Request&, httplib::Response& res) {
               res.set_content(metrics.render(gauges()), "text/plain; version=0.0.4");
             }));
    http.Get("/v1/sessions",
             route("sessions", [this](const httplib::Request&, httplib::Response& res) {
               json data = json::array();
               for (const auto& s : store.all()) {
                 json d = s->describe(*tok);
                 d.erase("slots");
                 data.push_back(std::move(d));
               }
               res.set_content(dump({{"object", "list"}, {"data", data}}), "application/json");
             }));
    http.Get(R"(/v1/sessions/([^/]+))",
             route("sessions", [this](const httplib::Request& req, httplib::Response& res) {
               const std::string id = req.matches[1];
               auto s = store.find(id);
               if (!s)
                 throw ApiError(404, "no session '" + id + "' on this server", "session_id",
                                "session_not_found");
               res.set_content(dump(s->describe(*tok)), "application/json");
             }));
    http.Delete(R"(/v1/sessions/([^/]+))",
                route("sessions", [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string id = req.matches[1];
                  store.erase(id);
                  res.set_content(
                      dump({{"id", id}, {"object", "session.deleted"}, {"deleted", true}}),
                      "application/json");
                }));
    http.Post("/v1/completions",
              route("completions", [this](const httplib::Request& req, httplib::Response& res) {
                complete(req, res, false);
              }));
    http.Post("/v1/chat/completions", route("chat_completions", [this](const httplib::Request& req,
                                                                       httplib::Response& res) {
                complete(req, res, true);
              }));
  }

  json model_json() const {
    return {{"id", cfg.model_id},
            {"object", "model"},
            {"created", created},
            {"owned_by", "sinkstream"}};
  }

  void check_model(const std::string& name) const {
    if (name != cfg.model_id)
      throw ApiError(404,
                     "model '" + name + "' does not exist (this server has '" + cfg.model_id + "')",
                     "model", "model_not_found");
  }

  Gauges gauges() const {
    Gauges g;
    for (const auto& s : store.all()) {
      const CacheStats c = s->stats();
      ++g.sessions;
      g.busy_sessions += s->busy();
      g.cache_slots_used += c.kept;
      g.cache_slots_capacity += c.capacity;
      g.cache_tokens_evicted += c.evicted;
      g.cache_bytes += int64_t(c.bytes);
    }
    g.max_sessions = store.max_sessions();
    g.sessions_evicted = store.evicted();
    g.active_requests = active;
    g.rss_bytes = current_rss_bytes();
    return g;
  }

  // The generation parameters the server adds to a request's own.
  void finish_params(GenerationRequest& r) {
    GenerateParams& g = r.gen;
    g.sampling.top_k = std::min(g.sampling.top_k, model->config().vocab_size);
    g.sampling.seed = r.seed
                          ? *r.seed
                          : uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) ^
                                uint64_t(next_id++) * 0x9e3779b97f4a7c15ull;
    if (r.chat)
      for (const std::string& s : tmpl.stops()) g.stop.push_back(s);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(cfg.request_timeout_s));
    g.keep_going = [this, deadline] { return !stopping && Clock::now() < deadline; };
    g.kernel_threads = cfg.request_threads;
    g.on_token = [this] { metrics.token(); };
  }

  // The prompt's token ids for session s: a chat round, or the completion's
  // text or ids (BOS first when the session is new).
  std::vector<int> prompt_tokens(const GenerationRequest& r, Session& s) const {
    std::vector<int> ids;
    if (r.chat) {
      ids = s.chat_round(r.messages, tmpl, *tok);
    } else if (r.prompt_text) {
      ids = tok->encode(*r.prompt_text, s.n_seen() == 0);
    } else {
      if (s.n_seen() == 0 && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
      ids.insert(ids.end(), r.prompt_ids.begin(), r.prompt_ids.end());
    }
    if (ids.empty()) throw ApiError(400, "'prompt' is empty", "prompt", "invalid_value");
    return ids;
  }

  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    GenerationRequest r = parse_generation_request(
        req.body, chat, req.get_header_value("X-Session-Id"), cfg, tok->vocab_size());
    finish_params(r);
    const std::string& sid = r.session_id;
    const Session::Mode mode = chat ? Session::Mode::Chat : Session::Mode::Completion;
    auto make = [&] { return std::make_shared<Session>(sid, mode, model, r.policy); };
    // A chat that brings history to an unknown session cannot be continued.
    const bool history = std::any_of(r.messages.begin(), r.messages.end(),
                                     [](const ChatMessage& m) { return m.role == "assistant"; });
    auto claim = [&] {
      if (!sid.empty()) return store.claim(sid, !history, make);
      auto s = make();  // a throwaway session
      s->try_claim();
      return Claim(std::move(s));
    };
    auto job = std::make_shared<Job>(claim());
    Session& s = *job->session;
    if (s.mode() != mode)
      throw ApiError(400,
                     "'session_id' names a " + std::string(chat ? "completion" : "chat") +
                         " session; use a new id for " + (chat ? "chat" : "completions"),
                     "session_id", "invalid_value");
    if (!r.policy_param.empty() && s.policy().describe() != r.policy.describe())
      throw ApiError(400,
                     "'" + r.policy_param + "' cannot change: session '" + sid + "' uses " +
                         s.policy().describe(),
                     r.policy_param, "invalid_value");
    // Tokenising the client's text: an ss::Error there is the client's (400).
    try {
      job->prompt = prompt_tokens(r, s);
    } catch (const ApiError&) {
      throw;
    } catch (const Error& e) {
      throw ApiError(400, e.what(), chat ? "messages" : "prompt", "invalid_value");
    }
    job->chat = chat;
    job->include_usage = r.include_usage;
    job->session_id = sid;
    job->gen = std::move(r.gen);
    job->id =
        (chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" + std::to_string(next_id++);
    job->created = std::time(nullptr);
    if (!sid.empty()) res.set_header("X-Session-Id", sid);
    if (!r.stream) {
      const GenerateResult g = run(*job, nullptr);
      json out = envelope(*job, chat ? "chat.completion" : "text_completion");
      json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", g.finish_reason}};
      if (chat)
        choice["message"] = {{"role", "assistant"}, {"content", g.text}};
      else
        choice["text"] = g.text;
      out["choices"] = json::array({choice});
      out["usage"] = usage(g);
      res.set_content(dump(out), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, job](size_t, httplib::DataSink& sink) {
                                       stream_reply(*job, sink);
                                       sink.done();  // else httplib calls again
                                       return true;
                                     });
  }

  json envelope(const Job& job, const char* object) const {
    json j = {
        {"id", job.id}, {"object", object}, {"created", job.created}, {"model", cfg.model_id}};
    if (!job.session_id.empty()) j["session_id"] = job.session_id;
    return j;
  }

  static json usage(const GenerateResult& r) {
    return {{"prompt_tokens", r.prompt_tokens},
            {"completion_tokens", r.completion_tokens},
            {"total_tokens", r.prompt_tokens + r.completion_tokens}};
  }

  // Generates the job's reply; on_text gets the text as it becomes final.
  GenerateResult run(Job& job, const std::function<bool(const std::string&)>& on_text) {
    ++active;
    struct Done {
      std::atomic<int>& n;
      ~Done() { --n; }
    } done{active};
    GenerateResult r = job.session->generate(job.prompt, job.gen, *tok, on_text);
    if (job.chat) job.session->commit_chat(r.text);
    metrics.finished(r.prompt_tokens, r.completion_tokens, r.prompt_seconds, r.decode_seconds);
    return r;
  }

  void stream_reply(Job& job, httplib::DataSink& sink) {
    auto chunk = [&](const json& choice) {
      json j = envelope(job, job.chat ? "chat.completion.chunk" : "text_completion");
      j["choices"] = json::array({choice});
      return sse(j);
    };
    auto piece = [&](const std::string& text, const json& finish) {
      if (job.chat)
        return chunk({{"index", 0},
                      {"delta", text.empty() ? json::object() : json{{"content", text}}},
                      {"logprobs", nullptr},
                      {"finish_reason", finish}});
      return chunk(
          {{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}});
    };
    auto write = [&](const std::string& s) { return sink.write(s.data(), s.size()); };
    if (job.chat && !write(chunk({{"index", 0},
                                  {"delta", {{"role", "assistant"}, {"content", ""}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}})))
      return;
    GenerateResult r;
    try {
      r = run(job, [&](const std::string& text) { return write(piece(text, nullptr)); });
    } catch (const ApiError& e) {
      write(sse(error_body(e.status, e.what(), e.param, e.code)));
      return;
    } catch (const std::exception& e) {
      write(sse(error_body(500, std::string("internal error: ") + e.what(), "", "")));
      return;
    }
    // Free the session before the last events: a client may send its next
    // round as soon as it reads [DONE].
    job.session.reset();
    if (r.cancelled) return;
    write(piece("", r.finish_reason));
    if (job.include_usage) {
      json u = envelope(job, job.chat ? "chat.completion.chunk" : "text_completion");
      u["choices"] = json::array();
      u["usage"] = usage(r);
      write(sse(u));
    }
    write("data: [DONE]\n\n");
  }
};

Server::Server(std::shared_ptr<const Model> model, std::shared_ptr<const Tokenizer> tok,
               ChatTemplate tmpl, ServerConfig cfg)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(tok), tmpl, std::move(cfg))) {}

Server::~Server() { stop(); }

int Server::bind(const std::string& host, int port) {
  const int p = port == 0 ? impl_->http.bind_to_any_port(host)
                          : (impl_->http.bind_to_port(host, port) ? port : -1);
  check(p > 0, "cannot listen on ", host, ":", port, ": ", std::strerror(errno));
  // httplib listens with a backlog of 5 (compiled into Debian's library): a
  // burst of clients past it, while the accept loop waits for a core, would
  // wait out SYN retries (1 s, 3 s, ...). Listening again raises it.
  check(::listen(impl_->listen_fd, kListenBacklog) == 0, "cannot listen on ", host, ":", p, ": ",
        std::strerror(errno));
  return p;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace ss::serve
