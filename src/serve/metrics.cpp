#include "serve/metrics.h"

#include <sstream>

namespace ss::serve {

int64_t Metrics::now_second() const {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
      .count();
}

void Metrics::request(const std::string& route, int status) {
  std::lock_guard lk(mu_);
  ++requests_[{route, status}];
}

void Metrics::token() {
  const int64_t s = now_second();
  const size_t i = size_t(s) % bucket_tokens_.size();
  std::lock_guard lk(mu_);
  if (bucket_second_[i] != s) bucket_second_[i] = s, bucket_tokens_[i] = 0;
  ++bucket_tokens_[i];
}

void Metrics::finished(int64_t prompt_tokens, int64_t completion_tokens, double prompt_seconds,
                       double decode_seconds) {
  std::lock_guard lk(mu_);
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  prompt_seconds_ += prompt_seconds;
  decode_seconds_ += decode_seconds;
}

double Metrics::tokens_per_second() const {
  const int64_t s = now_second();
  std::lock_guard lk(mu_);
  int64_t n = 0;
  for (size_t i = 0; i < bucket_tokens_.size(); ++i)
    if (bucket_second_[i] > s - kRateSeconds) n += bucket_tokens_[i];
  return double(n) / kRateSeconds;
}

std::string Metrics::render(const Gauges& g) const {
  std::ostringstream os;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
       << name << ' ' << value << '\n';
  };
  metric("sinkstream_tokens_per_second", "gauge",
         "Generated tokens per second over the last 10 s, all sessions", tokens_per_second());
  std::lock_guard lk(mu_);
  os << "# HELP sinkstream_requests_total HTTP requests by route and status\n"
        "# TYPE sinkstream_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    os << "sinkstream_requests_total{route=\"" << key.first << "\",status=\"" << key.second
       << "\"} " << n << '\n';
  metric("sinkstream_prompt_tokens_total", "counter", "Prompt tokens fed", prompt_tokens_);
  metric("sinkstream_completion_tokens_total", "counter", "Tokens generated", completion_tokens_);
  metric("sinkstream_prompt_seconds_total", "counter", "Seconds spent feeding prompts",
         prompt_seconds_);
  metric("sinkstream_decode_seconds_total", "counter", "Seconds spent generating", decode_seconds_);
  metric("sinkstream_active_requests", "gauge", "Requests being generated", g.active_requests);
  metric("sinkstream_sessions", "gauge", "Sessions held", g.sessions);
  metric("sinkstream_sessions_max", "gauge", "Most sessions held before LRU eviction",
         g.max_sessions);
  metric("sinkstream_sessions_busy", "gauge", "Sessions serving a request", g.busy_sessions);
  metric("sinkstream_sessions_evicted_total", "counter", "Idle sessions evicted (LRU)",
         g.sessions_evicted);
  metric("sinkstream_cache_slots_used", "gauge", "KV cache slots holding a token, all sessions",
         g.cache_slots_used);
  metric("sinkstream_cache_slots_capacity", "gauge", "KV cache slots (S+W+1), all sessions",
         g.cache_slots_capacity);
  metric("sinkstream_cache_occupancy_ratio", "gauge", "Used over capacity, all sessions",
         g.cache_slots_capacity ? double(g.cache_slots_used) / g.cache_slots_capacity : 0.0);
  metric("sinkstream_cache_tokens_evicted", "gauge",
         "Tokens the held sessions have evicted from their windows", g.cache_tokens_evicted);
  metric("sinkstream_cache_bytes", "gauge", "KV cache memory, all sessions", g.cache_bytes);
  metric("sinkstream_resident_memory_bytes", "gauge", "Process resident set size", g.rss_bytes);
  return os.str();
}

}  // namespace ss::serve
