// Batched k-means on the GPU: one thread block per (part count, restart).
//
// The restart itself is hd::kmeans_restart (hd_kmeans.hpp), the same code the CUDA-side
// host tests run serially against the core, and the batch around it (checks, centring,
// k = 1, choice of the best restart) is the core's kmeans_batch_with; here the restart's
// execution policy is the block: loops stride
// over the block's threads, sums are shared-memory trees, and the leader thread draws
// the random numbers. Restarts of all part counts run concurrently (k = 2..5 with 10
// restarts is 40 blocks), which is where the GPU wins over two CPU cores: each restart
// is too sequential (seeding, Lloyd iterations) to fill a device by itself.
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "device_util.cuh"
#include "hd_kmeans.hpp"
#include "kernels.hpp"
#include "kmeans_driver.hpp"
#include "kmeans_random.hpp"

namespace p2sam::cuda {
namespace {

constexpr int kThreads = 256;  // power of two: the reduction tree halves it

struct BlockExec {
  int tid, nthreads;
  double* red;  // kThreads doubles of shared memory
  __host__ __device__ void sync() {
#if defined(__CUDA_ARCH__)
    __syncthreads();
#endif
  }
  // Fixed tree order, so a restart is deterministic run to run.
  __host__ __device__ double sum(double v) {
#if defined(__CUDA_ARCH__)
    red[tid] = v;
    __syncthreads();
    for (int s = nthreads / 2; s > 0; s >>= 1) {
      if (tid < s) red[tid] += red[tid + s];
      __syncthreads();
    }
    const double r = red[0];
    __syncthreads();
    return r;
#else
    return v;
#endif
  }
};

struct TaskDesc {
  hd::KmView view;
  hd::KmWork work;
  std::uint64_t seed;
};

__global__ void __launch_bounds__(kThreads) restarts_kernel(const TaskDesc* tasks) {
  __shared__ double red[kThreads];
  const TaskDesc& t = tasks[blockIdx.x];
  BlockExec ex{static_cast<int>(threadIdx.x), kThreads, red};
  hd::KmWork w = t.work;
  hd::kmeans_restart(ex, t.view, w, t.seed);
}

// Carves one device arena into 256-byte aligned pieces.
struct Arena {
  std::size_t used = 0;
  template <typename T>
  std::size_t take(std::size_t count) {
    const std::size_t at = (used + 255) & ~static_cast<std::size_t>(255);
    used = at + count * sizeof(T);
    return at;
  }
};

}  // namespace

std::vector<core::KMeansResult> gpu_kmeans_batch(const float* features, std::size_t n, std::size_t d,
                                                 const std::vector<int>& ks, const core::KMeansOptions& options) {
  const char* fn = "gpu_kmeans_batch";
  detail::require_device(fn);
  core::validate_kmeans_arguments(fn, features, n, d, ks, options);
  hd::km_check_gpu_limits(fn, n, d, ks);
  return core::kmeans_batch_with(
      features, n, d, ks, options, [&](const core::KMeansInput& p, const std::vector<core::KMeansRestartTask>& tasks) {
        auto x = detail::to_device(p.centred.data(), p.centred.size(), fn);
        auto norms = detail::to_device(p.norms.data(), p.norms.size(), fn);

        // Scratch (per task) and results (per task, contiguous so one copy brings all back).
        struct Offsets {
          std::size_t centres, centres_new, cnorm, sums, counts, labels_old, closest, cumulative, trial, best_trial,
              taken, shared_int, shared_dbl;
          std::size_t inertia, iterations, labels, out_centres;
        };
        std::vector<Offsets> off(tasks.size());
        Arena scratch, results;
        for (std::size_t t = 0; t < tasks.size(); ++t) {
          const std::size_t kd = static_cast<std::size_t>(tasks[t].k) * d, k = static_cast<std::size_t>(tasks[t].k);
          Offsets& o = off[t];
          o.centres_new = scratch.take<float>(kd);
          o.cnorm = scratch.take<float>(k);
          o.sums = scratch.take<double>(kd);
          o.counts = scratch.take<int>(k);
          o.labels_old = scratch.take<int>(n);
          o.closest = scratch.take<double>(n);
          o.cumulative = scratch.take<double>(n);
          o.trial = scratch.take<double>(n);
          o.best_trial = scratch.take<double>(n);
          o.taken = scratch.take<unsigned char>(n);
          o.shared_int = scratch.take<int>(1);
          o.shared_dbl = scratch.take<double>(hd::kMaxTrials);
          o.inertia = results.take<double>(1);
          o.iterations = results.take<int>(1);
          o.labels = results.take<int>(n);
          o.centres = results.take<float>(kd);
        }
        detail::DeviceBuffer<unsigned char> scratch_mem(scratch.used, fn), result_mem(results.used, fn);
        unsigned char* sb = scratch_mem.get();
        unsigned char* rb = result_mem.get();
        std::vector<TaskDesc> desc(tasks.size());
        for (std::size_t t = 0; t < tasks.size(); ++t) {
          const Offsets& o = off[t];
          TaskDesc& dsc = desc[t];
          dsc.view = hd::km_view(p, tasks[t].k, options);
          dsc.view.x = x.get();
          dsc.view.norms = norms.get();
          dsc.work =
              hd::KmWork{reinterpret_cast<float*>(rb + o.centres),     reinterpret_cast<float*>(sb + o.centres_new),
                         reinterpret_cast<float*>(sb + o.cnorm),       reinterpret_cast<double*>(sb + o.sums),
                         reinterpret_cast<int*>(sb + o.counts),        reinterpret_cast<int*>(rb + o.labels),
                         reinterpret_cast<int*>(sb + o.labels_old),    reinterpret_cast<double*>(sb + o.closest),
                         reinterpret_cast<double*>(sb + o.cumulative), reinterpret_cast<double*>(sb + o.trial),
                         reinterpret_cast<double*>(sb + o.best_trial), sb + o.taken,
                         reinterpret_cast<int*>(sb + o.shared_int),    reinterpret_cast<double*>(sb + o.shared_dbl),
                         reinterpret_cast<double*>(rb + o.inertia),    reinterpret_cast<int*>(rb + o.iterations)};
          dsc.seed = core::kmeans_stream_seed(options.seed, tasks[t].k, tasks[t].restart);
        }
        auto desc_dev = detail::to_device(desc.data(), desc.size(), fn);
        restarts_kernel<<<static_cast<unsigned>(tasks.size()), kThreads>>>(desc_dev.get());
        detail::check_launch(fn, "restarts_kernel");

        std::vector<unsigned char> host(results.used);
        result_mem.download(host.data(), host.size(), fn);
        std::vector<core::KMeansRestartResult> out(tasks.size());
        for (std::size_t t = 0; t < tasks.size(); ++t) {
          const Offsets& o = off[t];
          const std::size_t kd = static_cast<std::size_t>(tasks[t].k) * d;
          out[t].inertia = *reinterpret_cast<const double*>(host.data() + o.inertia);
          out[t].iterations = *reinterpret_cast<const int*>(host.data() + o.iterations);
          const int* l = reinterpret_cast<const int*>(host.data() + o.labels);
          out[t].labels.assign(l, l + n);
          const float* c = reinterpret_cast<const float*>(host.data() + o.centres);
          out[t].centres.assign(c, c + kd);
        }
        return out;
      });
}

}  // namespace p2sam::cuda
