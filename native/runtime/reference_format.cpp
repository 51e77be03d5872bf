#include "reference_format.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "errors.hpp"
#include "reference_grid.hpp"

namespace p2sam::runtime {

namespace {

constexpr char kMagic[8] = {'P', '2', 'S', 'A', 'M', 'R', 'E', 'F'};
constexpr std::size_t kHeader = 8 + 4 + 8;
constexpr int kMaxSide = 32768;

std::uint64_t fnv1a(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Little-endian writes by value, so the file is the same on every host.
class Writer {
 public:
  std::vector<std::uint8_t> bytes;
  void u8(std::uint8_t v) { bytes.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) bytes.push_back(std::uint8_t(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) bytes.push_back(std::uint8_t(v >> (8 * i)));
  }
  void i32(int v) { u32(static_cast<std::uint32_t>(v)); }
  void f64(double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, 8);
    u64(b);
  }
  void floats(const std::vector<float>& v) {
    for (float f : v) {
      std::uint32_t b;
      std::memcpy(&b, &f, 4);
      u32(b);
    }
  }
  void ints(const std::vector<int>& v) {
    u32(std::uint32_t(v.size()));
    for (int x : v) i32(x);
  }
  void sets(const std::vector<ReferencePrototypes>& sets) {
    u32(std::uint32_t(sets.size()));
    for (const ReferencePrototypes& s : sets) {
      i32(s.k);
      f64(s.inertia);
      floats(s.prototypes);
    }
  }
};

[[noreturn]] void invalid(const std::string& why) {
  throw core::CoreError("REFERENCE_DATA_INVALID", "the reference data is not a valid saved reference: " + why);
}

class Reader {
 public:
  Reader(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  std::size_t left() const { return n_ - at_; }
  const std::uint8_t* take(std::size_t n, const char* what) {
    if (n > left()) invalid(std::string("it ends inside ") + what);
    const std::uint8_t* q = p_ + at_;
    at_ += n;
    return q;
  }
  std::uint8_t u8(const char* what) { return *take(1, what); }
  std::uint32_t u32(const char* what) {
    const std::uint8_t* q = take(4, what);
    return std::uint32_t(q[0]) | std::uint32_t(q[1]) << 8 | std::uint32_t(q[2]) << 16 | std::uint32_t(q[3]) << 24;
  }
  std::uint64_t u64(const char* what) {
    const std::uint8_t* q = take(8, what);
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | q[i];
    return v;
  }
  int i32(const char* what) { return static_cast<int>(u32(what)); }
  double f64(const char* what) {
    std::uint64_t b = u64(what);
    double v;
    std::memcpy(&v, &b, 8);
    return v;
  }
  std::vector<float> floats(std::size_t count, const char* what) {
    if (count > left() / 4) invalid(std::string("it ends inside ") + what);
    std::vector<float> v(count);
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t b = u32(what);
      std::memcpy(&v[i], &b, 4);
      if (!std::isfinite(v[i])) invalid(std::string(what) + " holds a non-finite value");
    }
    return v;
  }
  std::vector<int> ints(const char* what, int lo, int hi) {
    std::uint32_t count = u32(what);
    if (count > left() / 4) invalid(std::string("it ends inside ") + what);
    std::vector<int> v(count);
    for (int& x : v) {
      x = i32(what);
      if (x < lo || x > hi)
        invalid(std::string(what) + " holds " + std::to_string(x) + ", outside " + std::to_string(lo) + ".." +
                std::to_string(hi));
    }
    return v;
  }
  std::vector<ReferencePrototypes> sets(const char* what, int max_k) {
    std::uint32_t count = u32(what);
    if (count > 4096) invalid(std::string(what) + ": too many sets");
    std::vector<ReferencePrototypes> out(count);
    int previous = 0;
    for (ReferencePrototypes& s : out) {
      s.k = i32(what);
      if (s.k <= previous || s.k > max_k)
        invalid(std::string(what) + ": k = " + std::to_string(s.k) + " is not ascending within 1.." +
                std::to_string(max_k));
      previous = s.k;
      s.inertia = f64(what);
      if (!std::isfinite(s.inertia) || s.inertia < 0) invalid(std::string(what) + ": inertia must be finite and ≥ 0");
      s.prototypes = floats(std::size_t(s.k) * core::kEmbedDim, what);
      // Prototypes are unit rows (or all zero for a zero mean): anything else would
      // silently change the similarity maps.
      for (int r = 0; r < s.k; ++r) {
        double sq = 0;
        for (int c = 0; c < core::kEmbedDim; ++c)
          sq += double(s.prototypes[std::size_t(r) * core::kEmbedDim + c]) *
                s.prototypes[std::size_t(r) * core::kEmbedDim + c];
        if (sq != 0 && std::fabs(std::sqrt(sq) - 1.0) > 1e-3)
          invalid(std::string(what) + ": a prototype row is not unit-norm");
      }
    }
    return out;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t at_ = 0;
};

}  // namespace

std::vector<std::uint8_t> serialize_reference(const Reference& r) {
  Writer payload;
  payload.u8(r.mode == SegmentMode::Medical ? 1 : 0);
  payload.i32(r.width);
  payload.i32(r.height);
  payload.u64(r.seed);
  payload.u32(std::uint32_t(r.encoder_identity.size()));
  payload.bytes.insert(payload.bytes.end(), r.encoder_identity.begin(), r.encoder_identity.end());
  payload.bytes.insert(payload.bytes.end(), r.grid.begin(), r.grid.end());
  payload.i32(r.foreground_cells);
  payload.i32(r.background_cells);
  payload.floats(r.foreground);
  payload.sets(r.part_sets);
  payload.sets(r.negative_sets);
  payload.ints(r.negative_counts);
  payload.ints(r.skipped_parts);
  payload.ints(r.skipped_negatives);

  Writer out;
  out.bytes.assign(kMagic, kMagic + 8);
  out.u32(kReferenceFormatVersion);
  out.u64(payload.bytes.size());
  out.bytes.insert(out.bytes.end(), payload.bytes.begin(), payload.bytes.end());
  out.u64(fnv1a(payload.bytes.data(), payload.bytes.size()));
  return std::move(out.bytes);
}

std::shared_ptr<const Reference> deserialize_reference(const std::uint8_t* data, std::size_t size) {
  if (size < kHeader + 8 || std::memcmp(data, kMagic, 8) != 0)
    invalid("it does not start with the P2SAMREF signature (was it written by reference.toData()?)");
  Reader head(data + 8, kHeader - 8);
  const std::uint32_t version = head.u32("the header");
  if (version == 0 || version > kReferenceFormatVersion)
    throw core::CoreError("REFERENCE_VERSION_UNSUPPORTED", "the reference data has format version " +
                                                               std::to_string(version) + "; this build reads version " +
                                                               std::to_string(kReferenceFormatVersion) +
                                                               " (update p2sam-native or recreate the reference)");
  const std::uint64_t length = head.u64("the header");
  if (length != size - kHeader - 8)
    invalid("its header announces " + std::to_string(length) + " payload bytes but " +
            std::to_string(size - kHeader - 8) + " follow (truncated or padded)");
  const std::uint8_t* payload = data + kHeader;
  Reader sum(payload + length, 8);
  if (sum.u64("the checksum") != fnv1a(payload, std::size_t(length)))
    invalid("its checksum does not match (the data is corrupt)");

  Reader in(payload, std::size_t(length));
  auto r = std::make_shared<Reference>();
  const std::uint8_t mode = in.u8("the mode");
  if (mode > 1) invalid("unknown mode " + std::to_string(mode));
  r->mode = mode == 1 ? SegmentMode::Medical : SegmentMode::Natural;
  r->width = in.i32("the width");
  r->height = in.i32("the height");
  if (r->width < 1 || r->height < 1 || r->width > kMaxSide || r->height > kMaxSide) invalid("image size out of range");
  r->seed = in.u64("the seed");
  const std::uint32_t id_len = in.u32("the encoder identity");
  const std::uint8_t* id = in.take(id_len, "the encoder identity");
  r->encoder_identity.assign(reinterpret_cast<const char*>(id), id_len);
  const std::uint8_t* grid = in.take(core::kGridCells, "the grid");
  r->grid.assign(grid, grid + core::kGridCells);
  int ones = 0;
  for (std::uint8_t c : r->grid) {
    if (c > 1) invalid("a grid cell is neither 0 nor 1");
    ones += c;
  }
  r->foreground_cells = in.i32("the cell counts");
  r->background_cells = in.i32("the cell counts");
  if (r->foreground_cells != ones || r->foreground_cells < 1 || r->background_cells != core::kGridCells - ones)
    invalid("its cell counts do not match its grid");
  r->foreground = in.floats(std::size_t(r->foreground_cells) * core::kEmbedDim, "the foreground features");
  r->part_sets = in.sets("the part prototypes", r->foreground_cells);
  r->negative_sets = in.sets("the background prototypes", r->background_cells);
  r->negative_counts = in.ints("the negative counts", 0, core::kGridCells);
  r->skipped_parts = in.ints("the skipped part counts", 1, 1 << 20);
  r->skipped_negatives = in.ints("the skipped negative counts", 1, 1 << 20);
  if (in.left() != 0) invalid("bytes are left over after the last field");
  if (r->part_sets.empty() || r->negative_counts.empty()) invalid("it has no part prototypes or no negative count");
  // The retrieval loop pairs the i-th positive negative count with the i-th background
  // set (medical mode); natural mode takes its negatives from the target and has none.
  std::vector<int> positive;
  for (int kb : r->negative_counts)
    if (kb > 0) positive.push_back(kb);
  std::vector<int> set_ks;
  for (const ReferencePrototypes& s : r->negative_sets) set_ks.push_back(s.k);
  if (r->mode == SegmentMode::Medical ? set_ks != positive : !set_ks.empty())
    invalid("its negative counts do not match its background prototype sets");
  return r;
}

}  // namespace p2sam::runtime
