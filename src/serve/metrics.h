// Server counters, rendered in the Prometheus text format for GET /metrics.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace ss::serve {

// Point-in-time figures the server gathers when /metrics is scraped.
struct Gauges {
  int sessions = 0, max_sessions = 0, busy_sessions = 0, active_requests = 0;
  int64_t sessions_evicted = 0;
  int64_t cache_slots_used = 0, cache_slots_capacity = 0, cache_tokens_evicted = 0;
  int64_t cache_bytes = 0, rss_bytes = 0;
};

class Metrics {
 public:
  void request(const std::string& route, int status);
  void token();  // one generated token, for the rate
  void finished(int64_t prompt_tokens, int64_t completion_tokens, double prompt_seconds,
                double decode_seconds);
  // Generated tokens per second over the last kRateSeconds (this one included).
  double tokens_per_second() const;
  std::string render(const Gauges& g) const;

  static constexpr int kRateSeconds = 10;

 private:
  int64_t now_second() const;

  mutable std::mutex mu_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::map<std::pair<std::string, int>, int64_t> requests_;
  int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  double prompt_seconds_ = 0, decode_seconds_ = 0;
  // Tokens per second of uptime in a ring; bucket_second_ says which second.
  std::array<int64_t, kRateSeconds + 1> bucket_tokens_{}, bucket_second_{};
};

}  // namespace ss::serve
