#include "geometry.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "errors.hpp"
#include "parallel.hpp"

namespace p2sam::core {

namespace {

void check_side(const char* fn, const char* param, int value) {
  if (value < 1 || value > kMaxImageSide) {
    throw invalid_argument(std::string(fn) + ": " + param + " must be an integer in 1.." +
                           std::to_string(kMaxImageSide) + ", got " + std::to_string(value));
  }
}

void check_pointer(const char* fn, const char* param, const void* p) {
  if (p == nullptr) throw invalid_argument(std::string(fn) + ": " + param + " must not be null");
}

void check_channels(const char* fn, int channels, int max_channels) {
  if (channels < 1 || channels > max_channels) {
    throw invalid_argument(std::string(fn) + ": channels must be in 1.." + std::to_string(max_channels) + ", got " +
                           std::to_string(channels));
  }
}

// PIL's fixed-point resampling (Resample.c): coefficients carry 22 fractional bits
// (32 bits minus 8 for the pixel minus 2 of headroom), sums start at half a unit so the
// final shift rounds to nearest.
constexpr int kPilPrecisionBits = 22;

struct PilAxis {
  int ksize = 0;
  std::vector<int> start;           // first input index per output
  std::vector<int> taps;            // number of inputs per output
  std::vector<std::int32_t> coeff;  // out_size * ksize fixed-point weights
};

double pil_triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1) over
// the whole input (box 0..in_size).
PilAxis pil_axis(int in_size, int out_size) {
  PilAxis ax;
  const double scale = static_cast<double>(in_size) / out_size;
  // Shrinking widens the filter by the scale (antialias); enlarging keeps support 1.
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  ax.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  ax.start.resize(out_size);
  ax.taps.resize(out_size);
  ax.coeff.assign(static_cast<std::size_t>(out_size) * ax.ksize, 0);
  std::vector<double> k(ax.ksize);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    // C casts truncate toward zero; a negative start is then clamped to 0, as in PIL.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = pil_triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    std::int32_t* out = &ax.coeff[static_cast<std::size_t>(xx) * ax.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      const double scaled = w * (1 << kPilPrecisionBits);
      out[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    ax.start[xx] = xmin;
    ax.taps[xx] = xmax;
  }
  return ax;
}

inline std::uint8_t pil_clip8(std::int32_t acc) {
  const std::int32_t v = acc >> kPilPrecisionBits;  // arithmetic shift = floor
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

ResizeInfo longest_side(int w, int h, int target) {
  check_side("longest_side", "w", w);
  check_side("longest_side", "h", h);
  check_side("longest_side", "target", target);
  ResizeInfo info;
  info.orig_w = w;
  info.orig_h = h;
  const double scale = static_cast<double>(target) / std::max(w, h);
  info.new_w = static_cast<int>(w * scale + 0.5);
  info.new_h = static_cast<int>(h * scale + 0.5);
  // A 1xN sliver rounds its short side to 0 when N > 2*target; SAM would then build an
  // empty tensor. Keep one pixel so every later step has something to work on.
  info.new_w = std::max(info.new_w, 1);
  info.new_h = std::max(info.new_h, 1);
  return info;
}

std::vector<std::uint8_t> pil_resize_bilinear(const std::uint8_t* src, int w, int h, int channels, int out_w, int out_h,
                                              int threads) {
  const char* fn = "pil_resize_bilinear";
  check_pointer(fn, "src", src);
  check_side(fn, "w", w);
  check_side(fn, "h", h);
  check_side(fn, "out_w", out_w);
  check_side(fn, "out_h", out_h);
  check_channels(fn, channels, 4);
  const std::size_t c = static_cast<std::size_t>(channels);

  // PIL skips a pass whose size does not change (the identity pass would copy anyway).
  const bool need_h = out_w != w;
  const bool need_v = out_h != h;
  std::vector<std::uint8_t> tmp;
  const std::uint8_t* mid = src;
  if (need_h) {
    const PilAxis ax = pil_axis(w, out_w);
    tmp.resize(static_cast<std::size_t>(h) * out_w * c);
    parallel_for(
        0, static_cast<std::size_t>(h), threads,
        [&](std::size_t b, std::size_t e, std::size_t) {
          for (std::size_t y = b; y < e; ++y) {
            const std::uint8_t* in = src + y * w * c;
            std::uint8_t* out = tmp.data() + y * out_w * c;
            for (int xx = 0; xx < out_w; ++xx) {
              const std::int32_t* k = &ax.coeff[static_cast<std::size_t>(xx) * ax.ksize];
              const std::uint8_t* p = in + static_cast<std::size_t>(ax.start[xx]) * c;
              for (std::size_t ch = 0; ch < c; ++ch) {
                std::int32_t acc = 1 << (kPilPrecisionBits - 1);
                for (int t = 0; t < ax.taps[xx]; ++t) acc += p[t * c + ch] * k[t];
                out[xx * c + ch] = pil_clip8(acc);
              }
            }
          }
        },
        8);
    mid = tmp.data();
  }
  if (!need_v) {
    if (need_h) return tmp;
    return std::vector<std::uint8_t>(src, src + static_cast<std::size_t>(h) * w * c);
  }
  const PilAxis ay = pil_axis(h, out_h);
  const std::size_t row = static_cast<std::size_t>(out_w) * c;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(out_h) * row);
  parallel_for(
      0, static_cast<std::size_t>(out_h), threads,
      [&](std::size_t b, std::size_t e, std::size_t) {
        std::vector<std::int32_t> acc(row);
        for (std::size_t yy = b; yy < e; ++yy) {
          const std::int32_t* k = &ay.coeff[yy * ay.ksize];
          std::fill(acc.begin(), acc.end(), 1 << (kPilPrecisionBits - 1));
          // Row-at-a-time accumulation: the same integer sums as PIL's per-pixel loop
          // (integer addition is exact), but streams through memory.
          for (int t = 0; t < ay.taps[yy]; ++t) {
            const std::uint8_t* in = mid + static_cast<std::size_t>(ay.start[yy] + t) * row;
            const std::int32_t kt = k[t];
            for (std::size_t i = 0; i < row; ++i) acc[i] += in[i] * kt;
          }
          std::uint8_t* o = out.data() + yy * row;
          for (std::size_t i = 0; i < row; ++i) o[i] = pil_clip8(acc[i]);
        }
      },
      8);
  return out;
}

LinearAxis torch_linear_axis(int in_size, int out_size, int count) {
  if (in_size < 1 || out_size < 1) {
    throw invalid_argument("torch_linear_axis: in_size and out_size must be >= 1, got " + std::to_string(in_size) +
                           " and " + std::to_string(out_size));
  }
  if (count < 0) count = out_size;
  if (count > out_size) {
    throw invalid_argument("torch_linear_axis: count must be <= out_size (" + std::to_string(out_size) + "), got " +
                           std::to_string(count));
  }
  LinearAxis ax;
  ax.in_size = in_size;
  ax.out_size = out_size;
  ax.i0.resize(count);
  ax.i1.resize(count);
  ax.w0.resize(count);
  ax.w1.resize(count);
  // PyTorch computes the ratio and source index in float (opmath of float32) when only
  // the output size is given: ratio = float(in)/out, src = ratio*(d+0.5)-0.5, clamped
  // at 0; index = min(floor(src), in-1); lambda = clamp(src-index, 0, 1).
  const float ratio = static_cast<float>(in_size) / static_cast<float>(out_size);
  for (int d = 0; d < count; ++d) {
    if (in_size == out_size) {  // the kernel's explicit copy branch
      ax.i0[d] = ax.i1[d] = d;
      ax.w0[d] = 1.0f;
      ax.w1[d] = 0.0f;
      continue;
    }
    float src = ratio * (static_cast<float>(d) + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    const int i0 = std::min(static_cast<int>(std::floor(src)), in_size - 1);
    const float lambda1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    ax.i0[d] = i0;
    ax.i1[d] = i0 < in_size - 1 ? i0 + 1 : i0;
    ax.w1[d] = lambda1;
    ax.w0[d] = 1.0f - lambda1;
  }
  return ax;
}

TorchRowResampler::TorchRowResampler(const float* src, std::size_t src_stride, const LinearAxis* rows,
                                     const LinearAxis* cols)
    : src_(src),
      stride_(src_stride),
      rows_(rows),
      cols_(cols),
      combined_(torch_uses_combined_weights(rows->out_size, cols->out_size)) {
  if (src == nullptr) throw invalid_argument("TorchRowResampler: src must not be null");
  if (!combined_) {
    slot_[0].resize(cols->i0.size());
    slot_[1].resize(cols->i0.size());
  }
}

TorchRowResampler::TorchRowResampler(TorchRowResampler* upstream, const LinearAxis* rows, const LinearAxis* cols)
    : up_(upstream), rows_(rows), cols_(cols), combined_(torch_uses_combined_weights(rows->out_size, cols->out_size)) {
  if (upstream == nullptr) throw invalid_argument("TorchRowResampler: upstream must not be null");
  if (upstream->width() != cols->in_size) {
    throw invalid_argument("TorchRowResampler: upstream rows have " + std::to_string(upstream->width()) +
                           " values but this stage reads " + std::to_string(cols->in_size));
  }
  in_[0].resize(cols->in_size);
  in_[1].resize(cols->in_size);
  if (!combined_) {
    slot_[0].resize(cols->i0.size());
    slot_[1].resize(cols->i0.size());
  }
}

const float* TorchRowResampler::input_row(int r, int scratch) {
  if (up_ == nullptr) return src_ + static_cast<std::size_t>(r) * stride_;
  up_->row(r, in_[scratch].data());
  return in_[scratch].data();
}

void TorchRowResampler::width_pass(const float* in, float* dst) const {
  const int* i0 = cols_->i0.data();
  const int* i1 = cols_->i1.data();
  const float* w0 = cols_->w0.data();
  const float* w1 = cols_->w1.data();
  const std::size_t n = cols_->i0.size();
  for (std::size_t x = 0; x < n; ++x) dst[x] = in[i0[x]] * w0[x] + in[i1[x]] * w1[x];
}

const float* TorchRowResampler::fetch(int r, int keep) {
  if (tag_[0] == r) return slot_[0].data();
  if (tag_[1] == r) return slot_[1].data();
  const int s = tag_[0] != keep ? 0 : 1;
  width_pass(input_row(r, 0), slot_[s].data());
  tag_[s] = r;
  return slot_[s].data();
}

void TorchRowResampler::row(int y, float* out) {
  const int a = rows_->i0[y], b = rows_->i1[y];
  const float h0 = rows_->w0[y], h1 = rows_->w1[y];
  const std::size_t n = cols_->i0.size();
  if (combined_) {
    const float* ra = input_row(a, 0);
    const float* rb = input_row(b, 1);
    for (std::size_t x = 0; x < n; ++x) {
      const int c0 = cols_->i0[x], c1 = cols_->i1[x];
      const float w0 = cols_->w0[x], w1 = cols_->w1[x];
      const float w00 = h0 * w0, w01 = h0 * w1, w10 = h1 * w0, w11 = h1 * w1;
      out[x] = ra[c0] * w00 + ra[c1] * w01 + rb[c0] * w10 + rb[c1] * w11;
    }
    return;
  }
  const float* ra = fetch(a, b);
  const float* rb = fetch(b, a);
  for (std::size_t x = 0; x < n; ++x) out[x] = ra[x] * h0 + rb[x] * h1;
}

std::vector<float> torch_resize_bilinear(const float* src, int channels, int in_h, int in_w, int out_h, int out_w,
                                         int threads) {
  const char* fn = "torch_resize_bilinear";
  check_pointer(fn, "src", src);
  if (channels < 1) {
    throw invalid_argument(std::string(fn) + ": channels must be >= 1, got " + std::to_string(channels));
  }
  check_side(fn, "in_h", in_h);
  check_side(fn, "in_w", in_w);
  check_side(fn, "out_h", out_h);
  check_side(fn, "out_w", out_w);
  const LinearAxis ay = torch_linear_axis(in_h, out_h);
  const LinearAxis ax = torch_linear_axis(in_w, out_w);
  const std::size_t in_plane = static_cast<std::size_t>(in_h) * in_w;
  const std::size_t out_plane = static_cast<std::size_t>(out_h) * out_w;
  std::vector<float> out(out_plane * channels);
  // Work items are (channel, output row) pairs so a single large plane still splits.
  const std::size_t items = static_cast<std::size_t>(channels) * out_h;
  parallel_for(
      0, items, threads,
      [&](std::size_t b, std::size_t e, std::size_t) {
        std::size_t i = b;
        while (i < e) {
          const std::size_t ch = i / out_h;
          TorchRowResampler rs(src + ch * in_plane, static_cast<std::size_t>(in_w), &ay, &ax);
          for (; i < e && i / out_h == ch; ++i) {
            const int y = static_cast<int>(i % out_h);
            rs.row(y, out.data() + ch * out_plane + static_cast<std::size_t>(y) * out_w);
          }
        }
      },
      16);
  return out;
}

std::vector<std::uint8_t> to_rgb(const std::uint8_t* pixels, int w, int h, int channels) {
  const char* fn = "to_rgb";
  check_pointer(fn, "pixels", pixels);
  check_side(fn, "w", w);
  check_side(fn, "h", h);
  check_channels(fn, channels, 4);
  const std::size_t n = static_cast<std::size_t>(w) * h;
  std::vector<std::uint8_t> out(n * 3);
  const std::size_t c = static_cast<std::size_t>(channels);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = pixels + i * c;
    if (channels <= 2) {
      out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = p[0];
    } else {
      out[i * 3] = p[0];
      out[i * 3 + 1] = p[1];
      out[i * 3 + 2] = p[2];
    }
  }
  return out;
}

EncoderImage resize_for_encoder(const std::uint8_t* pixels, int w, int h, int channels, int threads) {
  const char* fn = "resize_for_encoder";
  check_pointer(fn, "pixels", pixels);
  check_side(fn, "w", w);
  check_side(fn, "h", h);
  check_channels(fn, channels, 4);
  EncoderImage img;
  img.info = longest_side(w, h);
  if (channels == 3) {
    img.rgb = pil_resize_bilinear(pixels, w, h, 3, img.info.new_w, img.info.new_h, threads);
  } else {
    const std::vector<std::uint8_t> rgb = to_rgb(pixels, w, h, channels);
    img.rgb = pil_resize_bilinear(rgb.data(), w, h, 3, img.info.new_w, img.info.new_h, threads);
  }
  return img;
}

namespace {
void check_encoder_image(const char* fn, const EncoderImage& image) {
  const ResizeInfo& in = image.info;
  if (in.new_w < 1 || in.new_h < 1 || in.new_w > kSamFrame || in.new_h > kSamFrame) {
    throw invalid_argument(std::string(fn) + ": image.info.new_w/new_h must be in 1..1024, got " +
                           std::to_string(in.new_w) + "x" + std::to_string(in.new_h));
  }
  const std::size_t want = static_cast<std::size_t>(in.new_w) * in.new_h * 3;
  if (image.rgb.size() != want) {
    throw invalid_argument(std::string(fn) + ": image.rgb must hold new_w*new_h*3 = " + std::to_string(want) +
                           " bytes, got " + std::to_string(image.rgb.size()));
  }
}
}  // namespace

std::vector<float> encoder_input_hwc(const EncoderImage& image) {
  check_encoder_image("encoder_input_hwc", image);
  return std::vector<float>(image.rgb.begin(), image.rgb.end());
}

std::vector<float> encoder_input_nchw(const EncoderImage& image, Normalization norm) {
  check_encoder_image("encoder_input_nchw", image);
  const int nw = image.info.new_w, nh = image.info.new_h;
  const std::size_t plane = static_cast<std::size_t>(kSamFrame) * kSamFrame;
  std::vector<float> out(3 * plane, 0.0f);  // zeros are the bottom/right padding
  const std::uint8_t* rgb = image.rgb.data();
  if (norm == Normalization::kSam) {
    // float32 like SAM's registered pixel_mean/pixel_std buffers.
    const float mean[3] = {123.675f, 116.28f, 103.53f};
    const float stdv[3] = {58.395f, 57.12f, 57.375f};
    for (int y = 0; y < nh; ++y)
      for (int x = 0; x < nw; ++x)
        for (int c = 0; c < 3; ++c) {
          const float v = rgb[(static_cast<std::size_t>(y) * nw + x) * 3 + c];
          out[c * plane + static_cast<std::size_t>(y) * kSamFrame + x] = (v - mean[c]) / stdv[c];
        }
  } else {
    const auto mm = std::minmax_element(image.rgb.begin(), image.rgb.end());
    const double lo = *mm.first;
    const double range = std::max(static_cast<double>(*mm.second) - lo, 1e-8);
    for (int y = 0; y < nh; ++y)
      for (int x = 0; x < nw; ++x)
        for (int c = 0; c < 3; ++c) {
          const double v = rgb[(static_cast<std::size_t>(y) * nw + x) * 3 + c];
          out[c * plane + static_cast<std::size_t>(y) * kSamFrame + x] = static_cast<float>((v - lo) / range);
        }
  }
  return out;
}

namespace {
void check_point(const char* fn, double x, double y, const ResizeInfo& info) {
  if (!std::isfinite(x) || !std::isfinite(y)) {
    throw invalid_argument(std::string(fn) + ": point coordinates must be finite, got (" + std::to_string(x) + ", " +
                           std::to_string(y) + ")");
  }
  if (info.orig_w < 1 || info.orig_h < 1 || info.new_w < 1 || info.new_h < 1) {
    throw invalid_argument(std::string(fn) + ": info sizes must be >= 1, got orig " + std::to_string(info.orig_w) +
                           "x" + std::to_string(info.orig_h) + ", new " + std::to_string(info.new_w) + "x" +
                           std::to_string(info.new_h));
  }
}
}  // namespace

PointF to_model_frame(double x, double y, const ResizeInfo& info) {
  check_point("to_model_frame", x, y, info);
  PointF p;
  p.x = static_cast<float>(x * (static_cast<double>(info.new_w) / info.orig_w));
  p.y = static_cast<float>(y * (static_cast<double>(info.new_h) / info.orig_h));
  return p;
}

PointF from_model_frame(double x, double y, const ResizeInfo& info) {
  check_point("from_model_frame", x, y, info);
  PointF p;
  p.x = static_cast<float>(x * (static_cast<double>(info.orig_w) / info.new_w));
  p.y = static_cast<float>(y * (static_cast<double>(info.orig_h) / info.new_h));
  return p;
}

}  // namespace p2sam::core
