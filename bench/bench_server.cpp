// sinkstream_bench_server: what the server tests leave to a benchmark, since
// a busy machine stretches any duration. The server runs in process on
// loopback over stories260K with a 4 + 60 sink cache.
//   rounds      one chat session for N rounds: median round latency in the
//               first and last quarter and their ratio (level: about 1), RSS
//               after the first quarter and its growth to the end (flat: about 0)
//   concurrent  K sessions of R rounds at once against the same K one after
//               another: wall times and their ratio
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "core/error.h"
#include "core/progress.h"
#include "serve/server.h"

using ssbench::now_s;
using json = nlohmann::json;

namespace {

struct Options {
  std::string model = STORIES_BIN;
  int rounds = 200;
  int sessions = 16, session_rounds = 20;
};

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

class InProcess {
 public:
  InProcess(const std::string& model_path, int http_threads) {
    ss::serve::ServerConfig c;
    c.model_id = "bench";
    c.policy = ss::CachePolicy::make("sinks", 4, 60);
    c.http_threads = http_threads;
    server_ = std::make_unique<ss::serve::Server>(ss::Model::load(model_path),
                                                  ss::find_tokenizer(model_path),
                                                  ss::ChatTemplate::make("plain"), c);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->run(); });
  }
  ~InProcess() {
    server_->stop();
    thread_.join();
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_read_timeout(600, 0);
    return c;
  }

 private:
  std::unique_ptr<ss::serve::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// One chat round on session sid; the wall time in ms.
double round_ms(httplib::Client& c, const std::string& sid, int seed) {
  const json body = {
      {"messages", json::array({{{"role", "user"}, {"content", "Tell me what happened next."}}})},
      {"session_id", sid},
      {"max_tokens", 24},
      {"ignore_eos", true},
      {"temperature", 0.8},
      {"seed", seed}};
  const double t = now_s();
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ss::check(r && r->status == 200, "round on session ", sid, " failed");
  return (now_s() - t) * 1e3;
}

void bench_rounds(const Options& o) {
  InProcess s(o.model, 32);
  auto c = s.client();
  std::vector<double> ms;
  int64_t rss_warm = 0, rss_max = 0;
  const int quarter = std::max(1, o.rounds / 4);
  for (int r = 0; r < o.rounds; ++r) {
    ms.push_back(round_ms(*c, "long-chat", r));
    const int64_t rss = ss::current_rss_bytes();
    // Warm: the HTTP threads have touched their stacks and malloc arenas.
    if (r == quarter - 1) rss_warm = rss;
    if (r >= quarter - 1) rss_max = std::max(rss_max, rss);
  }
  const double first = median({ms.begin(), ms.begin() + quarter});
  const double last = median({ms.end() - quarter, ms.end()});
  std::printf(
      "rounds      %d chat rounds of 24 tokens on one session: median %.2f ms (first quarter) vs "
      "%.2f ms (last quarter), ratio %.2f; RSS %.2f MiB after round %d, max after %.2f MiB "
      "(+%.3f MiB)\n",
      o.rounds, first, last, last / first, rss_warm / 1048576.0, quarter, rss_max / 1048576.0,
      (rss_max - rss_warm) / 1048576.0);
}

void bench_concurrent(const Options& o) {
  InProcess s(o.model, std::max(32, 2 * o.sessions));
  auto run = [&](const std::string& prefix, int i) {
    auto c = s.client();
    for (int r = 0; r < o.session_rounds; ++r)
      round_ms(*c, prefix + std::to_string(i), 1000 * i + r);
  };
  double t = now_s();
  std::vector<std::thread> threads;
  for (int i = 0; i < o.sessions; ++i) threads.emplace_back(run, "live-", i);
  for (auto& th : threads) th.join();
  const double together = now_s() - t;
  t = now_s();
  for (int i = 0; i < o.sessions; ++i) run("solo-", i);
  const double alone = now_s() - t;
  std::printf(
      "concurrent  %d sessions x %d rounds: %.2f s at once, %.2f s one after another, ratio "
      "%.2f (%u hardware threads)\n",
      o.sessions, o.session_rounds, together, alone, alone / together,
      std::thread::hardware_concurrency());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> only;
  CLI::App app{"sinkstream_bench_server: server latency, memory and concurrency figures"};
  app.add_option("-m,--model", o.model, "Model")->capture_default_str();
  app.add_option("--rounds", o.rounds, "Rounds of the one-session chat")
      ->capture_default_str()
      ->check(CLI::Range(4, 100000));
  app.add_option("--sessions", o.sessions, "Concurrent sessions")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--session-rounds", o.session_rounds, "Rounds per concurrent session")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--only", only, "rounds and/or concurrent")
      ->check(CLI::IsMember({"rounds", "concurrent"}));
  CLI11_PARSE(app, argc, argv);
  auto wants = [&](const char* s) {
    return only.empty() || std::find(only.begin(), only.end(), s) != only.end();
  };
  try {
    if (wants("rounds")) bench_rounds(o);
    if (wants("concurrent")) bench_concurrent(o);
  } catch (const ss::Error& e) {
    std::fprintf(stderr, "sinkstream_bench_server: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
