#include "backends/cpu/thread_pool.h"

#include <immintrin.h>
#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/backend.h"

namespace kiln::cpu {
namespace {

/// Pause iterations an idle worker spins before sleeping (tens of microseconds), and a waiting
/// caller before it starts yielding.
constexpr int kSpinPauses = 4000;

struct Job {
  const std::function<void(int64_t)>* fn = nullptr;
  int64_t chunks = 0;
  int maxWorkers = 0;  ///< workers allowed to join (threads - 1)
  uint64_t seq = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::atomic<int> joined{0};  ///< workers that took a reference (they leave before return)
};

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i)
      threads_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  int workers() const { return static_cast<int>(threads_.size()); }

  void run(int threads, int64_t chunks, const std::function<void(int64_t)>& f) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock() || threads <= 1 || workers() == 0) {
      for (int64_t c = 0; c < chunks; ++c)
        f(c);
      return;
    }
    Job job;
    job.fn = &f;
    job.chunks = chunks;
    job.maxWorkers = threads - 1;
    {
      std::lock_guard<std::mutex> lock(m_);
      job.seq = ++seq_;
      current_ = &job;
      published_.store(job.seq, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    claim(job);
    {
      std::lock_guard<std::mutex> lock(m_);
      current_ = nullptr;  // no new worker joins from here on
    }
    // Chunks taken by workers may still run; workers that joined must leave before `job` dies.
    for (int spins = 0; job.done.load(std::memory_order_acquire) < chunks ||
                        job.joined.load(std::memory_order_acquire) > 0;
         ++spins) {
      if (spins < kSpinPauses)
        _mm_pause();
      else
        std::this_thread::yield();
    }
  }

 private:
  static void claim(Job& job) {
    for (int64_t c; (c = job.next.fetch_add(1, std::memory_order_relaxed)) < job.chunks;) {
      (*job.fn)(c);
      job.done.fetch_add(1, std::memory_order_release);
    }
  }

  void work() {
    omp_set_num_threads(1);  // oneDNN inside a chunk stays on this thread
    uint64_t seen = 0;
    while (true) {
      // Spin for a moment, then sleep until a new job is published.
      for (int i = 0; i < kSpinPauses && published_.load(std::memory_order_acquire) == seen; ++i)
        _mm_pause();
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(m_);
        if (published_.load(std::memory_order_relaxed) == seen && !stop_) {
          sleepers_.fetch_add(1, std::memory_order_release);
          cv_.wait(lock, [&] { return stop_ || published_.load() != seen; });
          sleepers_.fetch_sub(1, std::memory_order_release);
        }
        if (stop_) return;
        seen = published_.load(std::memory_order_relaxed);
        if (current_ != nullptr && current_->seq == seen &&
            current_->joined.load(std::memory_order_relaxed) < current_->maxWorkers) {
          job = current_;
          job->joined.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (job == nullptr) continue;
      claim(*job);
      job->joined.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex busy_;  ///< held by the caller of the running job
  std::mutex m_;     ///< guards current_, seq_, stop_ and the condition variable
  std::condition_variable cv_;
  Job* current_ = nullptr;
  uint64_t seq_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> published_{0};
  std::atomic<int> sleepers_{0};
};

Pool& pool() {
  // Workers: one fewer than the cores (the caller is the last thread). Lives until exit.
  static Pool* p = new Pool(std::max(0, hostCoreCount() - 1));
  return *p;
}

}  // namespace

void runChunks(int threads, int64_t chunks, const std::function<void(int64_t)>& f) {
  if (chunks <= 0) return;
  if (threads <= 1 || chunks == 1) {
    for (int64_t c = 0; c < chunks; ++c)
      f(c);
    return;
  }
  pool().run(threads, chunks, f);
}

}  // namespace kiln::cpu
