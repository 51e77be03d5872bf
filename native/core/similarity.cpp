#include "similarity.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "errors.hpp"
#include "parallel.hpp"
#include "reference_grid.hpp"

namespace p2sam::core {

namespace {

constexpr int kStage1Side = 256;  // the ×4 upsample of the 64 grid (SAM's low-res mask size)

// Maps are upsampled in batches so the chain state a worker touches for one output row
// (a few rows per stage per map) stays in its private caches even when medical mode
// asks for ~50 background maps at once.
constexpr int kBatchMaps = 8;

void check_info(const char* fn, const ResizeInfo& info) {
  if (info.orig_w < 1 || info.orig_h < 1 || info.orig_w > kMaxImageSide || info.orig_h > kMaxImageSide) {
    throw invalid_argument(std::string(fn) + ": info.orig_w/orig_h must be in 1.." + std::to_string(kMaxImageSide) +
                           ", got " + std::to_string(info.orig_w) + "x" + std::to_string(info.orig_h));
  }
  if (info.new_w < 1 || info.new_h < 1 || info.new_w > kSamFrame || info.new_h > kSamFrame) {
    throw invalid_argument(std::string(fn) + ": info.new_w/new_h must be in 1..1024, got " +
                           std::to_string(info.new_w) + "x" + std::to_string(info.new_h));
  }
}

int resolve_threads(int threads) { return threads <= 0 ? default_thread_count() : threads; }

// The per-map chain 64 -> 256 -> 1024-crop -> H×W as streaming row resamplers. Only
// the crop SAM's postprocessing keeps is ever computed (the weights depend on the full
// 1024 size, not on the crop), and no intermediate plane is stored: each worker pulls
// output rows in increasing order and every stage caches the two rows it needs, so the
// per-map state is a few rows (kilobytes) instead of a 4 MiB 1024-frame plane.
struct ChainAxes {
  LinearAxis up4, crop_y, crop_x, out_y, out_x;
  explicit ChainAxes(const ResizeInfo& info)
      : up4(torch_linear_axis(kGridSide, kStage1Side)),
        crop_y(torch_linear_axis(kStage1Side, kSamFrame, info.new_h)),
        crop_x(torch_linear_axis(kStage1Side, kSamFrame, info.new_w)),
        out_y(torch_linear_axis(info.new_h, info.orig_h)),
        out_x(torch_linear_axis(info.new_w, info.orig_w)) {}
};

struct MapChain {
  TorchRowResampler s256, crop, out;  // declaration order = construction order
  MapChain(const float* map64, const ChainAxes& ax)
      : s256(map64, kGridSide, &ax.up4, &ax.up4),
        crop(&s256, &ax.crop_y, &ax.crop_x),
        out(&crop, &ax.out_y, &ax.out_x) {}
};

void check_finite_maps(const char* fn, const std::vector<float>& maps) {
  for (float v : maps) {
    if (!std::isfinite(v)) {
      throw invalid_argument(std::string(fn) +
                             ": target features and prototypes must be finite (a similarity came out " +
                             (std::isnan(v) ? "NaN" : "infinite") + ")");
    }
  }
}

struct Extreme {
  float value = 0;
  long long index = -1;  // -1: nothing seen yet
};

}  // namespace

std::vector<float> normalize_target_features(const float* embedding, int threads) {
  if (embedding == nullptr) throw invalid_argument("normalize_target_features: embedding must not be null");
  std::vector<float> out(static_cast<std::size_t>(kEmbedDim) * kGridCells);
  std::vector<float> norms(kGridCells);
  std::vector<int> bad(kGridCells, 0);
  parallel_for(
      0, kGridCells, threads,
      [&](std::size_t b, std::size_t e, std::size_t) {
        std::vector<double> acc(e - b, 0.0);
        for (int c = 0; c < kEmbedDim; ++c) {
          const float* plane = embedding + static_cast<std::size_t>(c) * kGridCells;
          for (std::size_t i = b; i < e; ++i) acc[i - b] += static_cast<double>(plane[i]) * plane[i];
        }
        for (std::size_t i = b; i < e; ++i) {
          norms[i] = static_cast<float>(std::sqrt(acc[i - b]));
          bad[i] = !std::isfinite(acc[i - b]);
        }
      },
      256);
  for (int i = 0; i < kGridCells; ++i) {
    if (bad[i]) {
      throw invalid_argument("normalize_target_features: embedding must be finite; cell " + std::to_string(i) +
                             " (x=" + std::to_string(i % kGridSide) + ", y=" + std::to_string(i / kGridSide) +
                             ") has a NaN/infinite value or overflows");
    }
  }
  for (int c = 0; c < kEmbedDim; ++c) {
    const float* in = embedding + static_cast<std::size_t>(c) * kGridCells;
    float* o = out.data() + static_cast<std::size_t>(c) * kGridCells;
    for (int i = 0; i < kGridCells; ++i) o[i] = norms[i] > 0.0f ? in[i] / norms[i] : 0.0f;
  }
  return out;
}

std::vector<float> similarity_maps64(const float* target_normalized, const float* prototypes, int count, int threads) {
  if (target_normalized == nullptr) throw invalid_argument("similarity_maps64: target_normalized must not be null");
  if (count < 0) throw invalid_argument("similarity_maps64: count must be >= 0, got " + std::to_string(count));
  if (count > 0 && prototypes == nullptr) throw invalid_argument("similarity_maps64: prototypes must not be null");
  std::vector<float> maps(static_cast<std::size_t>(count) * kGridCells, 0.0f);
  // Channel-outer accumulation: each step is an axpy over 4096 contiguous cells, which
  // vectorises; the per-cell sum runs over channels 0..255 in order.
  parallel_for(0, static_cast<std::size_t>(count), threads, [&](std::size_t b, std::size_t e, std::size_t) {
    for (std::size_t p = b; p < e; ++p) {
      float* s = maps.data() + p * kGridCells;
      const float* proto = prototypes + p * kEmbedDim;
      for (int c = 0; c < kEmbedDim; ++c) {
        const float w = proto[c];
        const float* t = target_normalized + static_cast<std::size_t>(c) * kGridCells;
        for (int i = 0; i < kGridCells; ++i) s[i] += w * t[i];
      }
    }
  });
  return maps;
}

std::vector<float> upsample_similarity(const float* map64, const ResizeInfo& info, int threads) {
  if (map64 == nullptr) throw invalid_argument("upsample_similarity: map64 must not be null");
  check_info("upsample_similarity", info);
  const ChainAxes axes(info);
  const int W = info.orig_w;
  std::vector<float> out(static_cast<std::size_t>(info.orig_h) * W);
  parallel_for(
      0, static_cast<std::size_t>(info.orig_h), threads,
      [&](std::size_t b, std::size_t e, std::size_t) {
        MapChain chain(map64, axes);
        for (std::size_t y = b; y < e; ++y) chain.out.row(static_cast<int>(y), out.data() + y * W);
      },
      8);
  return out;
}

std::vector<PointSet> select_points(const float* target_normalized, const ResizeInfo& info,
                                    const std::vector<PointRequest>& requests, int threads) {
  const char* fn = "select_points";
  if (target_normalized == nullptr) throw invalid_argument("select_points: target_normalized must not be null");
  check_info(fn, info);
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const PointRequest& q = requests[r];
    const std::string where = std::string(fn) + ": requests[" + std::to_string(r) + "]";
    if (q.count < 0) throw invalid_argument(where + ".count must be >= 0, got " + std::to_string(q.count));
    if (q.count > 0 && q.prototypes == nullptr) throw invalid_argument(where + ".prototypes must not be null");
    if (q.want_mean_argmin && q.count == 0) {
      throw invalid_argument(where + ": want_mean_argmin needs at least one prototype, got count 0");
    }
  }
  threads = resolve_threads(threads);
  const int W = info.orig_w, H = info.orig_h;

  // Flatten (request, prototype) pairs and cut them into batches. A request that wants
  // its mean map is never split: its maps' rows must be summed while they are in hand.
  struct MapRef {
    int request, proto;
  };
  std::vector<MapRef> maps;
  std::vector<std::pair<std::size_t, std::size_t>> batches;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const int n = requests[r].count;
    const std::size_t first = maps.size();
    for (int p = 0; p < n; ++p) maps.push_back({static_cast<int>(r), p});
    if (n == 0) continue;
    if (requests[r].want_mean_argmin) {
      if (!batches.empty() && batches.back().second == first &&
          batches.back().second - batches.back().first + n <= static_cast<std::size_t>(kBatchMaps)) {
        batches.back().second = maps.size();
      } else {
        batches.push_back({first, maps.size()});
      }
      continue;
    }
    for (std::size_t i = first; i < maps.size(); ++i) {
      if (!batches.empty() && batches.back().second == i &&
          batches.back().second - batches.back().first < static_cast<std::size_t>(kBatchMaps)) {
        ++batches.back().second;
      } else {
        batches.push_back({i, i + 1});
      }
    }
  }

  std::vector<PointSet> out(requests.size());
  for (std::size_t r = 0; r < requests.size(); ++r) {
    out[r].argmax.resize(requests[r].count);
    out[r].has_mean_argmin = requests[r].want_mean_argmin;
  }

  const ChainAxes axes(info);

  for (const auto& batch : batches) {
    const int m = static_cast<int>(batch.second - batch.first);
    // Prototypes of the batch, contiguous, for one similarity_maps64 call.
    std::vector<float> protos(static_cast<std::size_t>(m) * kEmbedDim);
    for (int j = 0; j < m; ++j) {
      const MapRef& ref = maps[batch.first + j];
      const float* src = requests[ref.request].prototypes + static_cast<std::size_t>(ref.proto) * kEmbedDim;
      std::copy(src, src + kEmbedDim, protos.begin() + static_cast<std::size_t>(j) * kEmbedDim);
    }
    const std::vector<float> maps64 = similarity_maps64(target_normalized, protos.data(), m, threads);
    check_finite_maps(fn, maps64);

    // The chains are fused with the reductions: each worker walks its rows in order, so
    // per-worker "first strictly better" winners combined in worker order give the
    // global first occurrence. No map is ever stored beyond a few rows.
    std::vector<std::vector<Extreme>> best(threads, std::vector<Extreme>(m));
    std::vector<std::vector<Extreme>> lowest(threads, std::vector<Extreme>(m));  // indexed by last map of a mean group
    parallel_for(
        0, static_cast<std::size_t>(H), threads,
        [&](std::size_t b, std::size_t e, std::size_t w) {
          std::vector<std::unique_ptr<MapChain>> chains;
          for (int j = 0; j < m; ++j)
            chains.push_back(
                std::make_unique<MapChain>(maps64.data() + static_cast<std::size_t>(j) * kGridCells, axes));
          std::vector<float> row(W), sum(W);
          std::vector<Extreme>& mine = best[w];
          std::vector<Extreme>& low = lowest[w];
          for (std::size_t y = b; y < e; ++y) {
            const long long base = static_cast<long long>(y) * W;
            for (int j = 0; j < m; ++j) {
              chains[j]->out.row(static_cast<int>(y), row.data());
              // Locals, not the Extreme in the vector: a float store there could alias
              // row[], which would force a reload per pixel.
              Extreme ex = mine[j];
              const float* rp = row.data();
              for (int x = 0; x < W; ++x) {
                if (ex.index < 0 || rp[x] > ex.value) {
                  ex.value = rp[x];
                  ex.index = base + x;
                }
              }
              mine[j] = ex;
              const MapRef& ref = maps[batch.first + j];
              const PointRequest& q = requests[ref.request];
              if (!q.want_mean_argmin) continue;
              // Mean over the final maps as a float32 tensor mean would do it: sum in
              // prototype order, then divide by the count.
              if (ref.proto == 0) {
                std::copy(row.begin(), row.end(), sum.begin());
              } else {
                for (int x = 0; x < W; ++x) sum[x] += row[x];
              }
              if (ref.proto == q.count - 1) {
                const float n = static_cast<float>(q.count);
                Extreme lo = low[j];
                for (int x = 0; x < W; ++x) {
                  const float v = sum[x] / n;
                  if (lo.index < 0 || v < lo.value) {
                    lo.value = v;
                    lo.index = base + x;
                  }
                }
                low[j] = lo;
              }
            }
          }
        },
        8);

    for (int j = 0; j < m; ++j) {
      const MapRef& ref = maps[batch.first + j];
      const PointRequest& q = requests[ref.request];
      Extreme hi, lo;
      for (int w = 0; w < threads; ++w) {
        const Extreme& a = best[w][j];
        if (a.index >= 0 && (hi.index < 0 || a.value > hi.value)) hi = a;
        const Extreme& c = lowest[w][j];
        if (c.index >= 0 && (lo.index < 0 || c.value < lo.value)) lo = c;
      }
      out[ref.request].argmax[ref.proto] = {static_cast<int>(hi.index % W), static_cast<int>(hi.index / W), hi.value};
      if (q.want_mean_argmin && ref.proto == q.count - 1) {
        out[ref.request].mean_argmin = {static_cast<int>(lo.index % W), static_cast<int>(lo.index / W), lo.value};
      }
    }
  }
  return out;
}

}  // namespace p2sam::core
