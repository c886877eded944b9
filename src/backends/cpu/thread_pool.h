// kiln — the cpu backend's one thread pool.
//
// Workers claim chunks of a job from a shared counter and the calling thread claims them too,
// so a job never waits for a worker that the OS has not scheduled: the caller simply runs the
// chunks nobody took (OpenMP's static schedule and team barrier would wait for every thread,
// which costs milliseconds per layer on a busy machine). Idle workers spin briefly for the next
// job, then sleep. oneDNN runs single-threaded inside the chunks (each worker sets its OpenMP
// thread count to 1), so there is exactly one pool and no oversubscription.
//
// One job runs at a time: a second caller that finds the pool busy runs its job inline.
#pragma once

#include <cstdint>
#include <functional>

namespace kiln::cpu {

/// Runs f(chunk) for every chunk in [0, chunks), on the calling thread and up to `threads - 1`
/// pool workers; returns when all chunks are done.
void runChunks(int threads, int64_t chunks, const std::function<void(int64_t)>& f);

}  // namespace kiln::cpu
