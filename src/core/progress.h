// A progress bar with rate and ETA on stderr (only when stderr is a terminal),
// and the process's memory figures.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace ss {

class Progress {
 public:
  // total <= 0: unknown length (no ETA). unit: what is counted, e.g. "tok".
  Progress(int64_t total, std::string unit, bool enabled = true);
  ~Progress();
  void update(int64_t done);
  void finish();
  double elapsed() const;

 private:
  int64_t total_;
  std::string unit_;
  bool on_;
  std::chrono::steady_clock::time_point start_, last_;
};

// Peak and current resident set size in bytes, from /proc/self/status.
int64_t peak_rss_bytes();
int64_t current_rss_bytes();

}  // namespace ss
