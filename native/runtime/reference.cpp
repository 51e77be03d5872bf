#include "reference.hpp"

#include <chrono>
#include <string>

#include "cuda/cuda_backend.hpp"
#include "cuda/kernels.hpp"
#include "errors.hpp"
#include "prototypes.hpp"
#include "reference_grid.hpp"

namespace p2sam::runtime {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int> range(int a, int b) {
  std::vector<int> out;
  for (int k = a; k <= b; ++k) out.push_back(k);
  return out;
}

// One batched k-means over `ks` (all ≥ 1); the kept sets go to `kept`, the k larger
// than the number of features to `skipped`.
void cluster(const std::vector<float>& features, int n, const std::vector<int>& ks, const ReferenceOptions& o,
             std::vector<ReferencePrototypes>& kept, std::vector<int>& skipped) {
  if (ks.empty()) return;
  const std::size_t d = core::kEmbedDim;
  // The CUDA k-means implements only the project's own streams; scikit-learn's seeding
  // runs on the CPU. A 'cuda' request on a machine without a usable device still fails,
  // as every GPU call does.
  if (o.gpu_kmeans && !cuda::device_status().available)
    throw core::CoreError("BACKEND_UNAVAILABLE", "createReference: " + cuda::device_status().reason);
  const bool on_gpu = o.gpu_kmeans && o.kmeans.seeding == core::KMeansSeeding::P2sam;
  std::vector<core::PrototypeSet> sets =
      on_gpu ? core::prototypes_from_clusters(features.data(), std::size_t(n), d,
                                              cuda::gpu_kmeans_batch(features.data(), std::size_t(n), d, ks, o.kmeans))
             : core::part_prototypes(features.data(), std::size_t(n), d, ks, o.kmeans);
  for (core::PrototypeSet& s : sets) {
    if (s.skipped)
      skipped.push_back(s.k);
    else
      kept.push_back({s.k, std::move(s.prototypes), s.inertia});
  }
}

}  // namespace

std::shared_ptr<const Reference> build_reference(const Embedding& embedding, const std::uint8_t* mask, int width,
                                                 int height, const ReferenceOptions& o, ReferenceTimings* timings) {
  if (width != embedding.orig_w || height != embedding.orig_h)
    throw core::invalid_argument("the reference mask must have the size of the embedded image");
  if (o.parts_min < 1 || o.parts_max < o.parts_min || o.negatives_min < 0 || o.negatives_max < o.negatives_min)
    throw core::invalid_argument("reference part / negative ranges must be ordered, parts ≥ 1, negatives ≥ 0");
  const std::size_t pixels = std::size_t(width) * std::size_t(height);
  std::size_t foreground_pixels = 0;
  for (std::size_t i = 0; i < pixels; ++i) foreground_pixels += mask[i] != 0;
  if (foreground_pixels == 0)
    throw core::CoreError("EMPTY_REFERENCE",
                          "the reference mask is empty (no non-zero pixel): there is nothing to learn the object from");

  auto t0 = std::chrono::steady_clock::now();
  auto ref = std::make_shared<Reference>();
  core::ReferenceGrid grid = core::reference_grid(mask, width, height, o.threads);
  if (grid.fg_count == 0 && foreground_pixels == pixels)
    throw core::CoreError("EMPTY_REFERENCE",
                          "the reference mask covers the whole image: P2SAM centres the mask between its minimum and "
                          "maximum (docs/algorithm.md §2.2), "
                          "so a mask with no background pixel selects no feature cell; crop the reference image so the "
                          "object does not fill it");
  if (grid.fg_count == 0)
    throw core::CoreError("EMPTY_REFERENCE",
                          "the reference mask (" + std::to_string(foreground_pixels) +
                              " pixels) covers no 16×16 feature cell at SAM's 1024 scale once resized; "
                              "use a larger mask or a tighter crop of the image");
  ref->foreground = core::gather_features(embedding.data.data(), grid.cells.data(), true);
  const bool medical = o.mode == SegmentMode::Medical;
  // Natural mode takes its negatives from the target's similarity maps, so the
  // background features are needed only for medical mode's background prototypes.
  std::vector<float> background =
      medical ? core::gather_features(embedding.data.data(), grid.cells.data(), false) : std::vector<float>{};
  if (timings) timings->features_ms = ms_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  cluster(ref->foreground, grid.fg_count, range(o.parts_min, o.parts_max), o, ref->part_sets, ref->skipped_parts);
  if (medical) {
    std::vector<int> positive;
    for (int kb : range(o.negatives_min, o.negatives_max))
      if (kb > 0) positive.push_back(kb);
    cluster(background, grid.bg_count, positive, o, ref->negative_sets, ref->skipped_negatives);
    for (int kb : range(o.negatives_min, o.negatives_max)) {
      bool kept = kb == 0;
      for (const ReferencePrototypes& s : ref->negative_sets) kept = kept || s.k == kb;
      if (kept) ref->negative_counts.push_back(kb);
    }
  } else {
    ref->negative_counts = {o.negatives_min};
  }
  if (ref->part_sets.empty() || ref->negative_counts.empty())
    throw core::CoreError("EMPTY_REFERENCE", "the reference has " + std::to_string(grid.fg_count) + " foreground and " +
                                                 std::to_string(grid.bg_count) +
                                                 " background feature cells, fewer than every requested part count (" +
                                                 std::to_string(o.parts_min) + ".." + std::to_string(o.parts_max) +
                                                 ") or background count; lower options.parts / options.negatives");
  if (timings) timings->prototypes_ms = ms_since(t1);

  ref->mode = o.mode;
  ref->width = width;
  ref->height = height;
  ref->grid = std::move(grid.cells);
  ref->foreground_cells = grid.fg_count;
  ref->background_cells = grid.bg_count;
  ref->seed = o.kmeans.seed;
  ref->encoder_identity = o.encoder_identity;
  return ref;
}

}  // namespace p2sam::runtime
