// Geometry: longest-side sizes, PIL and PyTorch bilinear resizes, encoder inputs,
// point mapping. Expected values are worked out by hand in the comments, or come from
// an independent double-precision implementation written here from the documented
// algorithm (not from the code under test).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "errors.hpp"
#include "geometry.hpp"
#include "harness.hpp"
#include "test_util.hpp"

using namespace p2sam::core;
using p2sam::testing::Rng;
using p2sam::testing::throws_mentioning;

namespace {

// Independent reference for PIL's bilinear resize in double precision: triangle filter
// of half-width max(in/out, 1) (in input pixels), window centred at (i+0.5)*in/out,
// weights normalised per output pixel; horizontal pass, round to uint8, vertical pass.
std::vector<double> pil_weights_1d(int in, int out, int o, int& first) {
  const double scale = static_cast<double>(in) / out;
  const double support = std::max(scale, 1.0);
  const double centre = (o + 0.5) * scale;
  int lo = static_cast<int>(std::floor(centre - support));
  int hi = static_cast<int>(std::ceil(centre + support));
  lo = std::max(lo, 0);
  hi = std::min(hi, in);
  std::vector<double> w;
  double total = 0;
  for (int i = lo; i < hi; ++i) {
    const double d = std::fabs((i + 0.5 - centre) / support);
    const double v = d < 1 ? 1 - d : 0;
    w.push_back(v);
    total += v;
  }
  for (double& v : w) v /= total;
  first = lo;
  return w;
}

std::vector<std::uint8_t> reference_pil(const std::vector<std::uint8_t>& src, int w, int h, int c, int ow, int oh) {
  auto round8 = [](double v) {
    const double r = std::floor(v + 0.5);
    return static_cast<std::uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
  };
  std::vector<std::uint8_t> mid(static_cast<std::size_t>(h) * ow * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < ow; ++x) {
      int first;
      const auto wt = pil_weights_1d(w, ow, x, first);
      for (int ch = 0; ch < c; ++ch) {
        double acc = 0;
        for (std::size_t t = 0; t < wt.size(); ++t)
          acc += wt[t] * src[(static_cast<std::size_t>(y) * w + first + t) * c + ch];
        mid[(static_cast<std::size_t>(y) * ow + x) * c + ch] =
            ow == w ? src[(static_cast<std::size_t>(y) * w + x) * c + ch] : round8(acc);
      }
    }
  std::vector<std::uint8_t> out(static_cast<std::size_t>(oh) * ow * c);
  for (int y = 0; y < oh; ++y) {
    int first;
    const auto wt = pil_weights_1d(h, oh, y, first);
    for (int x = 0; x < ow; ++x)
      for (int ch = 0; ch < c; ++ch) {
        double acc = 0;
        for (std::size_t t = 0; t < wt.size(); ++t) acc += wt[t] * mid[((first + t) * ow + x) * c + ch];
        out[(static_cast<std::size_t>(y) * ow + x) * c + ch] =
            oh == h ? mid[(static_cast<std::size_t>(y) * ow + x) * c + ch] : round8(acc);
      }
  }
  return out;
}

// Independent reference for one axis of torch bilinear (align_corners=false) in double.
double torch_ref_1d(const std::vector<double>& in, int out, int d) {
  const int n = static_cast<int>(in.size());
  double src = (d + 0.5) * n / out - 0.5;
  if (src < 0) src = 0;
  int i0 = std::min(static_cast<int>(std::floor(src)), n - 1);
  int i1 = std::min(i0 + 1, n - 1);
  double l = src - i0;
  return in[i0] * (1 - l) + in[i1] * l;
}

}  // namespace

TEST_CASE(longest_side_matches_sam_rounding) {
  ResizeInfo a = longest_side(1280, 960);
  CHECK(a.new_w == 1024 && a.new_h == 768);
  CHECK(a.orig_w == 1280 && a.orig_h == 960);
  // 1024/500 = 2.048; 333*2.048 = 681.984 -> int(682.484) = 682.
  ResizeInfo b = longest_side(500, 333);
  CHECK(b.new_w == 1024 && b.new_h == 682);
  // Portrait: 960*0.8 = 768.
  ResizeInfo c = longest_side(960, 1280);
  CHECK(c.new_w == 768 && c.new_h == 1024);
  // 427*1.6 = 683.2 -> 683.
  ResizeInfo d = longest_side(640, 427);
  CHECK(d.new_w == 1024 && d.new_h == 683);
  // Exact half rounds up: 1023*0.5 + 0.5 = 512.
  ResizeInfo e = longest_side(2048, 1023);
  CHECK(e.new_w == 1024 && e.new_h == 512);
  // Upscaling a tiny image: 3x1 -> 1024 x int(341.33+0.5)=341.
  ResizeInfo f = longest_side(3, 1);
  CHECK(f.new_w == 1024 && f.new_h == 341);
  ResizeInfo g = longest_side(1, 1);
  CHECK(g.new_w == 1024 && g.new_h == 1024);
  // Other targets (e.g. a 256 frame).
  ResizeInfo h = longest_side(1280, 960, 256);
  CHECK(h.new_w == 256 && h.new_h == 192);
}

TEST_CASE(longest_side_rejects_bad_sizes) {
  CHECK(throws_mentioning([] { longest_side(0, 10); }, "w must be"));
  CHECK(throws_mentioning([] { longest_side(10, -3); }, "got -3"));
  CHECK(throws_mentioning([] { longest_side(10, 10, 0); }, "target"));
}

TEST_CASE(pil_resize_hand_computed_downscale) {
  // 4 -> 2: scale 2, support 2. Output 0: centre 1, taps 0..2 with triangle weights
  // 0.75, 0.75, 0.25 (normalised /1.75 = 3/7, 3/7, 1/7): (0*3+100*3+200)/7 = 71.43 -> 71.
  // Output 1: centre 3, taps 1..3 weights 1/7, 3/7, 3/7: (100+600+765)/7 = 209.29 -> 209.
  const std::uint8_t row[4] = {0, 100, 200, 255};
  auto out = pil_resize_bilinear(row, 4, 1, 1, 2, 1, 1);
  CHECK(out.size() == 2);
  CHECK(out[0] == 71);
  CHECK(out[1] == 209);
  // The same along the vertical axis (column image).
  auto col = pil_resize_bilinear(row, 1, 4, 1, 1, 2, 1);
  CHECK(col[0] == 71 && col[1] == 209);
}

TEST_CASE(pil_resize_hand_computed_upscale) {
  // 2 -> 4, support 1: centres 0.25, 0.75, 1.25, 1.75 -> [0, 25, 75, 100]
  // (edge outputs see a single tap after clipping the window).
  const std::uint8_t row[2] = {0, 100};
  auto out = pil_resize_bilinear(row, 2, 1, 1, 4, 1, 1);
  CHECK(out.size() == 4);
  CHECK(out[0] == 0 && out[1] == 25 && out[2] == 75 && out[3] == 100);
}

TEST_CASE(pil_resize_identity_and_constant_are_exact) {
  Rng rng(7);
  for (int c = 1; c <= 4; ++c) {
    const int w = 37, h = 23;
    std::vector<std::uint8_t> img(static_cast<std::size_t>(w) * h * c);
    for (auto& v : img) v = rng.byte();
    CHECK(pil_resize_bilinear(img.data(), w, h, c, w, h, 2) == img);
  }
  for (int value : {0, 1, 128, 254, 255}) {
    std::vector<std::uint8_t> flat(10 * 7 * 3, static_cast<std::uint8_t>(value));
    for (auto size : {std::pair<int, int>{1024, 717}, {33, 5}, {3, 2}, {1, 1}}) {
      auto out = pil_resize_bilinear(flat.data(), 10, 7, 3, size.first, size.second, 2);
      bool all = out.size() == static_cast<std::size_t>(size.first) * size.second * 3;
      for (auto v : out) all = all && v == value;
      CHECK(all);
    }
  }
}

TEST_CASE(pil_resize_matches_independent_double_reference) {
  Rng rng(11);
  const int cases[][4] = {{50, 40, 1024, 819}, {300, 200, 64, 43}, {17, 31, 5, 9}, {9, 9, 27, 4},
                          {128, 3, 7, 11},     {5, 5, 5, 12},      {64, 64, 1, 1}, {1, 1, 3, 3}};
  for (const auto& cs : cases) {
    for (int c = 1; c <= 4; ++c) {
      const int w = cs[0], h = cs[1], ow = cs[2], oh = cs[3];
      std::vector<std::uint8_t> img(static_cast<std::size_t>(w) * h * c);
      // Smooth gradients plus noise: exercises both flat areas and edges.
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int ch = 0; ch < c; ++ch)
            img[(static_cast<std::size_t>(y) * w + x) * c + ch] =
                static_cast<std::uint8_t>(((x * 7 + y * 3 + ch * 50) % 256 + rng.byte() % 32) % 256);
      auto got = pil_resize_bilinear(img.data(), w, h, c, ow, oh, 2);
      auto want = reference_pil(img, w, h, c, ow, oh);
      CHECK(got.size() == want.size());
      int worst = 0;
      for (std::size_t i = 0; i < got.size() && i < want.size(); ++i)
        worst = std::max(worst, std::abs(static_cast<int>(got[i]) - static_cast<int>(want[i])));
      CHECK(worst <= 1);
    }
  }
}

TEST_CASE(pil_resize_is_thread_count_independent) {
  Rng rng(3);
  std::vector<std::uint8_t> img(301 * 203 * 3);
  for (auto& v : img) v = rng.byte();
  auto one = pil_resize_bilinear(img.data(), 301, 203, 3, 1024, 691, 1);
  auto two = pil_resize_bilinear(img.data(), 301, 203, 3, 1024, 691, 2);
  auto four = pil_resize_bilinear(img.data(), 301, 203, 3, 1024, 691, 4);
  CHECK(one == two);
  CHECK(one == four);
}

TEST_CASE(pil_resize_rejects_bad_arguments) {
  std::uint8_t px[12] = {};
  CHECK(throws_mentioning([&] { pil_resize_bilinear(nullptr, 2, 2, 3, 4, 4); }, "src"));
  CHECK(throws_mentioning([&] { pil_resize_bilinear(px, 0, 2, 3, 4, 4); }, "w must be"));
  CHECK(throws_mentioning([&] { pil_resize_bilinear(px, 2, 2, 5, 4, 4); }, "channels"));
  CHECK(throws_mentioning([&] { pil_resize_bilinear(px, 2, 2, 3, 4, 0); }, "out_h"));
  CHECK(throws_mentioning([&] { pil_resize_bilinear(px, 2, 2, 3, 1 << 20, 4); }, "out_w"));
}

TEST_CASE(torch_resize_upsample_2_to_4) {
  // [a, b] -> [a, .75a+.25b, .25a+.75b, b]: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25
  // (index 1 is the last pixel, so its neighbour is itself).
  const float a = 3.0f, b = -5.0f;
  const float in[2] = {a, b};
  auto out = torch_resize_bilinear(in, 1, 1, 2, 1, 4, 1);
  CHECK(out.size() == 4);
  CHECK_NEAR(out[0], a, 0);
  CHECK_NEAR(out[1], 0.75 * a + 0.25 * b, 1e-6);
  CHECK_NEAR(out[2], 0.25 * a + 0.75 * b, 1e-6);
  CHECK_NEAR(out[3], b, 0);
  // Same along rows; a large width keeps this on the generic (separable) kernel.
  const int W = 200;
  std::vector<float> col(2 * W);
  for (int x = 0; x < W; ++x) {
    col[x] = a;
    col[W + x] = b;
  }
  auto out2 = torch_resize_bilinear(col.data(), 1, 2, W, 4, W, 1);
  CHECK_NEAR(out2[0 * W + 17], a, 0);
  CHECK_NEAR(out2[1 * W + 17], 0.75 * a + 0.25 * b, 1e-6);
  CHECK_NEAR(out2[2 * W + 17], 0.25 * a + 0.75 * b, 1e-6);
  CHECK_NEAR(out2[3 * W + 17], b, 0);
}

TEST_CASE(torch_resize_downsample_averages_pixel_pairs) {
  // 4 -> 2: sources 0.5 and 2.5 -> (x0+x1)/2 and (x2+x3)/2 (no antialias).
  const float in[4] = {1, 3, 10, 20};
  auto out = torch_resize_bilinear(in, 1, 1, 4, 1, 2, 1);
  CHECK_NEAR(out[0], 2.0, 1e-6);
  CHECK_NEAR(out[1], 15.0, 1e-6);
  // 1024 -> 64: source 16i+7.5, i.e. the mean of pixels 16i+7 and 16i+8 on each axis.
  std::vector<float> big(1024 * 1024);
  for (int y = 0; y < 1024; ++y)
    for (int x = 0; x < 1024; ++x)
      big[static_cast<std::size_t>(y) * 1024 + x] = static_cast<float>((x * 31 + y * 17) % 97);
  auto small = torch_resize_bilinear(big.data(), 1, 1024, 1024, 64, 64, 2);
  bool ok = small.size() == 4096;
  double worst = 0;
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 64; ++j) {
      auto px = [&](int y, int x) { return static_cast<double>(big[static_cast<std::size_t>(y) * 1024 + x]); };
      const double want = (px(16 * i + 7, 16 * j + 7) + px(16 * i + 7, 16 * j + 8) + px(16 * i + 8, 16 * j + 7) +
                           px(16 * i + 8, 16 * j + 8)) /
                          4;
      worst = std::max(worst, std::fabs(small[i * 64 + j] - want));
    }
  CHECK(ok);
  CHECK(worst <= 1e-4);
}

TEST_CASE(torch_resize_matches_independent_reference_on_both_kernels) {
  Rng rng(5);
  // (in_h, in_w, out_h, out_w): the first two have out_h+out_w <= 128 (combined-weights
  // kernel), the others the generic separable kernel.
  const int cases[][4] = {{7, 5, 13, 3}, {256, 256, 64, 64}, {64, 64, 256, 256}, {33, 70, 100, 41}, {5, 9, 300, 2}};
  for (const auto& cs : cases) {
    const int ih = cs[0], iw = cs[1], oh = cs[2], ow = cs[3];
    const int channels = 2;
    std::vector<float> in(static_cast<std::size_t>(channels) * ih * iw);
    for (auto& v : in) v = rng.uniform() * 2 - 1;
    auto got = torch_resize_bilinear(in.data(), channels, ih, iw, oh, ow, 2);
    double worst = 0;
    for (int c = 0; c < channels; ++c) {
      // Separable reference in double: rows first, then columns.
      std::vector<std::vector<double>> rows(ih, std::vector<double>(ow));
      for (int y = 0; y < ih; ++y) {
        std::vector<double> line(iw);
        for (int x = 0; x < iw; ++x) line[x] = in[(static_cast<std::size_t>(c) * ih + y) * iw + x];
        for (int x = 0; x < ow; ++x) rows[y][x] = torch_ref_1d(line, ow, x);
      }
      for (int x = 0; x < ow; ++x) {
        std::vector<double> colv(ih);
        for (int y = 0; y < ih; ++y) colv[y] = rows[y][x];
        for (int y = 0; y < oh; ++y) {
          const double want = torch_ref_1d(colv, oh, y);
          worst = std::max(worst, std::fabs(got[(static_cast<std::size_t>(c) * oh + y) * ow + x] - want));
        }
      }
    }
    CHECK(worst <= 1e-5);
  }
}

TEST_CASE(torch_linear_axis_crop_keeps_full_size_weights) {
  const LinearAxis full = torch_linear_axis(256, 1024);
  const LinearAxis crop = torch_linear_axis(256, 1024, 768);
  CHECK(crop.i0.size() == 768);
  bool same = true;
  for (int d = 0; d < 768; ++d)
    same = same && crop.i0[d] == full.i0[d] && crop.i1[d] == full.i1[d] && crop.w0[d] == full.w0[d] &&
           crop.w1[d] == full.w1[d];
  CHECK(same);
  // ×4 upsampling, output 5: source 0.25*5.5-0.5 = 0.875 -> pixels 0,1 weighted .125/.875;
  // output 6: source 1.125 -> pixels 1,2 weighted .875/.125.
  CHECK(full.i0[5] == 0 && full.i1[5] == 1);
  CHECK_NEAR(full.w0[5], 0.125, 0);
  CHECK_NEAR(full.w1[5], 0.875, 0);
  CHECK(full.i0[6] == 1 && full.i1[6] == 2);
  CHECK_NEAR(full.w1[6], 0.125, 0);
  CHECK(throws_mentioning([] { torch_linear_axis(4, 8, 9); }, "count"));
}

TEST_CASE(to_rgb_replicates_grey_and_drops_alpha) {
  const std::uint8_t grey[2] = {7, 200};
  auto g = to_rgb(grey, 2, 1, 1);
  CHECK((g == std::vector<std::uint8_t>{7, 7, 7, 200, 200, 200}));
  const std::uint8_t la[4] = {9, 255, 10, 0};
  auto l = to_rgb(la, 1, 2, 2);
  CHECK((l == std::vector<std::uint8_t>{9, 9, 9, 10, 10, 10}));
  const std::uint8_t rgba[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  auto r = to_rgb(rgba, 2, 1, 4);
  CHECK((r == std::vector<std::uint8_t>{1, 2, 3, 5, 6, 7}));
  const std::uint8_t rgb[3] = {4, 5, 6};
  CHECK((to_rgb(rgb, 1, 1, 3) == std::vector<std::uint8_t>{4, 5, 6}));
  CHECK(throws_mentioning([&] { to_rgb(rgb, 1, 1, 0); }, "channels must be in 1..4, got 0"));
}

TEST_CASE(encoder_inputs_layout_normalisation_and_padding) {
  // 4x2 grey image -> 1024x512; grey channels identical after replication.
  std::vector<std::uint8_t> grey(8);
  for (int i = 0; i < 8; ++i) grey[i] = static_cast<std::uint8_t>(30 * i);
  EncoderImage img = resize_for_encoder(grey.data(), 4, 2, 1, 2);
  CHECK(img.info.new_w == 1024 && img.info.new_h == 512);
  CHECK(img.rgb.size() == 1024u * 512u * 3u);
  // Same as resizing the replicated RGB directly.
  auto rgb = to_rgb(grey.data(), 4, 2, 1);
  CHECK(img.rgb == pil_resize_bilinear(rgb.data(), 4, 2, 3, 1024, 512, 1));

  auto hwc = encoder_input_hwc(img);
  CHECK(hwc.size() == img.rgb.size());
  CHECK_NEAR(hwc[0], img.rgb[0], 0);
  CHECK_NEAR(hwc.back(), img.rgb.back(), 0);

  auto sam = encoder_input_nchw(img, Normalization::kSam);
  const std::size_t plane = 1024u * 1024u;
  CHECK(sam.size() == 3 * plane);
  // Pixel (x=0,y=0) is grey 0 -> channel c = -mean[c]/std[c].
  CHECK_NEAR(sam[0], (0.0 - 123.675) / 58.395, 1e-5);
  CHECK_NEAR(sam[plane], (0.0 - 116.28) / 57.12, 1e-5);
  CHECK_NEAR(sam[2 * plane], (0.0 - 103.53) / 57.375, 1e-5);
  const std::uint8_t v = img.rgb[(100u * 1024u + 700u) * 3u];
  CHECK_NEAR(sam[100u * 1024u + 700u], (v - 123.675) / 58.395, 1e-5);
  // Bottom padding rows are exactly zero in every channel.
  bool pad_zero = true;
  for (int c = 0; c < 3; ++c)
    for (std::size_t i = 512u * 1024u; i < plane; ++i) pad_zero = pad_zero && sam[c * plane + i] == 0.0f;
  CHECK(pad_zero);

  auto mm = encoder_input_nchw(img, Normalization::kMinMax);
  float lo = 1e9f, hi = -1e9f;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 512; ++y)
      for (int x = 0; x < 1024; ++x) {
        lo = std::min(lo, mm[c * plane + static_cast<std::size_t>(y) * 1024 + x]);
        hi = std::max(hi, mm[c * plane + static_cast<std::size_t>(y) * 1024 + x]);
      }
  CHECK_NEAR(lo, 0.0, 0);
  CHECK_NEAR(hi, 1.0, 0);
  CHECK(mm[plane - 1] == 0.0f);

  // A constant image min-max normalises to zeros, never NaN.
  std::vector<std::uint8_t> flat(6 * 6 * 3, 77);
  auto cm = encoder_input_nchw(resize_for_encoder(flat.data(), 6, 6, 3, 1), Normalization::kMinMax);
  bool zeros = true;
  for (float f : cm) zeros = zeros && f == 0.0f;
  CHECK(zeros);

  EncoderImage broken = img;
  broken.rgb.pop_back();
  CHECK(throws_mentioning([&] { encoder_input_hwc(broken); }, "image.rgb"));
  CHECK(throws_mentioning([&] { resize_for_encoder(grey.data(), 4, 2, 7); }, "channels"));
}

TEST_CASE(point_mapping_between_original_and_model_frame) {
  const ResizeInfo info = longest_side(1280, 960);
  PointF p = to_model_frame(640, 480, info);
  CHECK_NEAR(p.x, 512.0, 0);
  CHECK_NEAR(p.y, 384.0, 0);
  PointF q = to_model_frame(1279, 959, info);
  CHECK_NEAR(q.x, 1279 * 0.8, 1e-4);
  CHECK_NEAR(q.y, 959 * 0.8, 1e-4);
  PointF r = from_model_frame(q.x, q.y, info);
  CHECK_NEAR(r.x, 1279, 1e-3);
  CHECK_NEAR(r.y, 959, 1e-3);
  // 500x333 -> 1024x682: y scales by 682/333, not by 1024/500.
  const ResizeInfo odd = longest_side(500, 333);
  CHECK_NEAR(to_model_frame(0, 333, odd).y, 682.0, 1e-4);
  CHECK(throws_mentioning([&] { to_model_frame(std::nan(""), 1, info); }, "finite"));
  CHECK(throws_mentioning([&] { to_model_frame(1, 1, ResizeInfo{}); }, "info sizes"));
}
