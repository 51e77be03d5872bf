#include "encoder_input.hpp"

#include "errors.hpp"

namespace p2sam::runtime {

PreparedInput prepare_encoder_input(const std::uint8_t* pixels, int width, int height, int channels, ModelKind form,
                                    Normalization norm, int threads) {
  if (form == ModelKind::SamEncoderImage && norm == Normalization::MedSam)
    throw core::CoreError(
        "MODEL_UNSUPPORTED",
        "normalization 'medsam' needs an encoder that takes a preprocessed f32[1,3,1024,1024] input; "
        "this encoder takes input_image and normalises with SAM's ImageNet statistics inside its graph");
  core::EncoderImage img = core::resize_for_encoder(pixels, width, height, channels, threads);
  PreparedInput out;
  out.input_w = img.info.new_w;
  out.input_h = img.info.new_h;
  if (form == ModelKind::SamEncoderImage) {
    out.tensor = core::encoder_input_hwc(img);
  } else {
    out.tensor = core::encoder_input_nchw(
        img, norm == Normalization::MedSam ? core::Normalization::kMinMax : core::Normalization::kSam);
  }
  return out;
}

}  // namespace p2sam::runtime
