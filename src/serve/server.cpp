#include "serve/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <ctime>
#include <regex>

#include "core/progress.h"
#include "serve/metrics.h"
#include "serve/page.h"
#include "serve/session.h"

namespace ss::serve {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

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

// Typed access to optional request fields; a wrong type is a 400 naming it.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}
[[noreturn]] void bad(const std::string& param, const std::string& what) {
  throw ApiError(400, "'" + param + "' " + what, param, "invalid_value");
}
std::optional<int64_t> get_int(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) bad(name, "must be an integer");
  return v->get<int64_t>();
}
std::optional<double> get_number(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(name, "must be a number");
  return v->get<double>();
}
std::optional<std::string> get_string(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(name, "must be a string");
  return v->get<std::string>();
}
bool get_bool(const json& body, const char* name) {
  const json* v = field(body, name);
  if (v && !v->is_boolean()) bad(name, "must be true or false");
  return v && v->get<bool>();
}

json parse_body(const httplib::Request& req) {
  json j;
  try {
    j = json::parse(req.body);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "",
                   "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object", "", "invalid_json");
  return j;
}

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
      } catch (const Error& e) {
        send_error(res, 400, e.what());
      } catch (const std::exception& e) {
        send_error(res, 500, std::string("internal error: ") + e.what());
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
    http.set_socket_options([](socket_t sock) {
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

  // The cache policy a request asks for: the server's default with its overrides.
  CachePolicy request_policy(const json& body) const {
    CachePolicy p = cfg.policy;
    const auto name = get_string(body, "policy");
    if (name && *name != "sinks" && *name != "window")
      bad("policy", "must be \"sinks\" or \"window\"");
    const auto sinks = get_int(body, "sinks");
    const auto window = get_int(body, "window");
    if (sinks && (*sinks < 0 || *sinks > cfg.max_cache_tokens))
      bad("sinks", "must be in [0, " + std::to_string(cfg.max_cache_tokens) + "]");
    if (window && (*window < 1 || *window > cfg.max_cache_tokens))
      bad("window", "must be in [1, " + std::to_string(cfg.max_cache_tokens) + "]");
    p = CachePolicy::make(name.value_or(p.name()), int(sinks.value_or(p.sinks)),
                          int(window.value_or(p.window)));
    if (p.capacity() > cfg.max_cache_tokens)
      bad("window", "sinks + window + 1 = " + std::to_string(p.capacity()) +
                        " is over the limit of " + std::to_string(cfg.max_cache_tokens));
    return p;
  }

  GenerateParams request_params(const json& body, bool chat) {
    GenerateParams g;
    auto max_tokens = get_int(body, "max_tokens");
    if (chat && !max_tokens) max_tokens = get_int(body, "max_completion_tokens");
    const int64_t n = max_tokens.value_or(cfg.default_max_tokens);
    if (n < 0 || n > cfg.max_tokens_limit)
      bad(chat && !field(body, "max_tokens") ? "max_completion_tokens" : "max_tokens",
          "must be in [0, " + std::to_string(cfg.max_tokens_limit) + "]");
    g.max_tokens = int(n);
    const double t = get_number(body, "temperature").value_or(1.0);
    if (!(t >= 0 && t <= 2)) bad("temperature", "must be in [0, 2]");
    const double top_p = get_number(body, "top_p").value_or(1.0);
    if (!(top_p > 0 && top_p <= 1)) bad("top_p", "must be in (0, 1]");
    const int64_t top_k = get_int(body, "top_k").value_or(0);
    if (top_k < 0) bad("top_k", "must be >= 0");
    g.sampling.temperature = float(t);
    g.sampling.top_p = float(top_p);
    g.sampling.top_k = int(std::min<int64_t>(top_k, model->config().vocab_size));
    if (const auto seed = get_int(body, "seed"))
      g.sampling.seed = uint64_t(*seed);
    else
      g.sampling.seed = uint64_t(std::chrono::system_clock::now().time_since_epoch().count()) ^
                        uint64_t(next_id++) * 0x9e3779b97f4a7c15ull;
    if (get_int(body, "n").value_or(1) != 1) bad("n", "must be 1 (one choice per request)");
    if (const json* stop = field(body, "stop")) {
      if (stop->is_string()) {
        g.stop.push_back(stop->get<std::string>());
      } else if (stop->is_array() && stop->size() <= 4) {
        for (const json& s : *stop) {
          if (!s.is_string()) bad("stop", "must be a string or a list of up to 4 strings");
          g.stop.push_back(s.get<std::string>());
        }
      } else {
        bad("stop", "must be a string or a list of up to 4 strings");
      }
      for (const std::string& s : g.stop)
        if (s.empty()) bad("stop", "must not contain empty strings");
    }
    if (chat)
      for (const std::string& s : tmpl.stops()) g.stop.push_back(s);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(cfg.request_timeout_s));
    g.keep_going = [this, deadline] { return !stopping && Clock::now() < deadline; };
    g.kernel_threads = cfg.request_threads;
    g.on_token = [this] { metrics.token(); };
    g.trim_leading_space = chat;
    g.ignore_eos = get_bool(body, "ignore_eos");
    return g;
  }

  static std::vector<ChatMessage> parse_messages(const json& body) {
    const json* msgs = field(body, "messages");
    if (!msgs || !msgs->is_array() || msgs->empty())
      bad("messages", "must be a non-empty list of messages");
    std::vector<ChatMessage> out;
    for (const json& m : *msgs) {
      if (!m.is_object()) bad("messages", "must hold objects with a role and content");
      const auto role = get_string(m, "role");
      if (!role ||
          (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant"))
        bad("messages", "role must be system, developer, user or assistant");
      ChatMessage cm{*role == "developer" ? "system" : *role, ""};
      const json* c = field(m, "content");
      if (c && c->is_string()) {
        cm.content = c->get<std::string>();
      } else if (c && c->is_array()) {  // content parts: text only
        for (const json& part : *c) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
              !part["text"].is_string())
            bad("messages", "content parts must be {\"type\": \"text\", \"text\": ...}");
          cm.content += part["text"].get<std::string>();
        }
      } else if (c || *role != "assistant") {
        bad("messages", "content must be a string or a list of text parts");
      }
      check_utf8(cm.content, "messages");
      out.push_back(std::move(cm));
    }
    return out;
  }

  std::vector<int> parse_prompt(const json& body, bool first) const {
    const json* p = field(body, "prompt");
    if (!p) bad("prompt", "is required");
    const json* one = p;
    if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array()))
      one = &(*p)[0];
    std::vector<int> ids;
    if (one->is_string()) {
      const std::string text = one->get<std::string>();
      check_utf8(text, "prompt");
      ids = tok->encode(text, first);
    } else {
      if (!one->is_array()) bad("prompt", "must be a string, a list of token ids or a list of one");
      if (first && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
      for (const json& t : *one) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= tok->vocab_size())
          bad("prompt",
              "token ids must be integers in [0, " + std::to_string(tok->vocab_size()) + ")");
        ids.push_back(t.get<int>());
      }
    }
    if (ids.empty()) bad("prompt", "is empty");
    return ids;
  }

  std::string session_id(const httplib::Request& req, const json& body) const {
    const auto from_body = get_string(body, "session_id");
    const std::string from_header = req.get_header_value("X-Session-Id");
    if (from_body && !from_header.empty() && *from_body != from_header)
      bad("session_id", "differs from the X-Session-Id header");
    const std::string id = from_body.value_or(from_header);
    static const std::regex ok("[A-Za-z0-9._:-]{1,128}");
    if (!id.empty() && !std::regex_match(id, ok))
      bad("session_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -");
    return id;
  }

  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    const json body = parse_body(req);
    if (const auto m = get_string(body, "model")) check_model(*m);
    if (get_bool(body, "echo")) bad("echo", "is not supported");
    const bool stream = get_bool(body, "stream");
    const json* opts = field(body, "stream_options");
    if (opts && !opts->is_object()) bad("stream_options", "must be an object");
    const bool include_usage = opts && get_bool(*opts, "include_usage");
    const CachePolicy policy = request_policy(body);
    const bool policy_given =
        field(body, "policy") || field(body, "sinks") || field(body, "window");
    GenerateParams gen = request_params(body, chat);
    const std::vector<ChatMessage> msgs = chat ? parse_messages(body) : std::vector<ChatMessage>{};

    const std::string sid = session_id(req, body);
    const Session::Mode mode = chat ? Session::Mode::Chat : Session::Mode::Completion;
    auto make = [&] { return std::make_shared<Session>(sid, mode, model, policy); };
    // A chat that brings history to an unknown session cannot be continued.
    const bool history = std::any_of(msgs.begin(), msgs.end(),
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
      bad("session_id", "names a " + std::string(chat ? "completion" : "chat") +
                            " session; use a new id for " + (chat ? "chat" : "completions"));
    if (policy_given && s.policy().describe() != policy.describe())
      bad(field(body, "window")  ? "window"
          : field(body, "sinks") ? "sinks"
                                 : "policy",
          "cannot change: session '" + sid + "' uses " + s.policy().describe());
    job->prompt = chat ? s.chat_round(msgs, tmpl, *tok) : parse_prompt(body, s.n_seen() == 0);
    job->chat = chat;
    job->include_usage = include_usage;
    job->session_id = sid;
    job->gen = std::move(gen);
    job->id =
        (chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" + std::to_string(next_id++);
    job->created = std::time(nullptr);
    if (!sid.empty()) res.set_header("X-Session-Id", sid);
    if (!stream) {
      const GenerateResult r = run(*job, nullptr);
      json out = envelope(*job, chat ? "chat.completion" : "text_completion");
      json choice = {{"index", 0}, {"logprobs", nullptr}, {"finish_reason", r.finish_reason}};
      if (chat)
        choice["message"] = {{"role", "assistant"}, {"content", r.text}};
      else
        choice["text"] = r.text;
      out["choices"] = json::array({choice});
      out["usage"] = usage(r);
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
      write(sse(error_body(500, e.what(), "", "")));
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
  return p;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace ss::serve
