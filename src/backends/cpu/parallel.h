// kiln — the cpu backend's thread pool: OpenMP, the runtime oneDNN runs on too.
//
// parallelFor splits [0, n) into contiguous chunks over at most `threads` threads and calls
// f(begin, end) once per chunk. Work smaller than `grain` items per thread runs inline on the
// calling thread, so tiny layers do not pay for waking the pool.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace kiln::cpu {

template <class F>
void parallelFor(int threads, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  int64_t useful = std::max<int64_t>(1, n / std::max<int64_t>(grain, 1));
  int t = static_cast<int>(std::min<int64_t>(threads, useful));
  if (t <= 1) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    const int64_t id = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = n * id / nt, end = n * (id + 1) / nt;
    if (begin < end) f(begin, end);
  }
}

/// Makes oneDNN (which asks omp_get_max_threads) use `threads` threads on this thread.
inline void useThreads(int threads) {
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

}  // namespace kiln::cpu
