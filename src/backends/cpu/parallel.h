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

/// Threads worth using for `work` units when one thread should get at least `grain` of them
/// (at least 1, at most `threads`). Small layers run on one thread: waking the pool and the
/// barrier at the end cost more than they save, and far more on a busy machine.
inline int threadsFor(int threads, double work, double grain) {
  const double useful = work / std::max(grain, 1.0);
  return useful >= threads ? threads : std::max(1, static_cast<int>(useful));
}

/// Multiply-adds per thread below which a oneDNN convolution / matmul / GEMM is not split
/// (about 25 microseconds of one AVX2 core).
constexpr double kMacsPerThread = 1 << 20;

/// Makes oneDNN (which asks omp_get_max_threads) use `threads` threads on this thread.
inline void useThreads(int threads) {
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

}  // namespace kiln::cpu
