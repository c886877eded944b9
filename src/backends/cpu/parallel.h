// kiln — splitting a kernel's work over the cpu backend's thread pool (thread_pool.h).
//
// parallelFor splits [0, n) into contiguous chunks and calls f(begin, end) once per chunk, on
// the calling thread and up to `threads - 1` pool workers. Work smaller than `grain` items per
// thread runs inline on the calling thread, so tiny layers do not pay for waking the pool.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "backends/cpu/thread_pool.h"

namespace kiln::cpu {

/// Threads worth using for `work` units when one thread should get at least `grain` of them
/// (at least 1, at most `threads`).
inline int threadsFor(int threads, double work, double grain) {
  const double useful = work / std::max(grain, 1.0);
  return useful >= threads ? threads : std::max(1, static_cast<int>(useful));
}

/// Multiply-adds per thread below which a GEMM or convolution is not split (about 25
/// microseconds of one AVX2 core).
constexpr double kMacsPerThread = 1 << 20;

template <class F>
void parallelFor(int threads, int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  const int t = threadsFor(threads, static_cast<double>(n), static_cast<double>(grain));
  if (t <= 1) {
    f(int64_t{0}, n);
    return;
  }
  // A few chunks per thread, so that a thread that starts late leaves less for the others.
  const int64_t chunks = std::min<int64_t>(n, int64_t{4} * t);
  runChunks(t, chunks, [&](int64_t c) {
    const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    if (begin < end) f(begin, end);
  });
}

/// oneDNN (the OpenMP build) runs single-threaded: our pool splits the work around it.
inline void useOneDnnThreadCount() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

}  // namespace kiln::cpu
