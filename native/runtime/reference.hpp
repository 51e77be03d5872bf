// A prepared P2SAM reference (docs/algorithm.md §2.2–2.4, §2.6): the reference image's 64×64 cell
// grid, its N_ref × 256 foreground features (the retrieval distribution of §2.8) and
// every prototype set the retrieval loop will try.
//
// Ownership: built once by build_reference (or restored by deserialize_reference) and
// then immutable. The addon hands it to JS as a NativeReference holding a
// shared_ptr<const Reference>; every task that reads it copies that shared_ptr, so a
// JS dispose() while a segment() runs only drops one owner and the features stay alive
// until the last task finishes. Nothing of it is copied back into C++ per segment().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kmeans.hpp"
#include "model_runner.hpp"

namespace p2sam::runtime {

enum class SegmentMode { Natural, Medical };

struct ReferencePrototypes {
  int k = 0;
  std::vector<float> prototypes;  // k × 256, unit-norm rows (docs/algorithm.md §2.4)
  double inertia = 0.0;           // k-means inertia of the kept restart
};

struct Reference {
  SegmentMode mode = SegmentMode::Natural;
  int width = 0, height = 0;       // the reference image, original pixels
  std::vector<std::uint8_t> grid;  // 64×64 cells, 1 = foreground
  std::vector<float> foreground;   // foreground_cells × 256, unnormalised (docs/algorithm.md §2.3)
  int foreground_cells = 0;
  int background_cells = 0;
  std::vector<ReferencePrototypes> part_sets;      // ascending k
  std::vector<ReferencePrototypes> negative_sets;  // medical mode: background sets, ascending kb ≥ 1
  std::vector<int> negative_counts;                // kb values the retrieval loop tries (0 = none)
  std::vector<int> skipped_parts, skipped_negatives;
  std::uint64_t seed = 0;
  // Identifies the encoder (and normalisation) whose feature space the features live
  // in; written by the TS layer, compared there when a restored reference is used.
  std::string encoder_identity;
};

struct ReferenceOptions {
  SegmentMode mode = SegmentMode::Natural;
  int parts_min = 1, parts_max = 5;
  int negatives_min = 0, negatives_max = 0;
  core::KMeansOptions kmeans;
  bool gpu_kmeans = false;  // cluster with the CUDA kernels (label means stay on the CPU)
  int threads = 0;          // reference grid threads
  std::string encoder_identity;
};

struct ReferenceTimings {
  double features_ms = 0, prototypes_ms = 0;
};

// Grid, features and every prototype set in one call. Throws CoreError EMPTY_REFERENCE
// when the mask selects no feature cell or every requested part count is skipped.
std::shared_ptr<const Reference> build_reference(const Embedding& embedding, const std::uint8_t* mask, int width,
                                                 int height, const ReferenceOptions& options,
                                                 ReferenceTimings* timings = nullptr);

}  // namespace p2sam::runtime
