// Cosine-similarity maps between part prototypes and target features, and the prompt
// points read off them (docs/algorithm.md §2.3 target normalisation, §2.5 positives, §2.6 negatives).
//
// The chain per map, as the authors run it with PyTorch (all bilinear, align_corners
// false, no antialias, float32):
//   S = P·t  [64,64] -> ×4 [256,256] -> [1024,1024] -> crop [:new_h,:new_w] -> [H,W].
// Every resize here reproduces PyTorch's kernel arithmetic (see TorchRowResampler), so
// the maps match the reference up to the rounding of the 256-term dot products.
//
// Point conventions: a point is the flat row-major index idx of the H×W map turned into
// x = idx % W, y = idx / W (original-image pixels). Ties resolve to the FIRST index in
// row-major order with the extreme value, like torch.argmax/argmin on the flattened map.
#pragma once

#include <cstdint>
#include <vector>

#include "geometry.hpp"

namespace p2sam::core {

// embedding: channel-major [256, 64, 64]. Returns the same layout with every cell's
// 256-vector divided by its L2 norm (norm accumulated in double, division in float32).
// A cell whose norm is zero stays all-zero instead of becoming NaN (0/0 in the
// reference implementation). Throws INVALID_ARGUMENT on non-finite input.
std::vector<float> normalize_target_features(const float* embedding, int threads = 0);

// count prototypes (row-major [count, 256]) against normalised target features
// ([256, 4096] channel-major) -> [count, 4096] raw 64×64 similarity maps.
std::vector<float> similarity_maps64(const float* target_normalized, const float* prototypes, int count,
                                     int threads = 0);

// The upsampling chain for one 64×64 map -> info.orig_h × info.orig_w (row-major).
// For tests and debugging; select_points never materialises this.
std::vector<float> upsample_similarity(const float* map64, const ResizeInfo& info, int threads = 0);

// One group of prototypes of one candidate (e.g. the k foreground parts, or the kb
// background parts). prototypes: row-major [count, 256], unit norm (not re-normalised).
struct PointRequest {
  const float* prototypes = nullptr;
  int count = 0;
  // Natural-mode negative: also return the argmin of the mean of this group's maps.
  bool want_mean_argmin = false;
};

struct MapPoint {
  int x = 0, y = 0;  // original-image pixels
  float value = 0;   // the map value there (similarity, or mean similarity)
};

struct PointSet {
  std::vector<MapPoint> argmax;  // one per prototype, in prototype order
  bool has_mean_argmin = false;
  MapPoint mean_argmin;  // valid when has_mean_argmin
};

// Runs the chain for every prototype of every request and returns, per request in
// order, the argmax point of each map and optionally the argmin of the mean map.
// The mean is taken over the final H×W maps (sum in prototype order, then divided by
// count in float32), i.e. exactly "the mean of the part maps" of docs/algorithm.md §2.6, not a mean
// formed at 64×64 first. A request with count == 0 (e.g. kb = 0) yields an empty set;
// want_mean_argmin with count == 0 is an error.
// info is the target's longest_side(W, H). target_normalized comes from
// normalize_target_features.
std::vector<PointSet> select_points(const float* target_normalized, const ResizeInfo& info,
                                    const std::vector<PointRequest>& requests, int threads = 0);

}  // namespace p2sam::core
