// The saved form of a Reference (reference.toData() / Reference.fromData), so a clinic
// can keep a patient's reference and segment new studies without the reference image.
//
// Layout, version 1, every number little-endian:
//   "P2SAMREF"  8 bytes magic
//   u32         format version (1)
//   u64         payload length in bytes
//   payload:
//     u8 mode (0 natural, 1 medical) · i32 width · i32 height · u64 seed
//     u32 len + UTF-8 encoder identity
//     4096 × u8 grid cells (0/1)
//     i32 foreground cells N · i32 background cells · N×256 f32 foreground features
//     2 × (u32 count, then per set: i32 k · f64 inertia · k×256 f32 prototypes)  parts, negatives
//     3 × (u32 count, then i32 values)  negative counts, skipped parts, skipped negatives
//   u64         FNV-1a 64 of the payload (catches truncation and bit rot)
//
// Reading validates everything a later stage trusts (sizes, cell counts, finite values,
// unit-norm prototypes, ascending k), so restored data can never become an out-of-bounds
// read or a NaN score: a bad file is CoreError REFERENCE_DATA_INVALID, a file from a
// newer format REFERENCE_VERSION_UNSUPPORTED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "reference.hpp"

namespace p2sam::runtime {

inline constexpr std::uint32_t kReferenceFormatVersion = 1;

std::vector<std::uint8_t> serialize_reference(const Reference& reference);

std::shared_ptr<const Reference> deserialize_reference(const std::uint8_t* data, std::size_t size);

}  // namespace p2sam::runtime
