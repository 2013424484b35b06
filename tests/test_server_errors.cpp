// Whose fault a failed request is: the client's (a bad request, text its
// tokenizer refuses) is 4xx; a failure inside the server once the request
// has been accepted, ss::Error or any other exception, is 500 with OpenAI's
// "server_error" type, streaming or not. A tokenizer that throws on demand
// stands in for an internal invariant failing mid-generation.
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"
#include "serve/server.h"
#include "testutil.h"

namespace {

using json = nlohmann::json;

enum class Fault { None, SsErrorInDecode, LogicErrorInDecode, SsErrorInEncode };

// The stories260K tokenizer, failing where told.
class FaultyTokenizer : public ss::Tokenizer {
 public:
  explicit FaultyTokenizer(std::shared_ptr<const ss::Tokenizer> base) : base_(std::move(base)) {}
  std::atomic<Fault> fault{Fault::None};

  std::vector<int> encode(std::string_view text, bool add_bos) const override {
    if (fault == Fault::SsErrorInEncode) ss::fail("cannot encode '", text, "'");
    return base_->encode(text, add_bos);
  }
  std::string decode(int prev, int id) const override {
    if (fault == Fault::SsErrorInDecode) ss::fail("slot table out of step (an invariant)");
    if (fault == Fault::LogicErrorInDecode) throw std::logic_error("vector::_M_range_check");
    return base_->decode(prev, id);
  }
  int vocab_size() const override { return base_->vocab_size(); }
  int bos_id() const override { return base_->bos_id(); }
  int eos_id() const override { return base_->eos_id(); }

 private:
  std::shared_ptr<const ss::Tokenizer> base_;
};

class ServerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = std::make_shared<FaultyTokenizer>(ss::find_tokenizer(sstest::kStoriesBin));
    ss::serve::ServerConfig cfg;
    cfg.model_id = "stories260K";
    cfg.policy = ss::CachePolicy::make("sinks", 4, 60);
    server_ = std::make_unique<ss::serve::Server>(ss::Model::load(sstest::kStoriesBin), tok_,
                                                  ss::ChatTemplate::make("plain"), cfg);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
  }
  // POSTs body to path; the status and the body as JSON (or as text in "raw").
  std::pair<int, json> post(const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    auto r = c.Post(path, body.dump(), "application/json");  // bind() listens already
    if (!r) return {0, json()};
    const json j = json::parse(r->body, nullptr, false);
    return {r->status, j.is_discarded() ? json{{"raw", r->body}} : j};
  }

  std::shared_ptr<FaultyTokenizer> tok_;
  std::unique_ptr<ss::serve::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

const json kCompletion = {{"prompt", "Once upon a time"}, {"max_tokens", 4}, {"seed", 1}};

TEST_F(ServerErrors, InternalSsErrorIs500) {
  EXPECT_EQ(post("/v1/completions", kCompletion).first, 200);
  tok_->fault = Fault::SsErrorInDecode;
  const auto [status, body] = post("/v1/completions", kCompletion);
  EXPECT_EQ(status, 500) << body;
  EXPECT_EQ(body["error"]["type"], "server_error") << body;
  EXPECT_EQ(body["error"]["message"], "internal error: slot table out of step (an invariant)");
  // ignore_eos: a first sampled token of EOS would decode nothing, and so not fail.
  const auto chat =
      post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi"}}}},
                                    {"max_tokens", 4},
                                    {"ignore_eos", true}});
  EXPECT_EQ(chat.first, 500) << chat.second;
  tok_->fault = Fault::None;  // and serving goes on
  EXPECT_EQ(post("/v1/completions", kCompletion).first, 200);
}

TEST_F(ServerErrors, OtherExceptionIs500) {
  tok_->fault = Fault::LogicErrorInDecode;
  const auto [status, body] = post("/v1/completions", kCompletion);
  EXPECT_EQ(status, 500) << body;
  EXPECT_EQ(body["error"]["type"], "server_error") << body;
  EXPECT_EQ(body["error"]["message"], "internal error: vector::_M_range_check");
}

TEST_F(ServerErrors, InternalErrorWhileStreamingIsA500Event) {
  tok_->fault = Fault::SsErrorInDecode;
  json req = kCompletion;
  req["stream"] = true;
  const auto [status, body] = post("/v1/completions", req);
  EXPECT_EQ(status, 200);  // the events had started
  const std::string events = body.value("raw", "");
  EXPECT_NE(events.find(R"("type":"server_error")"), std::string::npos) << events;
  EXPECT_NE(events.find("internal error: slot table out of step"), std::string::npos) << events;
  EXPECT_EQ(events.find("[DONE]"), std::string::npos) << events;
}

TEST_F(ServerErrors, ClientErrorsStay4xx) {
  tok_->fault = Fault::SsErrorInEncode;  // the tokenizer refuses the client's text
  auto [status, body] = post("/v1/completions", kCompletion);
  EXPECT_EQ(status, 400) << body;
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["message"], "cannot encode 'Once upon a time'");
  EXPECT_EQ(body["error"]["param"], "prompt");
  tok_->fault = Fault::None;
  // A content part whose type is not a string was a JSON type_error, a 500.
  std::tie(status, body) =
      post("/v1/chat/completions",
           {{"messages", {{{"role", "user"}, {"content", {{{"type", 5}, {"text", "x"}}}}}}}});
  EXPECT_EQ(status, 400) << body;
  EXPECT_EQ(body["error"]["param"], "messages");
  std::tie(status, body) = post("/v1/completions", {{"prompt", "x"}, {"temperature", "hot"}});
  EXPECT_EQ(status, 400) << body;
  EXPECT_EQ(body["error"]["message"], "'temperature' must be a number");
  EXPECT_EQ(post("/v1/completions", {{"prompt", "x"}, {"model", "gpt-4"}}).first, 404);
  // 1e999 cannot be sent through json::dump; raw bytes instead.
  httplib::Client c("127.0.0.1", port_);
  auto r = c.Post("/v1/completions", R"({"prompt": "x", "max_tokens": 1e999})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("number overflow"), std::string::npos) << r->body;
}

}  // namespace
