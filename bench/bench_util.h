// What both benchmark programs share: wall time, memory on huge pages, and
// the in-process STREAM triad that every GB/s figure is compared with.
#pragma once
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>

namespace ssbench {

inline double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<void, FreeDeleter>;

// bytes of memory, on transparent huge pages (2 MiB) when huge: with this
// machine's THP=madvise, plain allocations get 4 KiB pages.
inline Buffer alloc_pages(size_t bytes, bool huge) {
  constexpr size_t k2M = size_t(2) << 20;
  bytes = (bytes + k2M - 1) / k2M * k2M;
  Buffer p(std::aligned_alloc(k2M, bytes));
  if (!p) throw std::bad_alloc();
  if (huge) madvise(p.get(), bytes, MADV_HUGEPAGE);
  return p;
}

// STREAM triad a = b + s*c over three arrays of n doubles (keep 8n far above
// the L3), all threads, best of reps; GB/s counting 3 arrays as STREAM does.
inline double triad_gbs(int64_t n, int reps, bool huge) {
  Buffer pa = alloc_pages(n * 8, huge), pb = alloc_pages(n * 8, huge),
         pc = alloc_pages(n * 8, huge);
  double *a = static_cast<double*>(pa.get()), *b = static_cast<double*>(pb.get()),
         *c = static_cast<double*>(pc.get());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] = 0, b[i] = 1, c[i] = 2;
  double best = std::numeric_limits<double>::max();
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
    best = std::min(best, now_s() - t0);
  }
  return 3.0 * 8 * n / best / 1e9;
}

}  // namespace ssbench
