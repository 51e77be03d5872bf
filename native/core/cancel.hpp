// Cooperative cancellation of a native task (an aborted AbortSignal).
//
// The addon gives every task a CancelToken and installs it for the thread that runs the
// task (CancelScope); parallel_for and the thread team hand it on to their workers. The
// long loops — candidates of the cascade, Sinkhorn sweeps, simplex pivots, k-means
// iterations — call throw_if_cancelled(), which throws CoreError("ABORTED"). A thread
// with no token installed never cancels, so core code called from tests or benchmarks
// behaves as before. Hooks let a stage that blocks elsewhere (an ONNX Runtime Run) be
// told to stop too.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

#include "errors.hpp"

namespace p2sam::core {

class CancelToken {
 public:
  using Hook = std::list<std::function<void()>>::iterator;

  bool requested() const { return flag_.load(std::memory_order_relaxed); }
  // For code that polls a plain flag (wasserstein_exact's options.cancel).
  const std::atomic<bool>* flag() const { return &flag_; }

  // From any thread (the JS thread, on abort): sets the flag and runs the hooks once.
  void cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flag_.exchange(true)) return;
    for (auto& h : hooks_) h();
  }

  // Runs `fn` on cancel (at once if already cancelled) until the returned hook is removed.
  Hook add_hook(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flag_.load()) fn();
    return hooks_.insert(hooks_.end(), std::move(fn));
  }
  void remove_hook(Hook h) {
    std::lock_guard<std::mutex> lock(mutex_);
    hooks_.erase(h);
  }

 private:
  std::atomic<bool> flag_{false};
  std::mutex mutex_;
  std::list<std::function<void()>> hooks_;
};

// The token of the task running on this thread, or null.
inline CancelToken*& current_cancel_token() {
  thread_local CancelToken* token = nullptr;
  return token;
}

inline bool cancel_requested() {
  CancelToken* t = current_cancel_token();
  return t != nullptr && t->requested();
}

inline void throw_if_cancelled() {
  if (cancel_requested()) throw CoreError("ABORTED", "the operation was aborted");
}

// Installs `token` for this thread for the scope's lifetime.
class CancelScope {
 public:
  explicit CancelScope(CancelToken* token) : previous_(current_cancel_token()) { current_cancel_token() = token; }
  ~CancelScope() { current_cancel_token() = previous_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  CancelToken* previous_;
};

}  // namespace p2sam::core
