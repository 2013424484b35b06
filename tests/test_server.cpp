// The HTTP server: OpenAI client flows, sessions across rounds, a constant
// cache over 200 rounds, 16 concurrent sessions against solo replays, bad
// requests, LRU eviction, shutdown, and the web page in headless chromium.
// Loopback only; every loop is bounded in count. Nothing here asserts a
// duration that a busy machine could stretch: latency and memory figures are
// bench/bench_server.cpp's.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "core/progress.h"
#include "gtest/gtest.h"
#include "serve/server.h"
#include "serve/session.h"
#include "testmodels.h"
#include "testutil.h"
#include "tokenizer/bpe_tokenizer.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using ss::serve::Server;
using ss::serve::ServerConfig;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// 127.0.0.1:port, for tests that speak raw TCP.
sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

std::shared_ptr<const ss::Model> stories() {
  static auto m = ss::Model::load(sstest::kStoriesBin);
  return m;
}
std::shared_ptr<const ss::Tokenizer> stories_tok() {
  static std::shared_ptr<const ss::Tokenizer> t = ss::find_tokenizer(sstest::kStoriesBin);
  return t;
}

ServerConfig test_config() {
  ServerConfig c;
  c.model_id = "stories260K";
  c.policy = ss::CachePolicy::make("sinks", 4, 60);
  c.default_max_tokens = 32;
  return c;
}

// A server on 127.0.0.1, an ephemeral port, in a thread of its own.
class Harness {
 public:
  explicit Harness(const ServerConfig& cfg = test_config())
      : server_(stories(), stories_tok(), ss::ChatTemplate::make("plain"), cfg) {
    port_ = server_.bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_.run(); });
    auto c = client();
    const auto t0 = Clock::now();
    while (!c->Get("/health") && seconds_since(t0) < 120)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~Harness() {
    server_.stop();
    thread_.join();
  }
  // Timeouts far beyond any reply here, however loaded the machine: a slow
  // answer must not read as no answer (status 0). keep_alive: one connection
  // for all requests, as API clients hold one.
  std::unique_ptr<httplib::Client> client(bool keep_alive = false) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_keep_alive(keep_alive);
    c->set_connection_timeout(120, 0);
    c->set_read_timeout(300, 0);
    c->set_write_timeout(120, 0);
    return c;
  }
  int port() const { return port_; }

 private:
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

struct Reply {
  int status = 0;
  json body;
};

Reply post(httplib::Client& c, const std::string& path, const json& body,
           const httplib::Headers& headers = {}) {
  auto r = c.Post(path, headers, body.dump(), "application/json");
  // A connection that never opened sent nothing: on a busy machine a dropped
  // handshake, so try again. Any other failure is the test's to see.
  for (int tries = 1; !r && r.error() == httplib::Error::Connection && tries < 3; ++tries)
    r = c.Post(path, headers, body.dump(), "application/json");
  if (!r) return {0, httplib::to_string(r.error())};  // the body names the failure
  return {r->status, json::parse(r->body, nullptr, false)};
}

Reply get(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path);
  if (!r) return {0, {}};
  return {r->status, json::parse(r->body, nullptr, false)};
}

// What an OpenAI client reads from a non-streaming reply; checks the shape.
struct Completion {
  std::string text, finish_reason;
  int64_t prompt_tokens = 0, completion_tokens = 0;
};
Completion parse_completion(const json& j, bool chat) {
  Completion c;
  EXPECT_EQ(j.at("object"), chat ? "chat.completion" : "text_completion") << j;
  EXPECT_EQ(j.at("id").get<std::string>().rfind(chat ? "chatcmpl-" : "cmpl-", 0), 0u);
  EXPECT_TRUE(j.at("created").is_number_integer());
  EXPECT_EQ(j.at("model"), "stories260K");
  const json& ch = j.at("choices");
  EXPECT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].at("index"), 0);
  if (chat) {
    EXPECT_EQ(ch[0].at("message").at("role"), "assistant");
    c.text = ch[0].at("message").at("content").get<std::string>();
  } else {
    c.text = ch[0].at("text").get<std::string>();
  }
  c.finish_reason = ch[0].at("finish_reason").get<std::string>();
  EXPECT_TRUE(c.finish_reason == "stop" || c.finish_reason == "length") << c.finish_reason;
  const json& u = j.at("usage");
  c.prompt_tokens = u.at("prompt_tokens");
  c.completion_tokens = u.at("completion_tokens");
  EXPECT_EQ(u.at("total_tokens"), c.prompt_tokens + c.completion_tokens);
  return c;
}

// What an OpenAI client reads from server-sent events; checks every chunk.
struct StreamReply {
  int status = 0;
  std::string content_type, text, finish_reason, raw;
  int chunks = 0;  // chunks carrying text
  bool done = false;
  json usage;
};
StreamReply post_stream(httplib::Client& c, const std::string& path, json body, bool chat) {
  body["stream"] = true;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  StreamReply s;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    s.raw.append(data, n);
    return true;
  };
  auto r = c.send(req);
  if (!r) return s;
  s.status = r->status;
  s.content_type = r->get_header_value("Content-Type");
  if (s.status != 200) return s;
  std::istringstream in(s.raw);
  bool first = true;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    EXPECT_EQ(line.rfind("data: ", 0), 0u) << line;
    EXPECT_FALSE(s.done) << "data after [DONE]";
    const std::string data = line.substr(6);
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    const json j = json::parse(data);
    EXPECT_EQ(j.at("object"), chat ? "chat.completion.chunk" : "text_completion") << j;
    EXPECT_EQ(j.at("model"), "stories260K");
    if (j.contains("usage")) {
      s.usage = j["usage"];
      continue;
    }
    const json& ch = j.at("choices").at(0);
    if (chat && first) {
      EXPECT_EQ(ch.at("delta").at("role"), "assistant");
    }
    first = false;
    const std::string t =
        chat ? ch.at("delta").value("content", std::string()) : ch.at("text").get<std::string>();
    s.text += t;
    s.chunks += !t.empty();
    if (!ch.at("finish_reason").is_null()) {
      EXPECT_TRUE(s.finish_reason.empty()) << "two finish reasons";
      s.finish_reason = ch["finish_reason"];
    }
  }
  return s;
}

json user(const std::string& text) { return {{"role", "user"}, {"content", text}}; }
json assistant(const std::string& text) { return {{"role", "assistant"}, {"content", text}}; }
json list(std::vector<json> v) { return v; }

TEST(Server, HealthModelsAndPage) {
  Harness h;
  auto c = h.client();
  EXPECT_EQ(get(*c, "/health").body.at("status"), "ok");
  const Reply m = get(*c, "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.body.at("object"), "list");
  EXPECT_EQ(m.body.at("data").at(0).at("id"), "stories260K");
  EXPECT_EQ(m.body.at("data").at(0).at("object"), "model");
  EXPECT_EQ(get(*c, "/v1/models/stories260K").status, 200);
  auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/v1/chat/completions"), std::string::npos);
}

TEST(Server, CompletionsClientFlowStreamingAndNot) {
  Harness h;
  auto c = h.client();
  const json body = {{"model", "stories260K"},
                     {"prompt", "Once upon a time"},
                     {"max_tokens", 40},
                     {"temperature", 0}};
  const Reply r = post(*c, "/v1/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const Completion got = parse_completion(r.body, false);
  EXPECT_EQ(got.prompt_tokens, 5);  // BOS + 4
  EXPECT_GT(got.completion_tokens, 10);
  EXPECT_EQ(got.text.rfind(", there was a little girl named Lily", 0), 0u) << got.text;

  json sb = body;
  sb["stream_options"] = {{"include_usage", true}};
  const StreamReply s = post_stream(*c, "/v1/completions", sb, false);
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.content_type.rfind("text/event-stream", 0), 0u);
  EXPECT_TRUE(s.done);
  EXPECT_GT(s.chunks, 5);  // token by token, not one blob
  EXPECT_EQ(s.text, got.text);
  EXPECT_EQ(s.finish_reason, got.finish_reason);
  EXPECT_EQ(s.usage.at("completion_tokens"), got.completion_tokens);

  // Token ids as the prompt (BOS is added to a fresh stream): the same reply.
  json ids = body;
  ids["prompt"] = stories_tok()->encode("Once upon a time", false);
  EXPECT_EQ(parse_completion(post(*c, "/v1/completions", ids).body, false).text, got.text);
}

TEST(Server, CompletionEqualsCliGenerateWithEvictionInPromptAndGeneration) {
  // A ~300-token prompt through a 4+16 cache evicts while it is fed and while
  // the reply is generated; the text must equal `sinkstream generate`'s.
  std::ifstream f(sstest::asset("text/tinystories.txt"));
  std::string prompt(1200, '\0');
  f.read(prompt.data(), prompt.size());
  prompt.resize(prompt.rfind(' '));
  auto cli = sstest::run_cli("generate --temperature 0 --sinks 4 --window 16 -n 60", prompt);
  ASSERT_EQ(cli.status, 0) << cli.err;
  ASSERT_EQ(cli.out.rfind(prompt, 0), 0u);
  const std::string want = cli.out.substr(prompt.size(), cli.out.size() - prompt.size() - 1);

  Harness h;
  auto c = h.client();
  const Reply r = post(*c, "/v1/completions",
                       {{"prompt", prompt},
                        {"max_tokens", 60},
                        {"temperature", 0},
                        {"sinks", 4},
                        {"window", 16},
                        {"session_id", "long"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Completion got = parse_completion(r.body, false);
  EXPECT_EQ(got.text, want);
  EXPECT_GT(got.prompt_tokens, 200);
  const json s = get(*c, "/v1/sessions/long").body;
  // 4 sinks + 16 past tokens + the newest one.
  EXPECT_EQ(s.at("kept"), 21);
  EXPECT_EQ(s.at("evicted"), got.prompt_tokens + got.completion_tokens - 21);
  EXPECT_EQ(s.at("slots").size(), 21u);
}

TEST(Server, ChatClientFlowStreamingAndNot) {
  Harness h;
  auto c = h.client();
  const json body = {{"model", "stories260K"},
                     {"messages", list({{{"role", "system"}, {"content", "Tell a story."}},
                                        user("Once upon a time")})},
                     {"max_tokens", 30},
                     {"temperature", 0.8},
                     {"seed", 11}};
  const Reply r = post(*c, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const Completion got = parse_completion(r.body, true);
  EXPECT_FALSE(got.text.empty());
  EXPECT_NE(got.text[0], ' ');  // the reply's leading space is trimmed
  const StreamReply s = post_stream(*c, "/v1/chat/completions", body, true);
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.done);
  EXPECT_GT(s.chunks, 3);
  EXPECT_EQ(s.text, got.text);  // same seed, same reply
  EXPECT_EQ(s.finish_reason, got.finish_reason);
  // Content parts and max_completion_tokens, as newer clients send them.
  json parts = body;
  parts["messages"][1]["content"] = {{{"type", "text"}, {"text", "Once upon a time"}}};
  parts.erase("max_tokens");
  parts["max_completion_tokens"] = 30;
  EXPECT_EQ(parse_completion(post(*c, "/v1/chat/completions", parts).body, true).text, got.text);
}

// One conversation of `rounds` rounds on session sid; returns the replies.
// full: send the whole conversation each time (OpenAI style), else only the new turn.
std::vector<std::string> converse(httplib::Client& c, const std::string& sid, int who, int rounds,
                                  bool full, bool stream) {
  std::vector<std::string> replies;
  json history = json::array();
  for (int r = 0; r < rounds; ++r) {
    const json msg = user("Round " + std::to_string(r) + " for " + std::to_string(who) + ".");
    history.push_back(msg);
    json body = {{"messages", full ? history : json::array({msg})},
                 {"session_id", sid},
                 {"max_tokens", 16},
                 {"temperature", 0.9},
                 {"seed", 1000 * who + r}};
    std::string text;
    if (stream) {
      const StreamReply s = post_stream(c, "/v1/chat/completions", body, true);
      EXPECT_EQ(s.status, 200) << sid << " round " << r;
      EXPECT_TRUE(s.done);
      text = s.text;
    } else {
      const Reply rep = post(c, "/v1/chat/completions", body);
      EXPECT_EQ(rep.status, 200) << sid << " round " << r << ": " << rep.body;
      if (rep.status != 200) break;
      text = parse_completion(rep.body, true).text;
    }
    replies.push_back(text);
    history.push_back(assistant(text));
  }
  return replies;
}

TEST(Server, SessionRoundsFeedOnlyNewTokens) {
  Harness h;
  auto c = h.client();
  // Full history or only new turns: the same conversation, the same replies.
  const auto a = converse(*c, "full", 1, 4, true, false);
  const auto b = converse(*c, "turns", 1, 4, false, false);
  EXPECT_EQ(a, b);
  const json sa = get(*c, "/v1/sessions/full").body, sb = get(*c, "/v1/sessions/turns").body;
  EXPECT_EQ(sa.at("n_seen"), sb.at("n_seen"));
  EXPECT_EQ(sa.at("rounds"), 4);
  // A round's prompt is its new turn only, however long the chat is.
  const Reply r = post(*c, "/v1/chat/completions",
                       {{"messages", list({user("Round 4 for 1.")})}, {"max_tokens", 4}},
                       {{"X-Session-Id", "turns"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.at("session_id"), "turns");
  EXPECT_LT(r.body.at("usage").at("prompt_tokens").get<int>(), 30);
  // History that is not this session's is refused.
  const Reply bad =
      post(*c, "/v1/chat/completions",
           {{"session_id", "full"}, {"messages", list({user("x"), assistant("y"), user("z")})}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["error"]["code"], "session_mismatch");
}

TEST(Server, TwoHundredRoundsKeepTheCacheConstant) {
  Harness h;
  auto c = h.client();
  constexpr int kRounds = 200;
  int64_t first_bytes = 0, second_prompt = 0;
  for (int r = 0; r < kRounds; ++r) {
    const Reply rep = post(*c, "/v1/chat/completions",
                           {{"messages", list({user("Tell me what happened next.")})},
                            {"session_id", "long-chat"},
                            {"max_tokens", 24},
                            {"ignore_eos", true},
                            {"temperature", 0.8},
                            {"seed", r}});
    ASSERT_EQ(rep.status, 200) << "round " << r << ": " << rep.body;
    // Every round feeds only the close of the last reply and its new turn (the
    // same tokens each time), however long the chat.
    const int64_t prompt = rep.body.at("usage").at("prompt_tokens");
    if (r == 1) second_prompt = prompt;
    if (r > 1) {
      EXPECT_EQ(prompt, second_prompt) << "round " << r;
    }
    EXPECT_EQ(rep.body.at("usage").at("completion_tokens"), 24) << "round " << r;
    if (r == 0) first_bytes = get(*c, "/v1/sessions/long-chat").body.at("cache_bytes");
  }
  const json s = get(*c, "/v1/sessions/long-chat").body;
  EXPECT_EQ(s.at("cache_bytes"), first_bytes);
  EXPECT_EQ(s.at("rounds"), kRounds);
  EXPECT_EQ(s.at("kept"), 65);  // 4 sinks + 60 past + the newest
  EXPECT_EQ(s.at("slots").size(), 65u);
  EXPECT_EQ(s.at("evicted").get<int64_t>(), s.at("n_seen").get<int64_t>() - 65);
  EXPECT_GT(s.at("evicted").get<int64_t>(), 40 * kRounds);
}

TEST(Server, SixteenConcurrentSessionsEqualSoloReplays) {
  constexpr int kSessions = 16, kRounds = 20;
  ServerConfig cfg = test_config();
  // A kept-alive connection holds an HTTP thread: one each, and one for the
  // metrics client, so no client waits for another's connection to close.
  cfg.http_threads = kSessions + 2;
  Harness h(cfg);
  std::vector<std::vector<std::string>> live(kSessions), solo(kSessions);
  // Each client connects at once, as the load starts, and keeps its connection.
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i)
    threads.emplace_back([&, i] {
      live[i] =
          converse(*h.client(true), "load-" + std::to_string(i), i, kRounds, i % 2 == 0, i % 4 < 2);
    });
  for (auto& t : threads) t.join();
  const double load_s = seconds_since(t0);
  auto c = h.client();
  const std::string metrics = c->Get("/metrics")->body;
  // Alone, one at a time, with the other transport: the same replies.
  for (int i = 0; i < kSessions; ++i)
    solo[i] = converse(*c, "solo-" + std::to_string(i), i, kRounds, i % 2 == 0, i % 4 >= 2);
  int rounds = 0, differ = 0;
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_EQ(live[i].size(), size_t(kRounds)) << "session " << i;
    for (int r = 0; r < kRounds; ++r) {
      ++rounds;
      differ += live[i][r] != solo[i][r];
      EXPECT_EQ(live[i][r], solo[i][r]) << "session " << i << " round " << r;
    }
  }
  // Sessions talk about different things: cross-talk would show.
  EXPECT_NE(live[0], live[1]);
  std::printf("[load] %d sessions x %d rounds in %.2f s, %d replies, %d differ from solo replays\n",
              kSessions, kRounds, load_s, rounds, differ);
  EXPECT_NE(metrics.find("sinkstream_sessions 16\n"), std::string::npos) << metrics;
}

void expect_error(const Reply& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  ASSERT_TRUE(r.body.is_object()) << what;
  ASSERT_TRUE(r.body.contains("error")) << what << ": " << r.body;
  EXPECT_TRUE(r.body["error"].at("message").is_string()) << what;
  EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty()) << what;
  EXPECT_TRUE(r.body["error"].at("type").is_string()) << what;
  EXPECT_TRUE(r.body["error"].contains("param")) << what;
  EXPECT_TRUE(r.body["error"].contains("code")) << what;
}

TEST(Server, BadRequestsGetJsonErrorsAndServingGoesOn) {
  ServerConfig cfg = test_config();
  cfg.max_body_bytes = 64 * 1024;
  Harness h(cfg);
  auto c = h.client();
  ASSERT_EQ(
      post(*c, "/v1/chat/completions", {{"messages", list({user("hi")})}, {"session_id", "chat1"}})
          .status,
      200);
  auto raw = [&](const std::string& path, const std::string& body) {
    auto r = c->Post(path, body, "application/json");
    return r ? Reply{r->status, json::parse(r->body, nullptr, false)} : Reply{};
  };
  const json chat = {{"messages", list({user("hi")})}};
  auto with = [&](json b, const std::string& k, json v) {
    b[k] = std::move(v);
    return b;
  };
  struct Case {
    std::string what;
    Reply r;
    int status;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", raw("/v1/chat/completions", "{\"messages\": [}"), 400},
      {"not an object", raw("/v1/completions", "[1, 2]"), 400},
      {"oversize body", raw("/v1/completions", std::string(100 * 1024, ' ')), 413},
      {"unknown model", post(*c, "/v1/chat/completions", with(chat, "model", "gpt-4")), 404},
      {"unknown session", get(*c, "/v1/sessions/nope"), 404},
      {"delete unknown session",
       [&] {
         auto r = c->Delete("/v1/sessions/nope");
         return Reply{r->status, json::parse(r->body, nullptr, false)};
       }(),
       404},
      {"history for unknown session",
       post(*c, "/v1/chat/completions",
            {{"session_id", "never"}, {"messages", list({user("a"), assistant("b"), user("c")})}}),
       404},
      {"temperature", post(*c, "/v1/chat/completions", with(chat, "temperature", -1)), 400},
      {"temperature type", post(*c, "/v1/chat/completions", with(chat, "temperature", "hot")), 400},
      {"top_p", post(*c, "/v1/chat/completions", with(chat, "top_p", 0)), 400},
      {"top_k", post(*c, "/v1/chat/completions", with(chat, "top_k", -3)), 400},
      {"max_tokens", post(*c, "/v1/chat/completions", with(chat, "max_tokens", -5)), 400},
      {"max_tokens limit", post(*c, "/v1/chat/completions", with(chat, "max_tokens", 1 << 30)),
       400},
      {"n", post(*c, "/v1/chat/completions", with(chat, "n", 2)), 400},
      {"sinks", post(*c, "/v1/chat/completions", with(chat, "sinks", -1)), 400},
      {"window", post(*c, "/v1/chat/completions", with(chat, "window", 0)), 400},
      {"window limit", post(*c, "/v1/chat/completions", with(chat, "window", 1 << 20)), 400},
      {"policy", post(*c, "/v1/chat/completions", with(chat, "policy", "dense")), 400},
      {"stop",
       post(*c, "/v1/chat/completions", with(chat, "stop", list({"a", "b", "c", "d", "e"}))), 400},
      {"seed", post(*c, "/v1/chat/completions", with(chat, "seed", "abc")), 400},
      {"no messages", post(*c, "/v1/chat/completions", json::object()), 400},
      {"empty messages", post(*c, "/v1/chat/completions", {{"messages", json::array()}}), 400},
      {"role", post(*c, "/v1/chat/completions", {{"messages", list({{{"role", "tool"}}})}}), 400},
      {"no prompt", post(*c, "/v1/completions", json::object()), 400},
      {"prompt ids", post(*c, "/v1/completions", {{"prompt", list({1, 2, 99999})}}), 400},
      {"session id", post(*c, "/v1/chat/completions", with(chat, "session_id", "a b/c")), 400},
      {"policy change",
       post(*c, "/v1/chat/completions",
            {{"session_id", "chat1"}, {"window", 10}, {"messages", list({user("x")})}}),
       400},
      {"wrong endpoint for session",
       post(*c, "/v1/completions", {{"session_id", "chat1"}, {"prompt", "x"}}), 400},
      {"no route", get(*c, "/v2/nothing"), 404},
  };
  for (const Case& k : cases) {
    expect_error(k.r, k.status, k.what);
    EXPECT_EQ(get(*c, "/health").status, 200) << "after " << k.what;
  }
  // The session that saw bad requests still works.
  EXPECT_EQ(
      post(*c, "/v1/chat/completions", {{"messages", list({user("hi")})}, {"session_id", "chat1"}})
          .status,
      200);
  const std::string m = c->Get("/metrics")->body;
  EXPECT_NE(m.find("status=\"413\""), std::string::npos);
}

TEST(Server, IdleSessionsEvictedInLruOrder) {
  ServerConfig cfg = test_config();
  cfg.max_sessions = 2;
  Harness h(cfg);
  auto c = h.client();
  auto say = [&](const std::string& sid) {
    return post(*c, "/v1/chat/completions",
                {{"messages", list({user("hi")})}, {"session_id", sid}, {"max_tokens", 2}});
  };
  EXPECT_EQ(say("a").status, 200);
  EXPECT_EQ(say("b").status, 200);
  EXPECT_EQ(say("a").status, 200);  // b is now the least recently used
  EXPECT_EQ(say("c").status, 200);
  const Reply gone = say("b");
  expect_error(gone, 404, "evicted session");
  EXPECT_EQ(gone.body["error"]["code"], "session_evicted");
  EXPECT_NE(gone.body["error"]["message"].get<std::string>().find("evicted"), std::string::npos);
  EXPECT_EQ(say("a").status, 200);
  EXPECT_EQ(say("c").status, 200);
  EXPECT_EQ(get(*c, "/v1/sessions").body.at("data").size(), 2u);
  // Deleting forgets the eviction, and the id can start afresh.
  EXPECT_EQ(c->Delete("/v1/sessions/b")->status, 200);
  EXPECT_EQ(say("b").status, 200);
  const std::string m = c->Get("/metrics")->body;
  EXPECT_NE(m.find("sinkstream_sessions_evicted_total 2\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sinkstream_sessions 2\n"), std::string::npos) << m;
}

TEST(Server, BusySessionConflictsAndCancelledStreamReleasesIt) {
  ServerConfig cfg = test_config();
  cfg.max_sessions = 1;
  Harness h(cfg);
  auto c = h.client(), other = h.client();
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = json{
      {"messages", list({user("hi")})},
      {"session_id", "busy"},
      {"stream", true},
      {"ignore_eos", true},
      {"max_tokens",
       4000}}.dump();
  req.set_header("Content-Type", "application/json");
  Reply during, full;
  int received = 0;
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
    if (++received == 2) {  // mid-stream: the session is held
      during = post(*other, "/v1/chat/completions",
                    {{"messages", list({user("hi")})}, {"session_id", "busy"}});
      full = post(*other, "/v1/chat/completions",
                  {{"messages", list({user("hi")})}, {"session_id", "another"}});
    }
    return received < 3;  // then hang up
  };
  c->send(req);
  expect_error(during, 409, "busy session");
  EXPECT_EQ(during.body["error"]["code"], "session_busy");
  // The one session allowed is busy, so none can be evicted for a new one.
  expect_error(full, 503, "no session to evict");
  EXPECT_EQ(full.body["error"]["code"], "server_busy");
  // The server notices the hang-up at its next write and frees the session.
  int status = 0;
  const auto t0 = Clock::now();
  while (seconds_since(t0) < 120 && status != 200) {
    status = post(*other, "/v1/chat/completions",
                  {{"messages", list({user("again")})}, {"session_id", "busy"}, {"max_tokens", 2}})
                 .status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200);
}

TEST(Server, TimeoutsCutLongRepliesAndStalledUploads) {
  ServerConfig cfg = test_config();
  cfg.request_timeout_s = 0.005;
  cfg.read_timeout_s = 1;
  Harness h(cfg);
  auto c = h.client();
  const Reply r =
      post(*c, "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 4096}, {"ignore_eos", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  const Completion got = parse_completion(r.body, false);
  EXPECT_EQ(got.finish_reason, "length");
  EXPECT_LT(got.completion_tokens, 4096);
  // A client that promises a body and stalls gets a 400 after the read timeout.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in addr = loopback(h.port());
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string head =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{";
  ASSERT_EQ(send(fd, head.data(), head.size(), 0), ssize_t(head.size()));
  timeval tv{120, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const auto t0 = Clock::now();
  // The head and the body may come in separate packets: read up to the body's end.
  std::string reply;
  double waited = -1;
  const auto complete = [&reply] {
    const size_t head_end = reply.find("\r\n\r\n");
    const size_t len_at = reply.find("Content-Length: ");
    return head_end != std::string::npos && len_at < head_end &&
           reply.size() >= head_end + 4 + std::stoul(reply.substr(len_at + 16));
  };
  char buf[512];
  for (ssize_t n; !complete() && (n = recv(fd, buf, sizeof(buf), 0)) > 0;) {
    if (waited < 0) waited = seconds_since(t0);
    reply.append(buf, size_t(n));
  }
  close(fd);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"error\""), std::string::npos) << reply;
  // The server waited for the promised body (its read timeout is 1 s) rather
  // than answering at once; a busy machine can only make the wait longer.
  EXPECT_GT(waited, 0.5);
  EXPECT_EQ(get(*c, "/health").status, 200);
}

TEST(Server, MetricsInPrometheusFormat) {
  Harness h;
  auto c = h.client();
  post(*c, "/v1/completions",
       {{"prompt", "Once"}, {"session_id", "m"}, {"max_tokens", 20}, {"ignore_eos", true}});
  auto r = c->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain", 0), 0u);
  const std::regex sample(R"([a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+)");
  std::istringstream in(r->body);
  std::map<std::string, double> v;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    v[line.substr(0, line.rfind(' '))] = std::stod(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_GT(v["sinkstream_tokens_per_second"], 0);
  EXPECT_EQ(v["sinkstream_sessions"], 1);
  EXPECT_EQ(v["sinkstream_cache_slots_capacity"], 65);
  EXPECT_GT(v["sinkstream_cache_slots_used"], 0);
  EXPECT_EQ(v["sinkstream_completion_tokens_total"], 20);
  EXPECT_EQ(v["sinkstream_requests_total{route=\"completions\",status=\"200\"}"], 1);
}

TEST(Server, ChatTemplatesFromTheModel) {
  const std::string dir = sstest::temp_dir();
  auto with_template = [&](const std::string& tmpl) {
    std::ofstream(dir + "/tokenizer_config.json") << json{{"chat_template", tmpl}}.dump();
    return ss::ChatTemplate::for_model(dir, "auto");
  };
  EXPECT_EQ(ss::ChatTemplate::for_model(sstest::kStoriesBin, "auto").name(), "plain");
  EXPECT_EQ(with_template("{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}").name(),
            "llama2");
  EXPECT_EQ(with_template("{{ '<|user|>\n' }}{{ '<|assistant|>\n' }}").name(), "zephyr");
  EXPECT_EQ(with_template("{{ '<|im_start|>' + message['role'] }}").name(), "chatml");
  // An unrecognised template falls back to plain (with a warning).
  EXPECT_EQ(with_template("{{ '### ' + message['role'] }}").name(), "plain");
  // Llama-2: BOS [INST] ... [/INST]; a reply is closed by EOS.
  const auto& tok = *stories_tok();
  const auto llama2 = ss::ChatTemplate::make("llama2");
  const std::vector<int> ids = llama2.render({{"system", "Be brief."}, {"user", "Hi"}}, true, tok);
  EXPECT_EQ(ids.front(), tok.bos_id());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.bos_id()), 1);
  EXPECT_EQ(llama2.end_of_reply(tok), std::vector<int>{tok.eos_id()});
}

TEST(Session, PageSlotsOfASinkTokenModelCountTheSinkToken) {
  // A model trained with --sink-token: the Stream feeds the sink token before
  // the session's first token, so the cache holds it in slot 0.
  ss::ModelConfig c = sstest::tiny_config();
  c.vocab_size = ss::kByteVocab;
  c.sink_token_id = ss::kByteSink;
  auto model = std::make_shared<const ss::Model>(ss::random_llama(c, 7));
  const auto tok = ss::load_tokenizer_json(ss::byte_level_tokenizer_json(), "byte-level");
  // 2 sink slots and a ring of 4 (3 past + the current token).
  ss::serve::Session s("s", ss::serve::Session::Mode::Completion, model,
                       ss::CachePolicy::make("sinks", 2, 3));
  const std::vector<int> ids = tok->encode("abcdefgh", false);
  ASSERT_EQ(ids.size(), 8u);
  ss::serve::GenerateParams g;
  g.max_tokens = 0;
  s.generate(ids, g, *tok, nullptr);
  // Cached: <sink> a b c d e f g h (9); the sinks keep <sink> and a, the
  // ring the last 4, cache token k >= 2 in slot 2 + (k - 2) mod 4: e (k = 5)
  // in slot 5, f g h in slots 2, 3, 4.
  const json d = s.describe(*tok);
  EXPECT_EQ(d.at("slots"), json::array({"<sink>", "a", "f", "g", "h", "e"})) << d;
  EXPECT_EQ(d.at("newest_slot"), 4);
  EXPECT_EQ(d.at("n_seen"), 8);
  EXPECT_EQ(d.at("kept"), 6);
  EXPECT_EQ(d.at("evicted"), 3);
}

// The CLI server, spawned on a free port. Whatever a test leaves it doing
// (stopped, serving) when an assertion returns early, the destructor kills it,
// so no test leaves a process behind.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& err_path, const std::vector<std::string>& extra = {}) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args = {CLI_BIN,  "serve", sstest::kStoriesBin, "--host", "127.0.0.1",
                                     "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, CLI_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = 0;
      return;
    }
    const std::regex at(R"(http://127\.0\.0\.1:([0-9]+)/)");
    const auto t0 = Clock::now();
    while (seconds_since(t0) < 120) {
      std::ifstream f(err_path);
      const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::smatch m;
      if (std::regex_search(s, m, at)) {
        port_ = std::stoi(m[1]);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  int port() const { return port_; }  // 0 if it did not start
  void signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);  // never 0: that would signal the test's own group
  }

  // Waits up to `limit` seconds; the exit status, or -1 on timeout (the
  // destructor then kills it).
  int wait_exit(double limit) {
    const auto t0 = Clock::now();
    int st = 0;
    while (seconds_since(t0) < limit) {
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;  // the destructor kills it
  }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

TEST(ServeCli, SigintAndSigtermStopCleanlyMidStream) {
  for (int sig : {SIGINT, SIGTERM}) {
    const std::string err = sstest::temp_dir() + "/err";
    ServerProcess server(err);
    const int port = server.port();
    ASSERT_GT(port, 0) << "server did not start";
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(300, 0);
    ASSERT_EQ(c.Get("/health")->status, 200);
    // A long streamed reply is running when the signal comes.
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = R"({"prompt": "Once", "stream": true, "ignore_eos": true, "max_tokens": 4096,
                   "session_id": "s"})";
    bool signalled = false;
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
      if (!signalled) server.signal(sig);
      signalled = true;
      return true;
    };
    c.send(req);
    EXPECT_TRUE(signalled);
    EXPECT_EQ(server.wait_exit(120), 0) << "signal " << sig;
    std::ifstream f(err);
    const std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  }
}

// Without --window the cache fills the training context (512 here) only up to
// --max-cache (Gemma 3's 32768 is over the default 8192); a --window over it
// is still an error.
TEST(ServeCli, TheDefaultWindowStopsAtMaxCache) {
  const std::string err = sstest::temp_dir() + "/err";
  ServerProcess server(err, {"--max-cache", "128"});
  EXPECT_GT(server.port(), 0) << "server did not start";
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(120), 0);
  std::ifstream f(err);
  const std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("sinks(4+123)"), std::string::npos) << log;
  const auto r = sstest::run_cli("serve --max-cache 128 --window 200");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("cache S+W+1 = 205 is over --max-cache 128"), std::string::npos) << r.err;
}

// A burst of clients connects while the server cannot accept (stopped here;
// busy with compute in use): each handshake completes into the listen queue,
// and each is answered once the server runs again. With httplib's own backlog
// of 5, all but the first 6 of the 64 were left retrying their SYN (after 1 s,
// then 3 s, ...).
TEST(ServeCli, ABurstOfConnectionsQueuesInsteadOfRetrying) {
  const std::string err = sstest::temp_dir() + "/err";
  ServerProcess server(err);
  ASSERT_GT(server.port(), 0) << "server did not start";
  server.signal(SIGSTOP);
  const sockaddr_in addr = loopback(server.port());
  std::vector<int> fds;
  for (int i = 0; i < 64; ++i) {
    fds.push_back(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    ASSERT_GE(fds.back(), 0);
    const int rc = connect(fds.back(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  }
  int connected = 0;  // within 0.5 s: before any dropped SYN is sent again
  const auto t0 = Clock::now();
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    const int left_ms = std::max(0, int(500 - 1000 * seconds_since(t0)));
    int e = -1;
    socklen_t len = sizeof e;
    if (poll(&p, 1, left_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0)
      ++connected;
  }
  EXPECT_EQ(connected, 64);
  server.signal(SIGCONT);
  int answered = 0;
  for (int fd : fds) {
    fcntl(fd, F_SETFL, 0);  // blocking again
    timeval tv{60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::string reply;
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
      char buf[512];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, size_t(n));
    }
    answered += reply.starts_with("HTTP/1.1 200") && reply.find(R"("ok")") != std::string::npos;
    close(fd);
  }
  EXPECT_EQ(answered, 64);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(120), 0);
}

TEST(ServeCli, BadOptionsExitWithStatus2) {
  for (const std::string args :
       {"serve --policy dense", "serve --chat-template nosuch", "serve --port 70000",
        "serve --max-sessions 0", "serve --host 999.1.1.1"}) {
    auto r = sstest::run_cli(args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    // The error is the last line (stories260K's missing chat template may warn first).
    const size_t last = r.err.rfind('\n', r.err.size() - 2);
    const std::string line = r.err.substr(last == std::string::npos ? 0 : last + 1);
    EXPECT_EQ(line.rfind("sinkstream: error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << args << ": " << r.err;
  }
}

std::string find_chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

TEST(ServerPage, HeadlessChromiumChatsAndStreams) {
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << "no chromium binary: scripts/deps.sh installs it";
  Harness h;
  const std::string dir = sstest::temp_dir();
  const std::string url =
      "http://127.0.0.1:" + std::to_string(h.port()) + "/?q=Once%20upon%20a%20time&seed=7";
  // The page types the message from ?q=, sends it and reads the streamed reply.
  auto browse = [&](const std::string& what, const std::string& out) {
    const std::string cmd = "timeout 300 " + chromium +
                            " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                            " --hide-scrollbars --user-data-dir=" +
                            dir + "/profile --virtual-time-budget=20000 " + what + " '" + url +
                            "' >" + out + " 2>" + dir + "/chromium.log";
    return std::system(cmd.c_str());
  };
  ASSERT_EQ(browse("--dump-dom", dir + "/dom.html"), 0);
  std::ifstream f(dir + "/dom.html");
  const std::string dom((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(dom.find("data-state=\"done\""), std::string::npos) << dom;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"(<span id="chunks">([0-9]+)</span>)")));
  EXPECT_GT(std::stoi(m[1]), 1) << "the reply did not arrive as a stream of tokens";
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"(<div class="msg assistant">([^<]+)</div>)")))
      << dom;
  EXPECT_GT(m[1].length(), 5u);
  EXPECT_NE(dom.find("class=\"cell sink"), std::string::npos) << "cache view not drawn";

  const std::string png = dir + "/serve_page.png";
  ASSERT_EQ(browse("--window-size=1280,800 --screenshot=" + png, "/dev/null"), 0);
  std::ifstream p(png, std::ios::binary);
  std::string sig(8, '\0');
  p.read(sig.data(), 8);
  EXPECT_EQ(sig, "\x89PNG\r\n\x1a\n");
  EXPECT_GT(std::filesystem::file_size(png), 10000u);
  auto c = h.client();
  EXPECT_EQ(get(*c, "/v1/sessions").body.at("data").size(), 2u);  // one chat per page load
}

}  // namespace
