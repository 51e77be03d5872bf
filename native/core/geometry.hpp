// SAM-family image geometry: the longest-side resize, the two bilinear kernels the
// reference implementation goes through (PIL for uint8 images, PyTorch for float maps),
// encoder input preparation and point mapping between original pixels and the 1024
// frame. docs/algorithm.md §2.1, §2.5, §2.7, §3.
//
// Two different "bilinear" resizes exist on purpose:
//  * pil_resize_bilinear mirrors PIL's Image.resize(BILINEAR) on uint8 images. PIL
//    widens the triangle filter by the scale factor when shrinking (antialias) and
//    rounds back to uint8 between its horizontal and vertical passes.
//  * torch_resize_bilinear mirrors F.interpolate(mode='bilinear', align_corners=False,
//    antialias=False) on float maps: two taps per axis, no antialias, float32 maths.
// Using the wrong one moves reference-mask cells and prompt points, so callers must
// pick the one the authors used at each step (documented at each use site).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace p2sam::core {

// Longest side of SAM's input frame.
inline constexpr int kSamFrame = 1024;
// Largest accepted image side. Keeps every w*h*channels product far from overflow and
// PIL's 32-bit fixed-point sums exact; real inputs are orders of magnitude smaller.
inline constexpr int kMaxImageSide = 1 << 15;

// Original size and the size after resizing the longest side to `target`.
struct ResizeInfo {
  int orig_w = 0, orig_h = 0;
  int new_w = 0, new_h = 0;
};

// SAM's get_preprocess_shape: scale = target/max(h,w) in double, new = int(dim*scale+0.5).
// Differs from SAM only for slivers thinner than 1:2048, whose short side would round to
// 0 there (an empty tensor); here it is kept at 1 pixel.
ResizeInfo longest_side(int w, int h, int target = kSamFrame);

// PIL Image.resize(size, BILINEAR) for interleaved uint8 images with any channel count.
// src is h rows of w*channels bytes; the result is out_h rows of out_w*channels bytes.
// threads <= 0 means all hardware threads.
std::vector<std::uint8_t> pil_resize_bilinear(const std::uint8_t* src, int w, int h, int channels, int out_w, int out_h,
                                              int threads = 0);

// Interpolation plan for one axis of PyTorch's align_corners=false bilinear resize:
// out[d] = in[i0[d]]*w0[d] + in[i1[d]]*w1[d]. Only the first `count` outputs are planned
// (a crop of the output, count <= out_size; count < 0 means all), because the weights
// depend on the full in/out sizes, not on how much of the output is kept.
struct LinearAxis {
  int in_size = 0, out_size = 0;
  std::vector<int> i0, i1;
  std::vector<float> w0, w1;
};
LinearAxis torch_linear_axis(int in_size, int out_size, int count = -1);

// PyTorch's CPU kernel choice for 4-D bilinear: outputs with out_h + out_w <= 128 take
// the channels-last kernel, which sums the four combined weights left to right
// (x00*w00 + x01*w01 + x10*w10 + x11*w11); larger outputs take the generic kernel,
// which interpolates along the width first and then along the height
// ((x00*w0 + x01*w1)*h0 + (x10*w0 + x11*w1)*h1). The two differ only in float rounding;
// following the same choice keeps threshold decisions (> 0) identical near zero.
inline bool torch_uses_combined_weights(int out_h, int out_w) { return out_h + out_w <= 128; }

// Produces output rows of one plane of a PyTorch bilinear resize, one row at a time,
// with exactly the kernel's arithmetic (see torch_uses_combined_weights). In the
// generic form each width-interpolated input row is computed once and kept while
// consecutive output rows need it, so a caller that walks rows in increasing order
// pays one horizontal pass per input row instead of two per output row.
//
// The input rows come either from memory or from an upstream resampler, which lets a
// chain of resizes (64 -> 256 -> 1024-crop -> H×W) stream row by row without ever
// materialising the intermediate planes. Every value is still computed by the same
// float expression as the materialised chain, so the results are bit-identical.
// Not thread-safe: one instance (and one chain) per worker. The axes, the source and
// the upstream resampler must outlive it and must not move.
class TorchRowResampler {
 public:
  // src: rows->in_size rows of src_stride floats (at least cols->in_size used per row).
  TorchRowResampler(const float* src, std::size_t src_stride, const LinearAxis* rows, const LinearAxis* cols);
  // Input row r is upstream->row(r); upstream's output width must be cols->in_size.
  TorchRowResampler(TorchRowResampler* upstream, const LinearAxis* rows, const LinearAxis* cols);
  TorchRowResampler(const TorchRowResampler&) = delete;
  TorchRowResampler& operator=(const TorchRowResampler&) = delete;

  // Writes output row y (0 <= y < rows->i0.size()) to out (width() floats).
  void row(int y, float* out);
  int width() const { return static_cast<int>(cols_->i0.size()); }

 private:
  const float* input_row(int r, int scratch);
  const float* fetch(int r, int keep);
  void width_pass(const float* in, float* dst) const;

  const float* src_ = nullptr;
  std::size_t stride_ = 0;
  TorchRowResampler* up_ = nullptr;
  const LinearAxis* rows_;
  const LinearAxis* cols_;
  bool combined_;
  std::vector<float> in_[2];    // upstream rows (upstream mode only)
  std::vector<float> slot_[2];  // width-interpolated rows (generic kernel only)
  int tag_[2] = {-1, -1};
};

// F.interpolate(bilinear, align_corners=False, antialias=False) for planar float32
// [channels, in_h, in_w] -> [channels, out_h, out_w].
std::vector<float> torch_resize_bilinear(const float* src, int channels, int in_h, int in_w, int out_h, int out_w,
                                         int threads = 0);

// Interleaved uint8 with 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels ->
// interleaved RGB. Grey is replicated; alpha is dropped (not composited), as the
// authors' loaders (cv2/PIL convert('RGB') of opaque images) do.
std::vector<std::uint8_t> to_rgb(const std::uint8_t* pixels, int w, int h, int channels);

// The image as the SAM encoders expect it before normalisation: RGB, PIL-bilinear
// resized so the longest side is 1024. rgb holds info.new_h * info.new_w * 3 bytes.
struct EncoderImage {
  ResizeInfo info;
  std::vector<std::uint8_t> rgb;
};
EncoderImage resize_for_encoder(const std::uint8_t* pixels, int w, int h, int channels, int threads = 0);

// For encoders with input `input_image f32[new_h,new_w,3]` (samexporter): RGB 0..255 HWC;
// normalisation and padding happen inside the graph.
std::vector<float> encoder_input_hwc(const EncoderImage& image);

enum class Normalization {
  // (x - [123.675,116.28,103.53]) / [58.395,57.12,57.375] per channel, float32.
  kSam,
  // MedSAM: (x - min) / max(max - min, 1e-8) over the whole resized image (all
  // channels, padding excluded), in double, so a constant image becomes all zeros.
  kMinMax,
};

// For encoders with input f32[1,3,1024,1024]: normalised CHW, zero-padded bottom/right.
std::vector<float> encoder_input_nchw(const EncoderImage& image, Normalization norm);

struct PointF {
  float x = 0, y = 0;
};
// Original pixels -> 1024 frame, as SAM's apply_coords: x * (new_w / orig_w) in double,
// then rounded to float32 (the decoder input dtype).
PointF to_model_frame(double x, double y, const ResizeInfo& info);
// 1024 frame -> original pixels: x * (orig_w / new_w).
PointF from_model_frame(double x, double y, const ResizeInfo& info);

}  // namespace p2sam::core
