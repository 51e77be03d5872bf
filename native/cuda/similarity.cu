// Target normalisation, similarity maps, the upsampling chain of docs/algorithm.md §2.5 and the per-map
// extreme points on the GPU (docs/algorithm.md §2.3, §2.5, §2.6).
//
// Layout: maps64 [M, 4096] -> s256 [M, 256, 256] (the ×4 stage, materialised: 256 KiB a
// map) -> final H×W values evaluated per pixel straight from s256 (hd::chain_value
// computes the four 1024-frame crop values a pixel needs), fused with the reductions.
// No 1024² or H×W plane is ever stored, so memory is O(M·256²) whatever the image size.
// Every value is the same float expression as the core's, so the points are identical.
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "device_util.cuh"
#include "hd_math.hpp"
#include "kernels.hpp"
#include "reference_grid.hpp"

namespace p2sam::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void normalize_kernel(const float* emb, float* out, float* norms, int* bad) {
  const int cell = blockIdx.x * blockDim.x + threadIdx.x;
  if (cell >= core::kGridCells) return;
  const double acc = hd::cell_norm_sq(emb, cell, core::kEmbedDim, core::kGridCells);
  bad[cell] = !hd::d_isfinite(acc);
  const float norm = hd::cell_norm_from_sq(acc);
  norms[cell] = norm;
  for (int c = 0; c < core::kEmbedDim; ++c) {
    const std::size_t q = static_cast<std::size_t>(c) * core::kGridCells + cell;
    out[q] = hd::normalised_value(emb[q], norm);
  }
}

// grid (16, M): one thread per cell of one map.
__global__ void maps64_kernel(const float* target, const float* protos, float* maps) {
  const int cell = blockIdx.x * blockDim.x + threadIdx.x;
  const int m = blockIdx.y;
  if (cell >= core::kGridCells) return;
  maps[static_cast<std::size_t>(m) * core::kGridCells + cell] = hd::similarity_cell(
      target, protos + static_cast<std::size_t>(m) * core::kEmbedDim, cell, core::kEmbedDim, core::kGridCells);
}

// grid (256, M): the ×4 stage, one thread per output cell.
__global__ void upsample4_kernel(const float* maps, float* s256) {
  const int m = blockIdx.y;
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;  // < 65536
  const int y = idx / 256, x = idx % 256;
  s256[static_cast<std::size_t>(m) * 65536 + idx] =
      hd::resize_value(maps + static_cast<std::size_t>(m) * core::kGridCells, core::kGridSide, core::kGridSide,
                       core::kGridSide, 256, 256, y, x);
}

struct Geo {
  int new_w, new_h, orig_w, orig_h;
};

// Block-wide extreme of (value, index) pairs with the first-index tie rule; the result
// is valid in thread 0.
template <bool kMax>
__device__ void block_extreme(float& v, long long& idx, float* sv, long long* si) {
  const int tid = threadIdx.x;
  sv[tid] = v;
  si[tid] = idx;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) {
      const float ov = sv[tid + s];
      const long long oi = si[tid + s];
      const bool take =
          oi >= 0 && (kMax ? hd::better_max(ov, oi, sv[tid], si[tid]) : hd::better_min(ov, oi, sv[tid], si[tid]));
      if (take) {
        sv[tid] = ov;
        si[tid] = oi;
      }
    }
    __syncthreads();
  }
  v = sv[0];
  idx = si[0];
}

// grid (B, M): per-block argmax of map m over the pixels the block strides over.
__global__ void argmax_kernel(const float* s256, Geo g, float* part_v, long long* part_i) {
  __shared__ float sv[kThreads];
  __shared__ long long si[kThreads];
  const int m = blockIdx.y;
  const float* plane = s256 + static_cast<std::size_t>(m) * 65536;
  const long long total = static_cast<long long>(g.orig_w) * g.orig_h;
  float best = 0.0f;
  long long best_i = -1;
  for (long long p = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; p < total;
       p += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int y = static_cast<int>(p / g.orig_w), x = static_cast<int>(p % g.orig_w);
    const float v = hd::chain_value(plane, g.new_w, g.new_h, g.orig_w, g.orig_h, y, x);
    if (hd::better_max(v, p, best, best_i)) {
      best = v;
      best_i = p;
    }
  }
  block_extreme<true>(best, best_i, sv, si);
  if (threadIdx.x == 0) {
    part_v[static_cast<std::size_t>(m) * gridDim.x + blockIdx.x] = best;
    part_i[static_cast<std::size_t>(m) * gridDim.x + blockIdx.x] = best_i;
  }
}

// grid (B, R): argmin of the mean of maps [first, first + count) of group r, the mean
// formed as the core does (sum in prototype order, then one float32 division).
__global__ void mean_argmin_kernel(const float* s256, Geo g, const int* first, const int* count, float* part_v,
                                   long long* part_i) {
  __shared__ float sv[kThreads];
  __shared__ long long si[kThreads];
  const int r = blockIdx.y;
  const int f = first[r], c = count[r];
  const float count_f = static_cast<float>(c);
  const long long total = static_cast<long long>(g.orig_w) * g.orig_h;
  float best = 0.0f;
  long long best_i = -1;
  for (long long p = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; p < total;
       p += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int y = static_cast<int>(p / g.orig_w), x = static_cast<int>(p % g.orig_w);
    float sum = 0.0f;
    for (int q = 0; q < c; ++q) {
      const float v =
          hd::chain_value(s256 + static_cast<std::size_t>(f + q) * 65536, g.new_w, g.new_h, g.orig_w, g.orig_h, y, x);
      sum = q == 0 ? v : hd::f_add(sum, v);
    }
    const float v = sum / count_f;
    if (hd::better_min(v, p, best, best_i)) {
      best = v;
      best_i = p;
    }
  }
  block_extreme<false>(best, best_i, sv, si);
  if (threadIdx.x == 0) {
    part_v[static_cast<std::size_t>(r) * gridDim.x + blockIdx.x] = best;
    part_i[static_cast<std::size_t>(r) * gridDim.x + blockIdx.x] = best_i;
  }
}

void check_info(const char* fn, const core::ResizeInfo& info) {
  if (info.orig_w < 1 || info.orig_h < 1 || info.orig_w > core::kMaxImageSide || info.orig_h > core::kMaxImageSide)
    throw core::invalid_argument(std::string(fn) + ": info.orig_w/orig_h must be in 1.." +
                                 std::to_string(core::kMaxImageSide) + ", got " + std::to_string(info.orig_w) + "x" +
                                 std::to_string(info.orig_h));
  if (info.new_w < 1 || info.new_h < 1 || info.new_w > core::kSamFrame || info.new_h > core::kSamFrame)
    throw core::invalid_argument(std::string(fn) + ": info.new_w/new_h must be in 1..1024, got " +
                                 std::to_string(info.new_w) + "x" + std::to_string(info.new_h));
}

}  // namespace

std::vector<float> gpu_normalize_target_features(const float* embedding) {
  const char* fn = "gpu_normalize_target_features";
  detail::require_device(fn);
  if (embedding == nullptr) throw core::invalid_argument(std::string(fn) + ": embedding must not be null");
  const std::size_t total = static_cast<std::size_t>(core::kEmbedDim) * core::kGridCells;
  auto emb = detail::to_device(embedding, total, fn);
  detail::DeviceBuffer<float> out(total, fn), norms(core::kGridCells, fn);
  detail::DeviceBuffer<int> bad(core::kGridCells, fn);
  normalize_kernel<<<core::kGridCells / kThreads, kThreads>>>(emb.get(), out.get(), norms.get(), bad.get());
  detail::check_launch(fn, "normalize_kernel");
  std::vector<int> bad_h(core::kGridCells);
  bad.download(bad_h.data(), bad_h.size(), fn);
  for (int i = 0; i < core::kGridCells; ++i)
    if (bad_h[i])
      throw core::invalid_argument(std::string(fn) + ": embedding must be finite; cell " + std::to_string(i) + " (x=" +
                                   std::to_string(i % core::kGridSide) + ", y=" + std::to_string(i / core::kGridSide) +
                                   ") has a NaN/infinite value or overflows");
  std::vector<float> host(total);
  out.download(host.data(), total, fn);
  return host;
}

std::vector<core::PointSet> gpu_select_points(const float* target_normalized, const core::ResizeInfo& info,
                                              const std::vector<core::PointRequest>& requests) {
  const char* fn = "gpu_select_points";
  detail::require_device(fn);
  if (target_normalized == nullptr)
    throw core::invalid_argument(std::string(fn) + ": target_normalized must not be null");
  check_info(fn, info);
  int total_maps = 0;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const core::PointRequest& q = requests[r];
    const std::string where = std::string(fn) + ": requests[" + std::to_string(r) + "]";
    if (q.count < 0) throw core::invalid_argument(where + ".count must be >= 0, got " + std::to_string(q.count));
    if (q.count > 0 && q.prototypes == nullptr) throw core::invalid_argument(where + ".prototypes must not be null");
    if (q.want_mean_argmin && q.count == 0)
      throw core::invalid_argument(where + ": want_mean_argmin needs at least one prototype, got count 0");
    if (q.count > 65535 - total_maps) throw core::invalid_argument(where + ".count: more than 65535 maps in one call");
    total_maps += q.count;
  }
  std::vector<core::PointSet> out(requests.size());
  for (std::size_t r = 0; r < requests.size(); ++r) {
    out[r].argmax.resize(requests[r].count);
    out[r].has_mean_argmin = requests[r].want_mean_argmin;
  }
  if (total_maps == 0) return out;

  // All prototypes of all requests, contiguous; request r's maps start at first[r].
  std::vector<float> protos(static_cast<std::size_t>(total_maps) * core::kEmbedDim);
  std::vector<int> first(requests.size());
  std::vector<int> mean_first, mean_count, mean_request;
  int at = 0;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    first[r] = at;
    for (int p = 0; p < requests[r].count; ++p)
      std::copy(requests[r].prototypes + static_cast<std::size_t>(p) * core::kEmbedDim,
                requests[r].prototypes + static_cast<std::size_t>(p + 1) * core::kEmbedDim,
                protos.begin() + static_cast<std::size_t>(at + p) * core::kEmbedDim);
    if (requests[r].want_mean_argmin) {
      mean_first.push_back(at);
      mean_count.push_back(requests[r].count);
      mean_request.push_back(static_cast<int>(r));
    }
    at += requests[r].count;
  }

  const std::size_t grid_total = static_cast<std::size_t>(core::kEmbedDim) * core::kGridCells;
  auto target = detail::to_device(target_normalized, grid_total, fn);
  auto protos_d = detail::to_device(protos.data(), protos.size(), fn);
  detail::DeviceBuffer<float> maps(static_cast<std::size_t>(total_maps) * core::kGridCells, fn);
  maps64_kernel<<<dim3(core::kGridCells / kThreads, total_maps), kThreads>>>(target.get(), protos_d.get(), maps.get());
  detail::check_launch(fn, "maps64_kernel");
  {
    // The core rejects non-finite similarities before upsampling; so do we (the maps are
    // small, checking them on the host costs less than a reduction kernel).
    std::vector<float> m(maps.size());
    maps.download(m.data(), m.size(), fn);
    for (float v : m)
      if (!std::isfinite(v))
        throw core::invalid_argument(std::string(fn) +
                                     ": target features and prototypes must be finite (a similarity came out " +
                                     (std::isnan(v) ? "NaN" : "infinite") + ")");
  }
  detail::DeviceBuffer<float> s256(static_cast<std::size_t>(total_maps) * 65536, fn);
  upsample4_kernel<<<dim3(65536 / kThreads, total_maps), kThreads>>>(maps.get(), s256.get());
  detail::check_launch(fn, "upsample4_kernel");

  const Geo geo{info.new_w, info.new_h, info.orig_w, info.orig_h};
  const std::size_t pixels = static_cast<std::size_t>(info.orig_w) * info.orig_h;
  const unsigned blocks = detail::blocks_for(pixels, kThreads, 1024);
  {
    detail::DeviceBuffer<float> pv(static_cast<std::size_t>(total_maps) * blocks, fn);
    detail::DeviceBuffer<long long> pi(pv.size(), fn);
    argmax_kernel<<<dim3(blocks, total_maps), kThreads>>>(s256.get(), geo, pv.get(), pi.get());
    detail::check_launch(fn, "argmax_kernel");
    std::vector<float> v(pv.size());
    std::vector<long long> i(pi.size());
    pv.download(v.data(), v.size(), fn);
    pi.download(i.data(), i.size(), fn);
    for (std::size_t r = 0; r < requests.size(); ++r)
      for (int p = 0; p < requests[r].count; ++p) {
        const std::size_t m = static_cast<std::size_t>(first[r] + p);
        float bv = 0.0f;
        long long bi = -1;
        for (unsigned b = 0; b < blocks; ++b) {
          const long long ci = i[m * blocks + b];
          if (ci >= 0 && hd::better_max(v[m * blocks + b], ci, bv, bi)) {
            bv = v[m * blocks + b];
            bi = ci;
          }
        }
        out[r].argmax[p] = {static_cast<int>(bi % info.orig_w), static_cast<int>(bi / info.orig_w), bv};
      }
  }
  if (!mean_first.empty()) {
    const int groups = static_cast<int>(mean_first.size());
    auto f_d = detail::to_device(mean_first.data(), mean_first.size(), fn);
    auto c_d = detail::to_device(mean_count.data(), mean_count.size(), fn);
    detail::DeviceBuffer<float> pv(static_cast<std::size_t>(groups) * blocks, fn);
    detail::DeviceBuffer<long long> pi(pv.size(), fn);
    mean_argmin_kernel<<<dim3(blocks, groups), kThreads>>>(s256.get(), geo, f_d.get(), c_d.get(), pv.get(), pi.get());
    detail::check_launch(fn, "mean_argmin_kernel");
    std::vector<float> v(pv.size());
    std::vector<long long> i(pi.size());
    pv.download(v.data(), v.size(), fn);
    pi.download(i.data(), i.size(), fn);
    for (int g = 0; g < groups; ++g) {
      float bv = 0.0f;
      long long bi = -1;
      for (unsigned b = 0; b < blocks; ++b) {
        const std::size_t q = static_cast<std::size_t>(g) * blocks + b;
        if (i[q] >= 0 && hd::better_min(v[q], i[q], bv, bi)) {
          bv = v[q];
          bi = i[q];
        }
      }
      out[mean_request[g]].mean_argmin = {static_cast<int>(bi % info.orig_w), static_cast<int>(bi / info.orig_w), bv};
    }
  }
  return out;
}

}  // namespace p2sam::cuda
