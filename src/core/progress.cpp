#include "core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace ss {

Progress::Progress(int64_t total, std::string unit, bool enabled)
    : total_(total),
      unit_(std::move(unit)),
      on_(enabled && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() { finish(); }

double Progress::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(int64_t done) {
  if (!on_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100) && done < total_) return;
  last_ = now;
  const double t = elapsed(), rate = t > 0 ? done / t : 0;
  char bar[31] = {};
  if (total_ > 0) {
    const int fill = int(30.0 * double(done) / double(total_));
    for (int i = 0; i < 30; ++i) bar[i] = i < fill ? '#' : '.';
    const double eta = rate > 0 ? double(total_ - done) / rate : 0;
    std::fprintf(stderr, "\r[%s] %lld/%lld %s  %.1f %s/s  ETA %02d:%02d ", bar, (long long)done,
                 (long long)total_, unit_.c_str(), rate, unit_.c_str(), int(eta) / 60,
                 int(eta) % 60);
  } else {
    std::fprintf(stderr, "\r%lld %s  %.1f %s/s  %02d:%02d ", (long long)done, unit_.c_str(), rate,
                 unit_.c_str(), int(t) / 60, int(t) % 60);
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (!on_) return;
  std::fprintf(stderr, "\n");
  on_ = false;
}

static int64_t status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size())) * 1024;
  return 0;
}

int64_t peak_rss_bytes() { return status_kb("VmHWM:"); }
int64_t current_rss_bytes() { return status_kb("VmRSS:"); }

}  // namespace ss
