// Minimal data-parallel loop for the CPU core.
//
// Why not OpenMP: the addon is also built by node-gyp for Electron tool-chains, where
// adding -fopenmp and shipping libgomp is fragile. std::thread is enough for the
// coarse-grained loops we have (rows of a cost matrix, restarts of k-means, maps).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "cancel.hpp"

namespace p2sam::core {

// Number of worker threads used when the caller passes threads <= 0.
inline int default_thread_count() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

// Calls fn(begin_i, end_i, chunk_index) on contiguous chunks of [begin, end), one chunk
// per requested worker. Runs inline when one thread is asked for or the range is small.
// The first exception thrown by any chunk is rethrown on the calling thread after all
// chunks finished, so callers never see a half-joined pool.
//
// Threads take chunks from a shared counter and the calling thread takes part, so when
// the OS refuses a thread (container pids limit, ulimit -u: std::system_error from the
// std::thread constructor) the chunks are simply run by the threads that did start —
// at worst all by the caller. The chunk boundaries and indices do not depend on how many
// threads ran, so results are identical either way.
template <typename Fn>
void parallel_for(std::size_t begin, std::size_t end, int threads, Fn&& fn, std::size_t min_chunk = 1) {
  if (end <= begin) return;
  const std::size_t n = end - begin;
  if (threads <= 0) threads = default_thread_count();
  std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), (n + min_chunk - 1) / min_chunk);
  if (workers <= 1) {
    fn(begin, end, 0);
    return;
  }
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::atomic<std::size_t> next_chunk{0};
  const std::size_t chunk = (n + workers - 1) / workers;
  // The task's cancel token travels with its work onto the helper threads.
  CancelToken* const token = current_cancel_token();
  auto run_chunks = [&]() {
    CancelScope scope(token);
    for (std::size_t w; (w = next_chunk.fetch_add(1)) < workers;) {
      std::size_t b = begin + w * chunk;
      std::size_t e = std::min(end, b + chunk);
      if (b >= e) continue;
      try {
        fn(b, e, w);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (std::size_t t = 1; t < workers; ++t) {
    try {
      pool.emplace_back(run_chunks);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running (and this one) do the rest
    }
  }
  run_chunks();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace p2sam::core
