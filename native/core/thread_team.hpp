// A team of worker threads that persists for one computation, for loops too short to
// start threads per pass (parallel.hpp's parallel_for does that, which suits the coarse
// loops of the core). Used by the Sinkhorn solver, whose sweeps take microseconds.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace p2sam::core {

// Workers that persist for one solve. The scaling iterations are short (tens of
// microseconds for small problems), so starting threads per sweep, as parallel_for
// does, would cost more than the sweep; here each sweep is a generation bump that
// spinning (then sleeping) workers pick up.
class ThreadTeam {
 public:
  explicit ThreadTeam(int workers) : workers_(std::max(1, workers)) {
    for (int w = 1; w < workers_; ++w) threads_.emplace_back([this, w] { loop(w); });
  }
  ~ThreadTeam() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return workers_; }

  // Runs fn(worker) on every worker and returns when all are done. fn must not throw
  // (the sweeps only do arithmetic on preallocated buffers).
  template <typename Fn>
  void run(Fn& fn) {
    if (workers_ == 1) {
      fn(0);
      return;
    }
    job_ = [](void* ctx, int w) { (*static_cast<Fn*>(ctx))(w); };
    ctx_ = &fn;
    pending_.store(workers_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 4000) {
        pause();
      } else {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
      }
    }
  }

 private:
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void loop(int w) {
    unsigned seen = 0;
    for (;;) {
      unsigned g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 4000; ++spin) {
        pause();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_) return;
      job_(ctx_, w);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  int workers_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::atomic<unsigned> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;  // written under mutex_ before the generation bump that announces it
  void (*job_)(void*, int) = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace p2sam::core
